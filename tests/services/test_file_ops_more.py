"""More file operation cases: a re-import after a move finds the same adapters, a database failure
puts the files back, the no-clobber fallbacks, undo refusing to overwrite, duplicate keep rules."""
from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from lora_manager_gui.db import user_data as store
from lora_manager_gui.db.models import database_proxy
from lora_manager_gui.db.user_data import UserDataEdit
from lora_manager_gui.services import duplicates, file_ops, file_ops_fs
from lora_manager_gui.services.executors import WorkPool
from lora_manager_gui.services.importer import run_import
from lora_manager_gui.services.user_data import edit
from tests.conftest import LibraryTree
from tests.services.manage_helpers import add_lora, import_and_hash, snapshot


@pytest.fixture
def pool():
    p = WorkPool(2)
    yield p
    p.close()


def _rows(dbx, sql: str, *params):  # noqa: ANN001
    return dbx.call_sync(lambda: database_proxy.execute_sql(sql, params).fetchall())


def test_a_reimport_after_organize_finds_the_same_adapters_with_their_user_data(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "in/one")
    add_lora(lora_tree, "two")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    ids = dict(_rows(dbx, "SELECT name, id FROM adapter"))
    asyncio.run(edit(dbx, pool, [ids["one"]], UserDataEdit(rating=3, notes="kept")))
    result = asyncio.run(file_ops.organize(dbx, pool, "{creator}/{name}"))
    assert result.error is None
    for force in (False, True):
        asyncio.run(run_import(dbx, [str(lora_tree.root)], force=force, pool=pool))
        assert dict(_rows(dbx, "SELECT name, id FROM adapter")) == ids
        assert _rows(dbx, "SELECT count(*) FROM adapter WHERE file_missing != 0") == [(0,)]
        assert _rows(dbx, "SELECT count(*) FROM library_file WHERE missing != 0") == [(0,)]
        assert _rows(dbx, "SELECT file_path FROM adapter WHERE name = 'one'") == [(str(lora_tree.root / "maker/one.safetensors"),)]
        got = dbx.call_sync(store.get, ids["one"])
        assert (got.rating, got.notes) == (3, "kept")


def test_a_database_failure_puts_the_files_back(dbx, pool, lora_tree: LibraryTree, monkeypatch) -> None:
    add_lora(lora_tree, "a/one")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    before = snapshot(lora_tree.root)

    def broken(moves):  # noqa: ANN001
        raise RuntimeError("database is locked")

    monkeypatch.setattr("lora_manager_gui.db.file_rows.apply_moves", broken)
    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(lora_tree.root / "a/one.safetensors")], str(lora_tree.root / "b")))
    assert result.error is not None and result.error.kind.value == "database"
    assert snapshot(lora_tree.root) == before and not (lora_tree.root / "b").exists()


@pytest.mark.parametrize("fallback", ["link", "exclusive"])
def test_the_no_clobber_fallbacks(tmp_path: Path, monkeypatch, fallback: str) -> None:
    monkeypatch.setattr(file_ops_fs, "_renameat2", None)
    if fallback == "exclusive":
        def no_links(*a, **k):  # noqa: ANN002, ANN003
            raise OSError(errno.EPERM, "hard links not supported")

        monkeypatch.setattr(file_ops_fs.os, "link", no_links)
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        file_ops_fs.rename_noreplace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "a").read_bytes() == b"a" and (tmp_path / "b").read_bytes() == b"b"
    assert file_ops_fs.rename_noreplace(str(tmp_path / "a"), str(tmp_path / "c")) == fallback
    assert (tmp_path / "c").read_bytes() == b"a" and not (tmp_path / "a").exists()


def test_undo_never_overwrites_a_file_that_took_the_old_place(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "a/one")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    asyncio.run(file_ops.move_to_folder(dbx, pool, [str(lora_tree.root / "a/one.safetensors")], str(lora_tree.root / "b")))
    lora_tree.write("a/one.json", b"new file by someone else")
    moved = snapshot(lora_tree.root)
    result = asyncio.run(file_ops.undo(dbx, pool))
    assert result is not None and result.error is not None and result.error.kind.value == "unsafe_path"
    assert snapshot(lora_tree.root) == moved
    assert _rows(dbx, "SELECT state FROM operation_log") == [("done",)]  # still undoable later


