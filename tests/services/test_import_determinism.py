"""The same tree imports to the same rows and links every time, whatever order its chunks are
stored in (worker processes, a walk that streams, threads), and the report's orphans are the
window's."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.db import browse
from lora_manager_gui.db.models import Adapter, database_proxy
from lora_manager_gui.services import import_walk, import_workers
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import
from tests.conftest import LibraryTree
from tests.services.test_import_workers import unhurried

TIMES = {"created_at", "updated_at", "last_ingested_at", "first_seen_at", "last_seen_at", "checked_at"}


def build(tree: LibraryTree) -> None:
    # One (name, version) claimed by three files whose metadata differs. Walk order (depth first:
    # a/x, a-b, b) is not sort order ("a-b" < "a/x"), and chunks of 2 groups are stored in
    # whatever order worker processes finish them.
    for folder, creator in (("b", "bee"), ("a/x", "ax"), ("a-b", "dash")):
        tree.civitai_model(f"{folder}/twin.json", "Twin", creator={"username": creator},
                           description=f"<p>from {folder}</p>", tags=[folder])
        tree.model(f"{folder}/twin.safetensors", payload=folder.encode() * 4)
    for i in range(9):
        tree.civitai_model(f"many{i % 3}/m{i}.json", f"M{i}")
        tree.model(f"many{i % 3}/m{i}.safetensors")
    tree.model("a/x/orphan.safetensors")
    tree.model("b/orphan.safetensors")
    tree.write("b/broken.safetensors", b"\x00\x01")  # a broken model file: an error, not an orphan
    tree.civitai_model("c/dup.json", "M1")  # another duplicate, of a row in another chunk
    tree.model("c/dup.safetensors")


def snapshot(db: DatabaseExecutor, root: Path) -> dict:
    def rel(path: str | None) -> str | None:
        return Path(path).relative_to(root).as_posix() if path else path

    def read() -> dict:
        def rows(sql: str) -> list[dict]:
            cursor = database_proxy.execute_sql(sql)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, r)) for r in cursor.fetchall()]

        keys = {r["id"]: (r["name"], r["version"]) for r in rows("SELECT id, name, version FROM adapter")}
        adapters = sorted(
            tuple(sorted((k, rel(v) if k.endswith("path") else v) for k, v in r.items() if k not in TIMES | {"id", "search_text"}))
            for r in rows("SELECT * FROM adapter")
        )
        files = sorted((rel(r["path"]), keys.get(r["adapter_id"]), r["problem"], r["missing"])
                       for r in rows("SELECT * FROM library_file"))
        sources = sorted((rel(r["key"]), r["status"], keys.get(r["adapter_id"]), rel(r["model_path"]), r["issues"])
                         for r in rows("SELECT * FROM import_source"))
        orphans = [o.path for o in browse.list_orphans()]
        return {"adapters": adapters, "files": files, "sources": sources, "orphans": orphans}

    return db.call_sync(read)


def import_once(root: Path, db_path: Path, processes: int) -> tuple[dict, dict]:
    db = DatabaseExecutor(db_path)
    try:
        report = asyncio.run(run_import(db, [root], options=ImportOptions(parse_processes=processes, chunk_size=2)))
        state = snapshot(db, root)
    finally:
        db.close()
    data = report.to_json()
    assert data["orphans"] == state["orphans"]  # the report lists what the window lists
    summary = {k: data[k] for k in ("imported", "updated", "unchanged", "failed_by_class", "field_coverage")}
    summary["duplicates"] = [(d["name"], [Path(p).relative_to(root).as_posix() for p in d["paths"]]) for d in data["duplicates"]]
    summary["orphans"] = [Path(p).relative_to(root).as_posix() for p in data["orphans"]]
    return summary, state


def test_two_clean_imports_give_the_same_rows_and_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    in_threads = import_once(tree.root, tmp_path / "threads.sqlite3", processes=0)
    again = import_once(tree.root, tmp_path / "again.sqlite3", processes=0)
    assert again == in_threads
    # In worker processes, the walk streaming folders to them (walk order, not sort order).
    monkeypatch.setattr(import_workers, "PROCESS_THRESHOLD", 5)
    monkeypatch.setattr(import_walk, "scan_root", unhurried(import_walk.scan_root, 0.02))
    with caplog.at_level(logging.INFO, logger="lora_manager_gui.services"):
        streamed = import_once(tree.root, tmp_path / "streamed.sqlite3", processes=2)
    assert any("while it is walked" in r.getMessage() for r in caplog.records)
    assert streamed == in_threads

    summary, state = in_threads
    assert summary["duplicates"] == [
        ("M1", ["c/dup.safetensors", "many1/m1.safetensors"]),  # kept, duplicate: by path
        ("Twin", ["a-b/twin.safetensors", "a/x/twin.safetensors"]),
        ("Twin", ["a-b/twin.safetensors", "b/twin.safetensors"]),
    ]
    twin = next(dict(a) for a in state["adapters"] if dict(a)["name"] == "Twin")
    assert (twin["file_path"], twin["author_username"], twin["tags"]) == ("a-b/twin.safetensors", "dash", '["a-b"]')
    links = {f[0]: f[1] for f in state["files"]}
    assert all(links[f"{folder}/twin.safetensors"] == ("Twin", "v1.0") for folder in ("a/x", "a-b", "b"))
    assert links["c/dup.safetensors"] == links["many1/m1.safetensors"] == ("M1", "v1.0")
    assert summary["orphans"] == ["a/x/orphan.safetensors", "b/orphan.safetensors"]
    statuses = {s[0]: s[1] for s in state["sources"]}
    assert statuses["a-b/twin"] == "imported" and statuses["a/x/twin"] == statuses["b/twin"] == "duplicate"


def test_a_duplicate_that_changes_its_name_never_renames_the_kept_row(dbx, lora_tree) -> None:
    lora_tree.civitai_model("a/one.json", "Twin")
    lora_tree.model("a/one.safetensors")
    lora_tree.civitai_model("b/two.json", "Twin")
    lora_tree.model("b/two.safetensors")
    first = asyncio.run(run_import(dbx, [lora_tree.root]))
    assert first.imported == 1 and len(first.duplicates) == 1
    lora_tree.civitai_model("b/two.json", "Other")  # the duplicate's metadata now names another model
    second = asyncio.run(run_import(dbx, [lora_tree.root]))
    assert second.imported == 1 and second.duplicates == []
    names = dbx.call_sync(lambda: sorted((a.name, Path(a.file_path).name) for a in Adapter.select()))
    assert names == [("Other", "two.safetensors"), ("Twin", "one.safetensors")]
