"""Inspector and exporter on a real library: SQLite file, model files on disk, the real HashService."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from lora_manager_gui.core.hashing import autov3_file
from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.core.stacks import StackReadError
from lora_manager_gui.db import adapters, hash_cache, library_files
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.exporter import export_adapters, write_document
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.inspector import inspect_bytes, inspect_file

FIXTURES = Path(__file__).parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "lora_json.schema.json").read_text())
TINY = FIXTURES / "formats" / "tiny_test_lora.safetensors"
TINY_SHA = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(document)))


class Library:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "loras"
        self.db = DatabaseExecutor(tmp_path / "library.sqlite3")
        self.hasher = HashService(self.db, workers=2)

    def add_file(self, rel: str, content: bytes | Path, adapter_id: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_bytes(content)
        st = path.stat()
        record = LibraryFile(path=str(path), root=str(self.root), rel_path=rel, size_bytes=st.st_size,
                             mtime_ns=st.st_mtime_ns, adapter_id=adapter_id)
        self.db.call_sync(library_files.upsert_files, [record], link=True)
        return path

    def add_adapter(self, **fields) -> AdapterRecord:
        return self.db.call_sync(adapters.insert_adapter, AdapterRecord(**fields))

    def close(self) -> None:
        self.hasher.close()
        self.db.close()


@pytest.fixture
def library(tmp_path: Path):
    lib = Library(tmp_path)
    yield lib
    lib.close()


def workflow(*nodes) -> bytes:
    return json.dumps({"nodes": [
        {"id": i + 1, "type": t, "mode": 0, "widgets_values": w} for i, (t, w) in enumerate(nodes)
    ], "links": []}).encode()


def test_entries_resolve_by_path_name_and_stay_missing(library: Library, tmp_path: Path) -> None:
    a = library.add_file("WanVideo/Lightx2v/light_x2v.safetensors", b"A" * 1536)
    b = library.add_file("styles/b_style.safetensors", b"B" * 2048)
    data = workflow(
        ("LoraLoader", ["WanVideo\\Lightx2v\\light_x2v.safetensors", 0.8, 1.0]),
        ("Lora Loader (LoraManager)", ["", [{"name": "b_style", "strength": 0.5, "active": True}]]),
        ("LoraLoaderModelOnly", ["gone/never_here.safetensors", 0.3]),
    )
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "drop.json"))
    document = inspection.document
    validate(document)
    first, second, third = document["loras"]
    assert (first["match"], first["file"]["path"], first["file"]["exists"]) == ("path", str(a), True)
    assert first["hash"] == hashlib.sha256(b"A" * 1536).hexdigest().upper()
    assert first["file"]["size_human"] == "1.50 KB"
    assert first["file"]["modified_at"].endswith("Z")
    assert (second["match"], second["file"]["path"], second["strength"]) == ("name", str(b), 0.5)
    assert third["file"] == {"exists": False, "path": "gone/never_here.safetensors", "size_bytes": None,
                             "size_human": None, "modified_at": None}
    assert "hash" not in third
    assert document["summary"]["count"] == 3
    assert document["summary"]["missing_files"] == 1
    assert document["summary"]["total_size_bytes"] == 1536 + 2048
    assert document["summary"]["total_size_human"] == "3.50 KB"
    assert "missing file" in inspection.lora_info.splitlines()[3]


def test_paths_from_metadata_never_leave_the_library(library: Library, tmp_path: Path) -> None:
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(b"do not read me")
    data = workflow(("LoraLoader", [f"..\\..\\{secret.name}", 1, 1]), ("LoraLoader", [str(secret), 1, 1]))
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "evil.json"))
    for block in inspection.document["loras"]:
        assert block["file"]["exists"] is False
        assert "hash" not in block
    assert any("leaves the library" in w for w in inspection.warnings)


def test_a1111_autov3_picks_the_right_file_among_same_named_ones(library: Library) -> None:
    impostor = library.add_file("a/tiny_test_lora.safetensors", b"\x08" + b"\0" * 7 + b"{}      ")
    real = library.add_file("b/tiny_test_lora.safetensors", TINY)
    inspection = asyncio.run(inspect_file(library.db, library.hasher, FIXTURES / "formats" / "a1111_output.png"))
    first = inspection.document["loras"][0]
    assert first["match"] == "autov3"
    assert first["file"]["path"] == str(real) != str(impostor)
    assert first["hash"] == TINY_SHA
    assert inspection.document["loras"][1]["file"]["exists"] is False  # add_detail is not in the library


def test_foreign_absolute_wan_path_and_library_civitai_data(library: Library) -> None:
    adapter = library.add_adapter(
        name="Detailz Wan", version="v2", civitai_model_id=42, civitai_version_id=4242, tags=["detail", "wan"],
        author_username="someone", stats={"downloadCount": 7}, last_ingested_at=datetime(2026, 1, 2, tzinfo=timezone.utc))
    path = library.add_file("wan/detailz-wan-v2.safetensors", b"W" * 100, adapter_id=adapter.id)
    library.db.call_sync(lambda: adapters.Adapter.update(file_path=str(path)).where(
        adapters.Adapter.id == adapter.id).execute())
    inspection = asyncio.run(inspect_file(library.db, library.hasher, FIXTURES / "formats" / "wanvideo_stack.json"))
    document = inspection.document
    validate(document)
    detail = document["loras"][1]
    assert detail["match"] == "path" and detail["file"]["path"] == str(path)
    assert detail["display_name"] == "Detailz Wan"
    assert detail["civitai"]["civitai_name"] == "Detailz Wan"
    assert detail["civitai"]["creator"] == "someone"
    assert detail["civitai"]["fetched_at"] == "2026-01-02T00:00:00Z"
    assert document["summary"]["civitai_matches"] == 1 and document["summary"]["tags"] == ["detail", "wan"]
    assert document["loras"][2]["strength"] == [1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]


def test_empty_stack_and_broken_file(library: Library, tmp_path: Path) -> None:
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, b"[]", "empty.json", fallback_name="Plain"))
    validate(inspection.document)
    assert inspection.document["combined_display"] == "Plain" and inspection.document["error"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [')
    with pytest.raises(StackReadError) as info:
        asyncio.run(inspect_file(library.db, library.hasher, broken))
    assert info.value.kind == "malformed"


def test_export_adapters_at_preferred_weight_written_atomically(library: Library, tmp_path: Path) -> None:
    first = library.add_adapter(name="Pixel Art", version="v1", weight=0.7, tags=["style"])
    path = library.add_file("styles/pixel.safetensors", TINY, adapter_id=first.id)
    library.db.call_sync(lambda: adapters.Adapter.update(file_path=str(path)).where(
        adapters.Adapter.id == first.id).execute())
    library.add_adapter(name="Offline One", version="v1", weight=1.2, file_path=str(tmp_path / "offline.safetensors"))
    document = asyncio.run(export_adapters(library.db, library.hasher, search="pixel"))
    validate(document)
    assert [(b["display_name"], b["strength"], b["file"]["exists"]) for b in document["loras"]] == [
        ("Pixel Art", 0.7, True)]
    assert document["loras"][0]["hash"] == TINY_SHA
    everything = asyncio.run(export_adapters(library.db, library.hasher))
    assert [b["display_name"] for b in everything["loras"]] == ["Offline One", "Pixel Art"]
    assert everything["summary"]["missing_files"] == 1
    out = write_document(everything, tmp_path / "out" / "stack.json")
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(everything))
    assert sorted(os.listdir(out.parent)) == ["stack.json"]


# --- hash hints match renamed files: AutoV3 (computed ones only) and AutoV2 ----------------------

def _renamed_model(library: Library, rel: str, seed: int) -> tuple[Path, str, str]:
    """A tiny safetensors file in the library under a new name: (path, SHA-256, AutoV3)."""
    path = library.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, {"lora_up.weight": bytes([seed]) * 48})
    library.add_file(rel, path.read_bytes())
    return path, hashlib.sha256(path.read_bytes()).hexdigest().upper(), autov3_file(path).upper()


def _a1111(alias: str, autov3: str) -> bytes:
    return (f"a castle <lora:{alias}:0.7>\nNegative prompt: blurry\n"
            f'Steps: 20, Sampler: Euler a, Lora hashes: "{alias}: {autov3.lower()}", Version: v1.10.1').encode()


def test_a1111_lora_hash_resolves_a_renamed_file_once_its_autov3_is_cached(library: Library) -> None:
    path, sha, v3 = _renamed_model(library, "styles/castle_style_renamed.safetensors", 3)
    drop = _a1111("castle_style_v1", v3[:12])

    first = asyncio.run(inspect_bytes(library.db, library.hasher, drop, "parameters.txt"))
    assert first.document["loras"][0]["file"]["exists"] is False
    # A drop does not hash the library to find a match: nothing was hashed.
    assert library.db.call_sync(hash_cache.get_any, str(path)) is None

    asyncio.run(library.hasher.hash_paths([str(path)]))  # SHA-256 cached, AutoV3 not computed yet
    assert library.db.call_sync(hash_cache.paths_for_autov3, v3[:12]) == []
    second = asyncio.run(inspect_bytes(library.db, library.hasher, drop, "parameters.txt"))
    assert second.document["loras"][0]["file"]["exists"] is False

    st = path.stat()
    assert library.db.call_sync(hash_cache.set_autov3, str(path), st.st_size, st.st_mtime_ns, v3)
    third = asyncio.run(inspect_bytes(library.db, library.hasher, drop, "parameters.txt"))
    block = third.document["loras"][0]
    validate(third.document)
    assert (block["match"], block["file"]["path"], block["file"]["exists"]) == ("autov3", str(path), True)
    assert block["hash"] == sha and block["strength"] == 0.7


def test_autov3_from_the_hash_service_and_a_stale_cache_entry(library: Library) -> None:
    path, _, v3 = _renamed_model(library, "b/renamed.safetensors", 4)
    asyncio.run(library.hasher.hash_paths([str(path)]))
    assert asyncio.run(library.hasher.autov3(str(path))).upper() == v3  # computed and stored by the service
    assert library.db.call_sync(hash_cache.paths_for_autov3, v3[:12].lower()) == [str(path)]
    drop = _a1111("old_name", v3[:12])
    found = asyncio.run(inspect_bytes(library.db, library.hasher, drop, "p.txt")).document["loras"][0]
    assert found["match"] == "autov3" and found["file"]["path"] == str(path)
    # The file changes after it was hashed (the library's record too): the cached AutoV3 is stale.
    old = path.stat()
    write_safetensors(path, {"lora_up.weight": b"\x05" * 48})
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
    st = path.stat()
    library.db.call_sync(library_files.upsert_files, [LibraryFile(
        path=str(path), root=str(library.root), rel_path="b/renamed.safetensors", size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns)], link=True)
    stale = asyncio.run(inspect_bytes(library.db, library.hasher, drop, "p.txt")).document["loras"][0]
    assert stale["file"]["exists"] is False


def test_autov2_hint_resolves_by_hash_cache_and_by_adapter(library: Library) -> None:
    cached, cached_sha, _ = _renamed_model(library, "x/cached_renamed.safetensors", 6)
    asyncio.run(library.hasher.hash_paths([str(cached)]))
    adapter_file, adapter_sha, _ = _renamed_model(library, "x/adapter_renamed.safetensors", 7)
    adapter = library.add_adapter(name="Adapter Known", version="v1", primary_file_sha256=adapter_sha,
                                  file_path=str(adapter_file))
    stack = json.dumps([
        {"name": "some_old_name", "autov2": cached_sha[:10].lower(), "strength": 0.4},
        {"name": "another_old_name", "autov2": adapter_sha[:10], "strength": 0.6},
        {"name": "nothing_like_it", "autov2": "0123456789", "strength": 1.0},
    ]).encode()
    document = asyncio.run(inspect_bytes(library.db, library.hasher, stack, "stack.json")).document
    validate(document)
    first, second, third = document["loras"]
    assert (first["match"], first["file"]["path"], first["hash"]) == ("autov2", str(cached), cached_sha)
    assert (second["match"], second["file"]["path"], second["hash"]) == ("autov2", str(adapter_file), adapter_sha)
    assert second["display_name"] == "Adapter Known" and adapter.id is not None
    assert third["file"]["exists"] is False
