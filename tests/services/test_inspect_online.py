"""Inspection with online allowed: real library (SQLite file, safetensors files), real HashService,
the real CivitaiClient against the fake CivitAI on 127.0.0.1 (tests/civitai_server.py)."""
from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.db import civitai_store
from lora_manager_gui.services.inspector import inspect_bytes
from tests.services.test_identify import client_for
from tests.services.test_inspect import Library, validate


@pytest.fixture
def library(tmp_path: Path):
    lib = Library(tmp_path)
    yield lib
    lib.close()


def add_model(library: Library, rel: str, seed: int) -> tuple[Path, str]:
    path = library.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, {"lora_up.weight": seed.to_bytes(4, "little") * 16})
    library.add_file(rel, path.read_bytes())
    return path, hashlib.sha256(path.read_bytes()).hexdigest().upper()


STACK = json.dumps([
    {"path": "styles/known_style.safetensors", "strength": 0.8},
    {"path": "styles/unknown_style.safetensors", "strength": 0.5},
    {"path": "styles/not_in_library.safetensors", "strength": 1.0},
]).encode()


def inspect(library: Library, server, *, online: bool, **client_kw):
    async def go():
        client = client_for(server, **client_kw) if online else None
        try:
            return await inspect_bytes(library.db, library.hasher, STACK, "stack.json", online=online,
                                       civitai=client)
        finally:
            if client is not None:
                await client.close()

    return asyncio.run(go())


def test_online_fetches_stores_and_fills_the_civitai_block(library: Library, fake_civitai) -> None:
    _, known_sha = add_model(library, "styles/known_style.safetensors", 1)
    _, unknown_sha = add_model(library, "styles/unknown_style.safetensors", 2)
    fake_civitai.catalogue.add_synthetic(known_sha, version_id=7101, model_id=7100, name="Known Style")

    inspection = inspect(library, fake_civitai, online=True)
    document = inspection.document
    validate(document)
    known, unknown, absent = document["loras"]
    assert known["civitai"]["civitai_name"] == "Known Style"
    assert known["civitai"]["creator"] == "creator7100"
    assert known["civitai"]["fetched_at"].endswith("Z")
    assert known["display_name"] == "Known Style"
    assert unknown["civitai"] is None and absent["civitai"] is None
    assert document["summary"]["civitai_matches"] == 1
    # Only the two library files were asked about (the absent one has no hash), once each.
    asked = [body for r in fake_civitai.requests_to("by-hash") if r.method == "POST" for body in r.body]
    assert sorted(asked) == sorted([known_sha, unknown_sha])
    # identify() stored both answers with their time: the miss is remembered, the hit readable offline.
    states = library.db.call_sync(civitai_store.states_for, [known_sha, unknown_sha])
    assert states[known_sha].status == "found" and states[unknown_sha].status == "not_found"

    before = len(fake_civitai.requests)
    again = inspect(library, fake_civitai, online=True)
    assert len(fake_civitai.requests) == before  # everything already answered: nothing asked again
    assert again.document["loras"][0]["civitai"]["civitai_name"] == "Known Style"
    offline = inspect(library, fake_civitai, online=False)
    assert offline.document["loras"][0]["civitai"]["civitai_name"] == "Known Style"


def test_offline_never_asks(library: Library, fake_civitai) -> None:
    _, sha = add_model(library, "styles/known_style.safetensors", 1)
    fake_civitai.catalogue.add_synthetic(sha, version_id=7101, model_id=7100, name="Known Style")
    inspection = inspect(library, fake_civitai, online=False)
    assert inspection.document["loras"][0]["civitai"] is None
    assert inspection.document["loras"][0]["hash"] == sha
    assert fake_civitai.requests == []


def test_server_error_leaves_civitai_null_with_a_warning(library: Library, fake_civitai) -> None:
    _, sha = add_model(library, "styles/known_style.safetensors", 1)
    fake_civitai.catalogue.add_synthetic(sha, version_id=7101, model_id=7100, name="Known Style")
    fake_civitai.add_fault("by-hash", "500", times=None)
    inspection = inspect(library, fake_civitai, online=True)
    validate(inspection.document)
    assert inspection.document["loras"][0]["civitai"] is None
    assert any("known_style.safetensors failed" in w for w in inspection.warnings), inspection.warnings
    state = library.db.call_sync(civitai_store.lookup_state, sha)
    assert state is not None and state.status == "failed"
