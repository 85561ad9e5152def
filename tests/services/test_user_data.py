"""User data: stored apart from imports, written to sidecars the app's own parsers read back,
backed up and restored into a re-imported library; duplicates and their undoable clean-up."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lora_manager_gui.core.sidecars import a1111, lora_manager
from lora_manager_gui.core.sidecars.base import SidecarContext
from lora_manager_gui.db import user_data as store
from lora_manager_gui.db.models import database_proxy
from lora_manager_gui.db.user_data import UserDataEdit
from lora_manager_gui.services import duplicates, file_ops
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.file_ops_trash import TrashMode
from lora_manager_gui.services.importer import run_import
from lora_manager_gui.services.user_data import edit
from lora_manager_gui.services.user_data_backup import backup, restore
from lora_manager_gui.services.user_data_sidecars import SidecarFormats
from tests.conftest import LibraryTree
from tests.services.manage_helpers import add_lora, import_and_hash, read_json, snapshot


@pytest.fixture
def pool():
    p = WorkPool(2)
    yield p
    p.close()


def _id(dbx: DatabaseExecutor, name: str) -> int:
    return dbx.call_sync(lambda: database_proxy.execute_sql("SELECT id FROM adapter WHERE name = ?", (name,)).fetchone()[0])


CHANGE = UserDataEdit(rating=4, favorite=True, notes="great at 0.7", add_tags=("mine",), preferred_weight=0.7,
                      trigger_words=("my word",), exclude=False)


def test_edit_writes_sidecars_that_the_parsers_read_back(dbx, pool, lora_tree: LibraryTree) -> None:
    model = add_lora(lora_tree, "one")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    model_bytes = model.read_bytes()
    report = asyncio.run(edit(dbx, pool, [_id(dbx, "one")], CHANGE))
    assert report.problems == [] and len(report.sidecars_written) == 2
    lm_path, a_path = lora_tree.root / "one.metadata.json", lora_tree.root / "one.json"
    lm, a = read_json(lm_path), read_json(a_path)
    # Lora Manager's shape (FORMATS.md §3.4): usage_tips a JSON string, unknown keys kept
    assert lm["notes"] == "great at 0.7" and lm["favorite"] is True and lm["exclude"] is False
    assert lm["tags"] == ["style", "mine"] and lm["custom_key"] == {"kept": True}
    assert isinstance(lm["usage_tips"], str) and json.loads(lm["usage_tips"]) == {"strength_min": 0.5, "strength": 0.7}
    assert lm["civitai"]["trainedWords"] == ["civitai word"]  # CivitAI's words are not the user's
    # A1111's (§3.1): indent 4, the keys its editor writes
    assert a["preferred weight"] == 0.7 and a["activation text"] == "my word" and a["notes"] == "great at 0.7"
    assert a["unknown a1111 key"] == 3 and a_path.read_text().startswith('{\n    "')
    parsed_lm = lora_manager.parse(str(lm_path), lm, SidecarContext(frozenset(), None))
    parsed_a = a1111.parse(str(a_path), a, SidecarContext(frozenset(), None))
    assert parsed_lm.notes == "great at 0.7" and parsed_lm.weight == 0.7 and "mine" in parsed_lm.tags
    assert parsed_a.weight == 0.7 and parsed_a.activation_text == "my word" and parsed_a.notes == "great at 0.7"
    assert model.read_bytes() == model_bytes  # the model file is never written
    assert not [p for p in lora_tree.root.iterdir() if p.name.endswith(".tmp")]


def test_sidecar_setting_creates_or_leaves_formats(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "one", a1111=False)
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    aid = _id(dbx, "one")
    asyncio.run(edit(dbx, pool, [aid], UserDataEdit(notes="n1")))
    assert not (lora_tree.root / "one.json").exists()  # default: only the formats that exist
    asyncio.run(edit(dbx, pool, [aid], UserDataEdit(notes="n2"), formats=SidecarFormats.of(["a1111"])))
    assert read_json(lora_tree.root / "one.json")["notes"] == "n2"
    assert read_json(lora_tree.root / "one.metadata.json")["notes"] == "n1"  # not chosen: left alone
    (lora_tree.root / "one.json").write_text("{broken")
    report = asyncio.run(edit(dbx, pool, [aid], UserDataEdit(notes="n3"), formats=SidecarFormats.of(["a1111"])))
    assert report.problems[0].kind.value == "invalid_json" and (lora_tree.root / "one.json").read_text() == "{broken"
    bad = asyncio.run(edit(dbx, pool, [aid], UserDataEdit(rating=9)))
    assert bad.problems and dbx.call_sync(store.get, aid).notes == "n3"


def test_user_data_survives_a_forced_reimport_and_a_civitai_refresh(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "one")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    aid = _id(dbx, "one")
    asyncio.run(edit(dbx, pool, [aid], CHANGE))
    dbx.call_sync(store.add_to_collection, "faves", [aid])
    before = dbx.call_sync(store.get, aid)
    asyncio.run(run_import(dbx, [str(lora_tree.root)], force=True, pool=pool))
    from lora_manager_gui.db import civitai_store

    sha = dbx.call_sync(lambda: database_proxy.execute_sql("SELECT sha256 FROM hash_cache").fetchone()[0])
    dbx.call_sync(civitai_store.record_not_found, sha)  # what an identify refresh stores
    assert _id(dbx, "one") == aid
    assert dbx.call_sync(store.get, aid) == before
    assert dbx.call_sync(store.collection, "faves").adapter_ids == (aid,)


def test_backup_and_restore_into_a_reimported_library(tmp_path: Path, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "a/one")
    add_lora(lora_tree, "two")
    first = DatabaseExecutor(tmp_path / "first.sqlite3")
    out = tmp_path / "backup.json"
    try:
        asyncio.run(import_and_hash(first, pool, [str(lora_tree.root)]))
        asyncio.run(edit(first, pool, [_id(first, "one")], CHANGE, formats=SidecarFormats.none()))
        first.call_sync(store.add_to_collection, "set", [_id(first, "one"), _id(first, "two")])
        report = asyncio.run(backup(first, pool, str(out)))
        assert report.adapters == 1 and report.collections == 1
        doc = json.loads(out.read_text())
        assert doc["adapters"][0]["key"]["sha256"] and doc["adapters"][0]["rating"] == 4
        assert "api_key" not in out.read_text().lower()
    finally:
        first.close()
    second = DatabaseExecutor(tmp_path / "second.sqlite3")
    try:
        asyncio.run(import_and_hash(second, pool, [str(lora_tree.root)]))
        restored = asyncio.run(restore(second, pool, str(out)))
        assert restored.restored == 1 and restored.members == 2 and restored.problems == []
        got = second.call_sync(store.get, _id(second, "one"))
        assert (got.rating, got.favorite, got.notes, got.tags, got.preferred_weight) == (4, True, "great at 0.7", ("mine",), 0.7)
    finally:
        second.close()


def test_duplicates_grouped_and_cleaned_up_undoably(dbx, pool, lora_tree: LibraryTree) -> None:
    same = b"same bytes in both files!"
    add_lora(lora_tree, "a/copy1", name="c1", payload=same, model_id=7, version_id=1)
    add_lora(lora_tree, "keep/copy2", name="c2", payload=same, model_id=7, version_id=2)
    add_lora(lora_tree, "other", payload=b"different")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    groups = dbx.call_sync(duplicates.find_duplicate_groups)
    assert len(groups) == 1 and len(groups[0].files) == 2
    versions = dbx.call_sync(duplicates.find_version_groups)
    assert [v.model_id for v in versions] == [7] and len(versions[0].adapters) == 2
    before = snapshot(lora_tree.root)
    plan, result = asyncio.run(duplicates.clean_up(dbx, pool, duplicates.KeepRule.PREFERRED_FOLDER,
                                                   preferred_folder=str(lora_tree.root / "keep"), mode=TrashMode.APP))
    assert plan.keep == (str(lora_tree.root / "keep/copy2.safetensors"),)
    assert result.error is None and not (lora_tree.root / "a/copy1.safetensors").exists()
    assert (lora_tree.root / "keep/copy2.safetensors").exists()
    assert dbx.call_sync(duplicates.find_duplicate_groups) == []
    asyncio.run(file_ops.undo(dbx, pool))
    assert {k: v for k, v in snapshot(lora_tree.root).items() if ".lora-manager-trash" not in k} == before


def test_user_data_survives_an_identify_refresh_on_the_local_server(dbx, pool, lora_tree: LibraryTree, fake_civitai) -> None:
    import hashlib

    from lora_manager_gui.services.hasher import HashService
    from lora_manager_gui.services.identify import identify
    from tests.services.test_identify import client_for

    model = add_lora(lora_tree, "one")
    sha = hashlib.sha256(model.read_bytes()).hexdigest().upper()
    fake_civitai.catalogue.add_synthetic(sha, version_id=9001, model_id=5001)
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    aid = _id(dbx, "one")
    asyncio.run(edit(dbx, pool, [aid], CHANGE, formats=SidecarFormats.none()))
    before = dbx.call_sync(store.get, aid)

    async def refresh() -> object:
        hasher = HashService(dbx, workers=1, rotational=lambda d: False)
        client = client_for(fake_civitai)
        try:
            return await identify(dbx, client, hasher, [str(model)], recheck_not_found_days=0)
        finally:
            await client.close()
            hasher.close()

    report = asyncio.run(refresh())
    assert report.found == 1
    assert dbx.call_sync(store.get, aid) == before


LM_KEYS = {  # FORMATS.md §3.4
    "file_name", "model_name", "file_path", "size", "modified", "sha256", "base_model", "preview_url",
    "preview_nsfw_level", "notes", "from_civitai", "civitai", "tags", "modelDescription", "civitai_deleted",
    "favorite", "exclude", "db_checked", "skip_metadata_refresh", "metadata_source", "last_checked_at",
    "hash_status", "autov3", "trainedWords", "usage_tips",
}


def test_a_new_lora_manager_sidecar_has_the_documented_shape(dbx, pool, lora_tree: LibraryTree) -> None:
    import hashlib

    model = lora_tree.model("bare.safetensors")
    lora_tree.write("bare.civitai.info", {"id": 5, "modelId": 6, "name": "v1", "baseModel": "SDXL 1.0",
                                          "model": {"name": "Bare", "type": "LORA"}, "files": []})
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    aid = dbx.call_sync(lambda: database_proxy.execute_sql("SELECT id FROM adapter").fetchone()[0])
    asyncio.run(edit(dbx, pool, [aid], CHANGE, formats=SidecarFormats.of(["lora_manager", "a1111"])))
    lm = read_json(lora_tree.root / "bare.metadata.json")
    assert set(lm) <= LM_KEYS
    assert lm["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest() and lm["file_name"] == "bare"
    assert lm["size"] == model.stat().st_size and isinstance(lm["usage_tips"], str)
    a = read_json(lora_tree.root / "bare.json")
    assert set(a) <= {"description", "notes", "sd version", "activation text", "preferred weight", "negative text"}
    asyncio.run(run_import(dbx, [str(lora_tree.root)], pool=pool))  # the app imports what it wrote
    assert dbx.call_sync(lambda: database_proxy.execute_sql("SELECT count(*), max(notes) FROM adapter").fetchone()) == (1, "great at 0.7")


def test_restore_finds_adapters_by_relative_path_without_hashes(tmp_path: Path, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "a/one")
    out = tmp_path / "b.json"
    for n, name in enumerate(("first", "second")):
        dbx = DatabaseExecutor(tmp_path / f"{name}.sqlite3")
        try:
            asyncio.run(run_import(dbx, [str(lora_tree.root)], pool=pool))  # never hashed
            if n == 0:
                asyncio.run(edit(dbx, pool, [_id(dbx, "one")], UserDataEdit(rating=2), formats=SidecarFormats.none()))
                asyncio.run(backup(dbx, pool, str(out)))
                key = json.loads(out.read_text())["adapters"][0]["key"]
                assert key["sha256"] is None or len(key["sha256"]) == 64
                assert key["rel_path"] == "a/one.safetensors"
            else:
                report = asyncio.run(restore(dbx, pool, str(out)))
                assert report.restored == 1 and dbx.call_sync(store.get, _id(dbx, "one")).rating == 2
        finally:
            dbx.close()
