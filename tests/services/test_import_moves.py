"""Changes made outside the app (issue 17): files moved by another tool are recognised by the next
import and keep their rows, hash cache entries and user data; a root that is offline flags its
files offline, never missing, and they come back intact. Real files, a real SQLite library."""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from lora_manager_gui.db import adapters, library_files, user_data
from lora_manager_gui.db.models import HashCacheEntry, ImportFolder, ImportSource, LibraryFile
from lora_manager_gui.db.user_data import UserDataEdit
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.import_moves import Vanished, fingerprint, match_moves
from lora_manager_gui.core.walk_entries import FileEntry
from lora_manager_gui.services.importer import ImportRunError, run_import


def imp(db: DatabaseExecutor, *roots: Path, **kw):
    return asyncio.run(run_import(db, list(roots), **kw))


def hash_all(db: DatabaseExecutor, paths: list[str]) -> int:
    """Hash `paths` through the cache with a fresh service; how many files it actually read."""
    service = HashService(db, workers=2)
    try:
        report = asyncio.run(service.hash_paths(paths))
        assert all(r.sha256 for r in report.results), [r for r in report.results if not r.sha256][:3]
        return service.files_hashed
    finally:
        service.close()


def row_ids(db: DatabaseExecutor) -> dict[str, int]:
    return db.call_sync(lambda: {r.path: r.id for r in LibraryFile.select(LibraryFile.path, LibraryFile.id)})


def _flatten(root: Path) -> None:
    """Every file of old/f*/ moved into one new folder (no folder moves whole: file by file)."""
    (root / "flat").mkdir()
    for path in sorted((root / "old").rglob("*.*")):
        os.rename(path, root / "flat" / path.name)


@pytest.mark.parametrize("how", ["folders", "files"])
def test_outside_move_of_1000_files_rehashes_nothing_and_keeps_user_data(dbx, lora_tree, how) -> None:
    root = lora_tree.root
    for i in range(1000):  # distinct content; many share size and (coarse) mtime: fingerprints tell them apart
        lora_tree.model(f"old/f{i // 100}/m{i:04d}.safetensors", payload=i.to_bytes(4, "little"))
        if i % 20 == 0:
            lora_tree.civitai_model(f"old/f{i // 100}/m{i:04d}.json", f"Model {i}")
    first = imp(dbx, root)
    assert first.model_files == 1000 and first.imported == 50
    paths = sorted(str(p) for p in root.rglob("*.safetensors"))
    assert hash_all(dbx, paths) == 1000
    cached = dbx.call_sync(lambda: {h.path: h.sha256 for h in HashCacheEntry.select()})
    kept = dbx.call_sync(adapters.find_by_name, "Model 40")
    dbx.call_sync(user_data.edit, kept.id, UserDataEdit(rating=5, notes="mine", favorite=True))
    ids = row_ids(dbx)

    if how == "folders":
        (root / "new").mkdir()
        os.rename(root / "old", root / "new" / "moved")  # another tool moved the whole tree
        renamed = {p: p.replace(str(root / "old"), str(root / "new" / "moved")) for p in paths}
    else:
        _flatten(root)
        renamed = {p: str(root / "flat" / Path(p).name) for p in paths}
    report = imp(dbx, root)

    assert len(report.moved) == 1000 and dict(report.moved) == renamed
    assert report.missing == [] and report.imported == 0 and report.updated == 0 and report.duplicates == []
    assert report.to_json()["moved_count"] == 1000
    assert row_ids(dbx) == {renamed[p]: i for p, i in ids.items()}  # the same rows, re-keyed
    assert dbx.call_sync(lambda: {h.path: h.sha256 for h in HashCacheEntry.select()}) == {
        renamed[p]: sha for p, sha in cached.items()}
    assert hash_all(dbx, sorted(renamed.values())) == 0  # nothing rehashed: every entry still valid
    after = dbx.call_sync(adapters.find_by_name, "Model 40")
    assert after.id == kept.id and after.file_path == renamed[kept.file_path] and not after.file_missing
    assert after.json_file_path == str(Path(renamed[kept.file_path]).with_suffix(".json"))
    data = dbx.call_sync(user_data.get, kept.id)
    assert (data.rating, data.notes, data.favorite) == (5, "mine", True)
    again = imp(dbx, root)  # and the next import finds it all unchanged
    assert again.moved == [] and again.missing == [] and again.unchanged == 50