def test_two_files_for_one_place_and_a_shared_stem_are_refused(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "x/same", name="dup")
    add_lora(lora_tree, "y/same", name="dup2")
    lora_tree.model("z/pair.safetensors")
    lora_tree.model("z/pair.pt")
    lora_tree.write("z/pair.json", {"notes": "whose?"})
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    result = asyncio.run(file_ops.organize(dbx, pool, "flat/{file_name}", dry_run=True))
    messages = [p.message for p in result.plan.problems]
    assert any("another file of this operation" in m for m in messages)
    assert any("also belong to" in m for m in messages)


def test_keep_rules(dbx, pool, lora_tree: LibraryTree) -> None:
    same = b"identical payload bytes"
    add_lora(lora_tree, "rich/c1", name="c1", payload=same)
    lora_tree.model("bare/c2.safetensors", payload=same)
    os.utime(lora_tree.root / "bare/c2.safetensors", ns=(2 * 10**18, 2 * 10**18))  # the newest
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    (group,) = dbx.call_sync(duplicates.find_duplicate_groups)
    newest = duplicates.choose_keeper(group, duplicates.KeepRule.NEWEST)
    richest = duplicates.choose_keeper(group, duplicates.KeepRule.MOST_METADATA)
    assert newest.path.endswith("bare/c2.safetensors") and richest.path.endswith("rich/c1.safetensors")
    plan, dry = asyncio.run(duplicates.clean_up(dbx, pool, duplicates.KeepRule.MOST_METADATA, dry_run=True))
    assert dry.dry_run and plan.remove == (str(lora_tree.root / "bare/c2.safetensors"),)
    assert (lora_tree.root / "bare/c2.safetensors").exists()


def test_progress_outcome_and_auto_trash_falls_back_to_the_app_trash(dbx, pool, lora_tree: LibraryTree, monkeypatch) -> None:
    from lora_manager_gui.core.tasks import Stage
    from lora_manager_gui.services import file_ops_trash
    from lora_manager_gui.services.file_ops_trash import APP_TRASH_DIR, NoSystemTrashError, TrashMode

    add_lora(lora_tree, "a/one")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))

    def no_trash(path: str) -> str:
        raise NoSystemTrashError("no trash on this volume")

    monkeypatch.setattr(file_ops_trash, "send_to_system_trash", no_trash)
    seen = []
    result = asyncio.run(file_ops.trash(dbx, pool, [str(lora_tree.root / "a/one.safetensors")], mode=TrashMode.AUTO,
                                        progress=seen.append))
    assert result.error is None and all(APP_TRASH_DIR in m.dst for m in result.moved)
    assert seen[0].stage is Stage.MOVE and seen[0].total == 4 and seen[-1].stage is Stage.DONE and seen[-1].done == 4
    outcome = result.outcome()
    assert outcome.status.value == "done" and outcome.done == 1 and outcome.changes.files and outcome.changes.hashes
    add_lora(lora_tree, "b/two")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    refused = asyncio.run(file_ops.trash(dbx, pool, [str(lora_tree.root / "b/two.safetensors")], mode=TrashMode.SYSTEM))
    assert refused.error is not None and (lora_tree.root / "b/two.safetensors").exists()
    assert refused.outcome().status.value == "failed"


def test_a_copy_that_does_not_match_is_removed(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    with pytest.raises(file_ops_fs.VerifyError):
        file_ops_fs.copy_verified(str(src), str(tmp_path / "dst.bin"), expected_sha256="00" * 32)
    assert not (tmp_path / "dst.bin").exists() and src.read_bytes() == b"x" * 1000
    (tmp_path / "taken.bin").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        file_ops_fs.copy_verified(str(src), str(tmp_path / "taken.bin"))
    assert (tmp_path / "taken.bin").read_bytes() == b"mine"


def test_cli_trash_to_the_app_trash_and_undo(tmp_path: Path, lora_tree: LibraryTree, capsys) -> None:
    import json

    from lora_manager_gui.cli import run

    db = ["--db", str(tmp_path / "lib.sqlite3")]
    add_lora(lora_tree, "one")
    assert run(db + ["import", str(lora_tree.root)]) == 0
    before = snapshot(lora_tree.root)
    capsys.readouterr()
    assert run(db + ["trash", str(lora_tree.root / "one.safetensors"), "--trash", "app", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["moved"]) == 4 and not (lora_tree.root / "one.safetensors").exists()
    assert run(db + ["undo"]) == 0
    assert {k: v for k, v in snapshot(lora_tree.root).items() if ".lora-manager-trash" not in k} == before
