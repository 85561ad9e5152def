"""File operations on real files and a real SQLite library: move, rename, organize, trash, undo and
redo (also after a restart), rollback at every step, no overwrite, rows following the files."""
from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lora_manager_gui.db.models import database_proxy
from lora_manager_gui.services import file_ops
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.file_ops_fs import rename_noreplace
from lora_manager_gui.services.file_ops_trash import APP_TRASH_DIR, TrashMode
from lora_manager_gui.services.hasher import HashService
from tests.conftest import LibraryTree
from tests.services.manage_helpers import add_lora, import_and_hash, mtimes, snapshot


@pytest.fixture
def pool():
    p = WorkPool(2)
    yield p
    p.close()


def _rows(dbx: DatabaseExecutor, sql: str, *params):
    return dbx.call_sync(lambda: database_proxy.execute_sql(sql, params).fetchall())


def _setup(dbx, pool, tree: LibraryTree, stems: list[str]) -> None:
    for stem in stems:
        add_lora(tree, stem)
    asyncio.run(import_and_hash(dbx, pool, [str(tree.root)]))


def test_move_carries_sidecars_and_previews_and_rows_follow(dbx, pool, lora_tree: LibraryTree) -> None:
    _setup(dbx, pool, lora_tree, ["a/one"])
    root = lora_tree.root
    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / "a/one.safetensors")], str(root / "b")))
    assert result.error is None and result.models_moved == 1
    assert sorted(os.listdir(root / "b")) == ["one.json", "one.metadata.json", "one.preview.png", "one.safetensors"]
    assert not (root / "a" / "one.safetensors").exists()
    new = str(root / "b/one.safetensors")
    assert _rows(dbx, "SELECT count(*) FROM library_file WHERE path = ?", new) == [(1,)]
    assert _rows(dbx, "SELECT count(*) FROM hash_cache WHERE path = ?", new) == [(1,)]
    assert _rows(dbx, "SELECT file_path, json_file_path FROM adapter")[0][0] == new
    assert json.loads((root / "b/one.metadata.json").read_text())["file_path"] == new.replace(os.sep, "/")
    assert result.outcome().changes.files and result.outcome().status.value == "done"


def test_rename_and_organize_with_preview(dbx, pool, lora_tree: LibraryTree) -> None:
    _setup(dbx, pool, lora_tree, ["x/one", "two"])
    root = lora_tree.root
    renamed = asyncio.run(file_ops.rename(dbx, pool, str(root / "two.safetensors"), "deux: <new>"))
    assert renamed.error is None
    assert (root / "deux_ _new_.safetensors").is_file() and (root / "deux_ _new_.metadata.json").is_file()
    lm = json.loads((root / "deux_ _new_.metadata.json").read_text())
    assert lm["file_name"] == "deux_ _new_" and lm["custom_key"] == {"kept": True}
    before = snapshot(root)
    preview = asyncio.run(file_ops.organize(dbx, pool, "{base_model}/{creator}/{name}", dry_run=True))
    assert preview.dry_run and len(preview.plan.units) == 2 and snapshot(root) == before  # nothing happened
    dsts = {m.dst for m in preview.plan.moves}
    assert str(root / "SDXL 1.0/maker/one.safetensors") in dsts
    done = asyncio.run(file_ops.organize(dbx, pool, "{base_model}/{creator}/{name}"))
    assert done.error is None and done.models_moved == 2
    assert (root / "SDXL 1.0/maker/one.preview.png").is_file()
    assert all(os.path.commonpath([m.dst, str(root)]) == str(root) for m in done.moved)


def test_template_values_cannot_leave_the_root(dbx, pool, lora_tree: LibraryTree) -> None:
    add_lora(lora_tree, "evil", name="../../etc/passwd")
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    result = asyncio.run(file_ops.organize(dbx, pool, "{name}/{name}", dry_run=True))
    (unit,) = result.plan.units
    assert unit.target.startswith(str(lora_tree.root) + os.sep)
    assert ".." not in Path(unit.target).relative_to(lora_tree.root).parts