def test_group_moved_across_folders_keeps_its_adapter(dbx, lora_tree) -> None:
    root = lora_tree.root
    lora_tree.civitai_model("a/style.json", "Style")
    lora_tree.write("a/style.civitai.info", {"id": 7, "modelId": 3, "name": "v1.0", "model": {"name": "Style"}})
    lora_tree.model("a/style.safetensors", payload=b"style!!!")
    lora_tree.model("a/other.safetensors")
    imp(dbx, root)
    before = dbx.call_sync(adapters.find_by_name, "Style")
    (root / "b/c").mkdir(parents=True)
    for name in ("style.json", "style.civitai.info", "style.safetensors"):
        os.rename(root / "a" / name, root / "b/c" / name)
    report = imp(dbx, root)
    assert report.moved == [(str(root / "a/style.safetensors"), str(root / "b/c/style.safetensors"))]
    assert report.imported == 0 and report.missing == []
    after = dbx.call_sync(adapters.find_by_name, "Style")
    assert after.id == before.id and after.file_path == str(root / "b/c/style.safetensors")
    assert after.json_file_path == str(root / "b/c" / Path(before.json_file_path).name)
    keys = dbx.call_sync(lambda: {s.key: s.adapter_id for s in ImportSource.select()})
    assert keys.get(f"{root}/b/c/style") == before.id and f"{root}/a/style" not in keys
    assert dbx.call_sync(adapters.count_adapters) == 1


def test_rename_in_place_keeps_rows(dbx, lora_tree) -> None:
    root = lora_tree.root
    lora_tree.civitai_model("x/old.json", "Renamed", file_name="old.safetensors")
    lora_tree.model("x/old.safetensors", payload=b"renamed1")
    lora_tree.model("x/orphan.safetensors", payload=b"orphan12")
    imp(dbx, root)
    adapter = dbx.call_sync(adapters.find_by_name, "Renamed")
    ids = row_ids(dbx)
    os.rename(root / "x/old.safetensors", root / "x/new.safetensors")
    os.rename(root / "x/old.json", root / "x/new.json")
    os.rename(root / "x/orphan.safetensors", root / "x/lonely.safetensors")
    report = imp(dbx, root)
    assert sorted(report.moved) == [(str(root / "x/old.safetensors"), str(root / "x/new.safetensors")),
                                    (str(root / "x/orphan.safetensors"), str(root / "x/lonely.safetensors"))]
    assert report.missing == [] and report.imported == 0
    now = row_ids(dbx)
    assert now[str(root / "x/new.safetensors")] == ids[str(root / "x/old.safetensors")]
    assert now[str(root / "x/lonely.safetensors")] == ids[str(root / "x/orphan.safetensors")]
    after = dbx.call_sync(adapters.find_by_name, "Renamed")
    assert after.id == adapter.id and after.file_path == str(root / "x/new.safetensors")
    assert report.orphans == [str(root / "x/lonely.safetensors")]


