"""Lookups of db/adapters.py that the stack inspector resolves entries with."""
from __future__ import annotations

from lora_manager_gui.db import adapters
from lora_manager_gui.db.models import Adapter

SHA_A = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"
SHA_B = "4802E5DD00000000000000000000000000000000000000000000000000000000"


def test_sha256_and_its_prefixes_match_in_any_case(library_db) -> None:
    a = Adapter.create(name="Tiny", version="v1", primary_file_sha256=SHA_A, file_path="/lib/tiny.safetensors")
    Adapter.create(name="Other", version="v1", primary_file_sha256=SHA_B)
    assert adapters.find_by_sha256(SHA_A.lower()).id == a.id
    assert [r.name for r in adapters.find_by_sha256_prefix(SHA_A[:10].lower())] == ["Tiny"]  # an AutoV2
    assert sorted(r.name for r in adapters.find_by_sha256_prefix("4802e5dd")) == ["Other", "Tiny"]
    assert adapters.find_by_sha256_prefix("4802e5dd", limit=1)[0].name == "Tiny"


def test_prefixes_that_are_not_hex_match_nothing(library_db) -> None:
    Adapter.create(name="Tiny", version="v1", primary_file_sha256=SHA_A)
    for junk in ("", "   ", "%", "4802_", "48'--", "zz"):
        assert adapters.find_by_sha256_prefix(junk) == []