def test_an_existing_destination_is_never_overwritten(dbx, pool, lora_tree: LibraryTree) -> None:
    _setup(dbx, pool, lora_tree, ["a/one"])
    root = lora_tree.root
    lora_tree.write("b/one.preview.png", b"someone else's preview")
    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / "a/one.safetensors")], str(root / "b")))
    assert result.models_moved == 0 and result.problems[0].kind.value == "unsafe_path"
    assert (root / "b/one.preview.png").read_bytes() == b"someone else's preview"
    assert (root / "a/one.safetensors").is_file()
    # the primitive itself, with the destination appearing between plan and rename
    (root / "p").write_bytes(b"p")
    (root / "q").write_bytes(b"q")
    with pytest.raises(FileExistsError):
        rename_noreplace(str(root / "p"), str(root / "q"))
    assert (root / "q").read_bytes() == b"q" and (root / "p").read_bytes() == b"p"


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 8, 9, 10])
def test_a_failure_at_each_step_rolls_back_every_file(dbx, pool, lora_tree: LibraryTree, fail_at: int) -> None:
    """Steps: one's model file, then each of its three companions (1-4), the same for two (5-8),
    then the two Lora Manager sidecars' file_path updates (9, 10); fail after each."""
    _setup(dbx, pool, lora_tree, ["a/one", "a/two"])
    root = lora_tree.root
    before, times = snapshot(root), mtimes(root)
    rows_before = _rows(dbx, "SELECT path FROM library_file ORDER BY path")

    def fault(step: int, move) -> None:  # noqa: ANN001
        if step == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device", move.dst)

    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / "a/one.safetensors"), str(root / "a/two.safetensors")],
                                                 str(root / "new/deep"), fault=fault))
    assert result.error is not None and result.error.kind.value == "disk_full"
    assert result.moved == [] and result.rollback_problems == []
    assert snapshot(root) == before and mtimes(root) == times  # every file where it was, with its bytes
    assert not (root / "new").exists()  # the folders made for it are gone too
    assert _rows(dbx, "SELECT path FROM library_file ORDER BY path") == rows_before
    assert _rows(dbx, "SELECT count(*) FROM operation_log") == [(0,)]
    assert result.outcome().status.value == "failed"


def test_a_destination_appearing_meanwhile_rolls_back(dbx, pool, lora_tree: LibraryTree) -> None:
    _setup(dbx, pool, lora_tree, ["a/one"])
    root = lora_tree.root
    before = snapshot(root)

    def fault(step: int, move) -> None:  # noqa: ANN001
        if step == 1:  # another program writes the sidecar's destination now
            Path(root / "b/one.json").write_bytes(b"theirs")

    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / "a/one.safetensors")], str(root / "b"), fault=fault))
    assert result.error is not None and result.error.kind.value == "unsafe_path"
    assert (root / "b/one.json").read_bytes() == b"theirs"
    after = snapshot(root)
    after.pop("b/one.json")
    assert after == before


def test_undo_and_redo_across_a_restart(db_path: Path, pool, lora_tree: LibraryTree) -> None:
    root = lora_tree.root
    dbx = DatabaseExecutor(db_path)
    _setup(dbx, pool, lora_tree, ["a/one"])
    original = snapshot(root)
    asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / "a/one.safetensors")], str(root / "b")))
    moved = snapshot(root)
    dbx.close()
    dbx = DatabaseExecutor(db_path)  # a new session
    try:
        undone = asyncio.run(file_ops.undo(dbx, pool))
        assert undone is not None and undone.error is None
        assert snapshot(root) == original
        assert _rows(dbx, "SELECT count(*) FROM library_file WHERE path = ?", str(root / "a/one.safetensors")) == [(1,)]
        assert asyncio.run(file_ops.undo(dbx, pool)) is None  # nothing more to undo
        dbx.close()
        dbx = DatabaseExecutor(db_path)
        redone = asyncio.run(file_ops.redo(dbx, pool))
        assert redone is not None and redone.error is None and snapshot(root) == moved
        assert asyncio.run(file_ops.redo(dbx, pool)) is None
    finally:
        dbx.close()


def test_trash_to_the_app_trash_and_undo(dbx, pool, lora_tree: LibraryTree) -> None:
    _setup(dbx, pool, lora_tree, ["a/one"])
    root = lora_tree.root
    before = snapshot(root)
    result = asyncio.run(file_ops.trash(dbx, pool, [str(root / "a/one.safetensors")], mode=TrashMode.APP))
    assert result.error is None and not (root / "a/one.safetensors").exists()
    assert all(APP_TRASH_DIR in m.dst for m in result.moved) and len(result.moved) == 4
    assert _rows(dbx, "SELECT missing FROM library_file") == [(1,)]
    assert _rows(dbx, "SELECT file_missing FROM adapter") == [(1,)]
    asyncio.run(file_ops.undo(dbx, pool))
    after = {k: v for k, v in snapshot(root).items() if APP_TRASH_DIR not in k}
    assert after == before
    assert _rows(dbx, "SELECT missing FROM library_file") == [(0,)]
    assert _rows(dbx, "SELECT file_missing FROM adapter") == [(0,)]