def test_moved_file_whose_content_changed_is_not_matched(dbx, lora_tree) -> None:
    root = lora_tree.root
    grown = lora_tree.model("a/grown.safetensors", payload=b"12345678")
    edited = lora_tree.model("a/edited.safetensors", payload=b"abcdefgh")
    imp(dbx, root)
    (root / "b").mkdir()
    shutil.move(grown, root / "b/grown.safetensors")
    with open(root / "b/grown.safetensors", "ab") as f:
        f.write(b"more")  # size differs
    stat = edited.stat()
    shutil.move(edited, root / "b/edited.safetensors")
    data = bytearray((root / "b/edited.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (root / "b/edited.safetensors").write_bytes(bytes(data))  # same size, the content (and mtime) changed
    assert (root / "b/edited.safetensors").stat().st_mtime_ns != stat.st_mtime_ns or pytest.skip("coarse mtime")
    report = imp(dbx, root)
    assert report.moved == []
    assert sorted(report.missing) == [str(root / "a/edited.safetensors"), str(root / "a/grown.safetensors")]


def _twins(lora_tree, names: tuple[str, str]) -> list[Path]:
    """Two model files of equal size and equal mtime_ns (copies made with their time kept)."""
    paths = [lora_tree.model(n, payload=bytes([i]) * 8) for i, n in enumerate(names)]
    stamp = paths[0].stat().st_mtime_ns
    for p in paths:
        os.utime(p, ns=(stamp, stamp))
    return paths


def test_two_vanished_files_of_equal_size_told_apart_by_fingerprint(dbx, lora_tree) -> None:
    root = lora_tree.root
    one, two = _twins(lora_tree, ("a/one.safetensors", "a/two.safetensors"))
    imp(dbx, root)
    prints = dbx.call_sync(library_files.fingerprints_for, [str(one), str(two)])
    assert prints == {str(one): fingerprint(str(one), one.stat().st_size), str(two): fingerprint(str(two), two.stat().st_size)}
    assert prints[str(one)] != prints[str(two)]
    ids = row_ids(dbx)
    (root / "z").mkdir()
    os.rename(one, root / "z/first.safetensors")  # renamed too: no name to go by
    os.rename(two, root / "z/second.safetensors")
    report = imp(dbx, root)
    assert sorted(report.moved) == [(str(one), str(root / "z/first.safetensors")),
                                    (str(two), str(root / "z/second.safetensors"))]
    now = row_ids(dbx)
    assert now[str(root / "z/first.safetensors")] == ids[str(one)]
    assert now[str(root / "z/second.safetensors")] == ids[str(two)]


def test_fingerprint_checked_when_known_so_changed_twins_are_not_matched(dbx, lora_tree) -> None:
    root = lora_tree.root
    one, _two = _twins(lora_tree, ("a/one.safetensors", "a/two.safetensors"))
    imp(dbx, root)
    stamp = one.stat().st_mtime_ns
    (root / "b").mkdir()
    moved = root / "b/one.safetensors"
    os.rename(one, moved)
    data = bytearray(moved.read_bytes())
    data[-1] ^= 0xFF
    moved.write_bytes(bytes(data))
    os.utime(moved, ns=(stamp, stamp))  # same size, same mtime: only the content tells
    report = imp(dbx, root)
    assert report.moved == [] and report.missing == [str(one)]


def test_match_moves_pairs_each_file_once() -> None:
    """The matching alone: (size, mtime_ns) pairs only when unique on both sides."""
    gone = [Vanished("/r/a", 10, 1), Vanished("/r/b", 10, 1), Vanished("/r/c", 20, 5), Vanished("/r/d", 30, 7)]
    new = [FileEntry("/r/x", "x", "x", 10, 1), FileEntry("/r/y", "y", "y", 20, 5), FileEntry("/r/z", "z", "z", 31, 7)]
    assert match_moves(gone, new).moves == [("/r/c", "/r/y")]  # a/b ambiguous without fingerprints; z's size differs


def _offline_state(db: DatabaseExecutor, root: Path) -> list[tuple[bool, bool]]:
    return db.call_sync(lambda: sorted({(bool(r.missing), bool(r.offline)) for r in LibraryFile.raw(
        "SELECT missing, offline FROM library_file WHERE root = ?", str(root))}))


def _library_with_user_data(dbx, lora_tree):
    for i in range(30):
        lora_tree.model(f"d{i % 3}/m{i}.safetensors", payload=i.to_bytes(4, "little"))
        if i % 3 == 0:
            lora_tree.civitai_model(f"d{i % 3}/m{i}.json", f"Net {i}")
    first = imp(dbx, lora_tree.root)
    adapter = dbx.call_sync(adapters.find_by_name, "Net 3")
    dbx.call_sync(user_data.edit, adapter.id, UserDataEdit(rating=4))
    counts = dbx.call_sync(lambda: (ImportSource.select().count(), ImportFolder.select().count()))
    return first, adapter, counts


def _back_intact(dbx, lora_tree, first, adapter, counts) -> None:
    back = imp(dbx, lora_tree.root)
    assert back.offline_roots == [] and back.missing == [] and back.moved == []
    assert back.imported == 0 and back.updated == 0 and back.unchanged == first.imported
    assert _offline_state(dbx, lora_tree.root) == [(False, False)]
    assert dbx.call_sync(lambda: (ImportSource.select().count(), ImportFolder.select().count())) == counts
    after = dbx.call_sync(adapters.find_by_name, "Net 3")
    assert after.id == adapter.id and not after.file_missing
    assert dbx.call_sync(user_data.get, adapter.id).rating == 4


def test_root_renamed_away_is_offline_then_back_intact(dbx, lora_tree) -> None:
    first, adapter, counts = _library_with_user_data(dbx, lora_tree)
    root = lora_tree.root
    os.rename(root, root.with_name("away"))  # the NAS share is gone
    report = imp(dbx, root)
    assert report.offline_roots == [str(root)] and report.offline_files == 30
    assert report.missing == [] and report.moved == [] and report.to_json()["offline_roots"] == [str(root)]
    assert _offline_state(dbx, root) == [(True, True)]
    assert len(dbx.call_sync(library_files.offline_paths, str(root))) == 30
    assert dbx.call_sync(adapters.find_by_name, "Net 3").file_missing
    assert dbx.call_sync(lambda: (ImportSource.select().count(), ImportFolder.select().count())) == counts
    again = imp(dbx, root)  # still offline: still no error, nothing lost
    assert again.offline_roots == [str(root)] and _offline_state(dbx, root) == [(True, True)]
    os.rename(root.with_name("away"), root)
    _back_intact(dbx, lora_tree, first, adapter, counts)


def test_empty_mount_point_is_offline_then_back_intact(dbx, lora_tree, tmp_path) -> None:
    first, adapter, counts = _library_with_user_data(dbx, lora_tree)
    root = lora_tree.root
    parked = tmp_path / "unmounted"
    parked.mkdir()
    for child in list(root.iterdir()):  # the volume is not mounted: the mount point is an empty folder
        os.rename(child, parked / child.name)
    report = imp(dbx, root)
    assert report.offline_roots == [str(root)] and report.missing == []
    assert _offline_state(dbx, root) == [(True, True)]
    for child in list(parked.iterdir()):
        os.rename(child, root / child.name)
    _back_intact(dbx, lora_tree, first, adapter, counts)


def test_missing_root_never_imported_is_still_an_error(dbx, tmp_path) -> None:
    with pytest.raises(ImportRunError, match="no such folder"):
        imp(dbx, tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    assert imp(dbx, tmp_path / "empty").offline_roots == []  # empty and nothing recorded: just empty


def test_a_copied_folder_is_not_a_move(dbx, lora_tree) -> None:
    """Same fingerprint at a new place while the old folder is still there: a copy, walked in full."""
    root = lora_tree.root
    lora_tree.civitai_model("a/one.json", "One")
    lora_tree.model("a/one.safetensors", payload=b"one12345")
    lora_tree.model("a/loose.safetensors", payload=b"loose123")
    imp(dbx, root)
    ids = row_ids(dbx)
    shutil.copytree(root / "a", root / "b")  # copy2: names, sizes and mtimes kept
    report = imp(dbx, root)
    assert report.moved == [] and report.missing == []
    assert [(d.kept_path, d.duplicate_path) for d in report.duplicates] == [
        (str(root / "a/one.safetensors"), str(root / "b/one.safetensors"))]
    now = row_ids(dbx)
    assert {p: now[p] for p in ids} == ids and str(root / "b/loose.safetensors") in now