def _mount_tmpfs(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.fixture
def two_volumes(tmp_path: Path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting tmpfs needs root and mount(8)")
    root = tmp_path / "lib"
    vols = [root / "vol1", root / "vol2"]
    mounted = []
    try:
        for v in vols:
            if not _mount_tmpfs(v):
                pytest.skip("this system refuses to mount tmpfs (a container without CAP_SYS_ADMIN)")
            mounted.append(v)
        yield root, vols
    finally:
        for v in reversed(mounted):
            subprocess.run(["umount", str(v)], check=False)


def test_a_move_across_volumes_copies_verifies_and_keeps_the_hash(pool, db_path: Path, two_volumes) -> None:
    root, (vol1, vol2) = two_volumes
    assert os.stat(vol1).st_dev != os.stat(vol2).st_dev
    tree = LibraryTree(root)
    dbx = DatabaseExecutor(db_path)
    try:
        _setup(dbx, pool, tree, ["vol1/one"])
        before = {k: v for k, v in snapshot(vol1).items()}
        result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(vol1 / "one.safetensors")], str(vol2)))
        assert result.error is None
        moved_state = snapshot(vol2)
        lm = json.loads(moved_state.pop("one.metadata.json"))
        assert lm["file_path"] == str(vol2 / "one.safetensors")  # the one file whose content follows the move
        assert moved_state == {k: v for k, v in before.items() if k != "one.metadata.json"} and snapshot(vol1) == {}
        moved_state = snapshot(vol2)
        hasher = HashService(dbx, workers=1, rotational=lambda dev: False)
        try:
            (again,) = asyncio.run(hasher.hash_paths([str(vol2 / "one.safetensors")]))
            assert again.cached and hasher.files_hashed == 0  # the mtime kept: the cache entry still holds
        finally:
            hasher.close()
        # A failure at any step rolls back across volumes too: after a copy (1-4), after the Lora
        # Manager sidecar's update (5), after deleting some or all of the sources (6-9).
        for fail_at in (1, 3, 5, 6, 8, 9):
            def fault(step: int, move, fail_at=fail_at) -> None:  # noqa: ANN001
                if step == fail_at:
                    raise OSError(errno.EIO, "injected", move.dst)

            failed = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(vol2 / "one.safetensors")], str(vol1), fault=fault))
            assert failed.error is not None and failed.rollback_problems == []
            assert snapshot(vol2) == moved_state and snapshot(vol1) == {}, fail_at
    finally:
        dbx.close()


def test_system_trash_on_a_volume_and_undo(pool, db_path: Path, two_volumes) -> None:
    root, (vol1, _) = two_volumes
    tree = LibraryTree(root)
    dbx = DatabaseExecutor(db_path)
    try:
        _setup(dbx, pool, tree, ["vol1/one"])
        before = snapshot(vol1)
        result = asyncio.run(file_ops.trash(dbx, pool, [str(vol1 / "one.safetensors")], mode=TrashMode.SYSTEM))
        assert result.error is None and not (vol1 / "one.safetensors").exists()
        assert all(f"{os.sep}files{os.sep}" in m.dst and ".Trash" in m.dst for m in result.moved)
        asyncio.run(file_ops.undo(dbx, pool))
        after = {k: v for k, v in snapshot(vol1).items() if not k.startswith(".Trash")}
        assert after == before
        assert not any(n.endswith(".trashinfo") for n in os.listdir(vol1 / f".Trash-{os.getuid()}" / "info"))
    finally:
        dbx.close()


def test_moving_100_files_reads_none_of_them_again(dbx, pool, lora_tree: LibraryTree, monkeypatch) -> None:
    stems = [f"in/m{i:03d}" for i in range(100)]
    for stem in stems:
        add_lora(lora_tree, stem, a1111=False, previews=False)
    asyncio.run(import_and_hash(dbx, pool, [str(lora_tree.root)]))
    root = lora_tree.root
    import hashlib as real_hashlib

    reads = []
    original = real_hashlib.sha256
    monkeypatch.setattr("lora_manager_gui.services.file_ops_fs.hashlib.sha256", lambda *a: reads.append(1) or original(*a))
    result = asyncio.run(file_ops.move_to_folder(dbx, pool, [str(root / f"{s}.safetensors") for s in stems], str(root / "out")))
    assert result.error is None and result.models_moved == 100 and reads == []
    assert _rows(dbx, "SELECT count(*) FROM hash_cache WHERE path LIKE ?", str(root / "out") + "%") == [(100,)]
    hasher = HashService(dbx, workers=2, rotational=lambda dev: False)
    try:
        results = asyncio.run(hasher.hash_paths([str(root / "out" / f"m{i:03d}.safetensors") for i in range(100)]))
        assert all(r.cached for r in results) and hasher.files_hashed == 0
    finally:
        hasher.close()
