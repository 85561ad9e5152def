"""The import's parse step in worker processes gives exactly what the thread path gives."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.db.models import Adapter, ImportSource, LibraryFile
from lora_manager_gui.services import import_workers
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import
from tests.conftest import LibraryTree


def build(tree: LibraryTree) -> None:
    for i in range(14):
        folder = f"style{i % 3}"
        tree.civitai_model(f"{folder}/lora{i:02d}.json", f"LoRA {i:02d}")
        tree.model(f"{folder}/lora{i:02d}.safetensors", payload=bytes([i]) * 8)
    # Metadata naming a model file in a subfolder: outside what a worker is given, parsed again in-process.
    tree.civitai_model("nested/deep.api_info.json", "Deep", file_name="sub/deep-file.safetensors")
    tree.model("nested/sub/deep-file.safetensors")
    # Errors and a duplicate claim, reported the same way from a worker.
    tree.write("bad/broken.json", '{"name": "x", "modelVersions": [')
    tree.model("bad/broken.safetensors")
    tree.civitai_model("bad/lonely.api_info.json", "Lonely")
    tree.civitai_model("dup/a.json", "Twin")
    tree.model("dup/a.safetensors")
    tree.civitai_model("dup/b.json", "Twin")
    tree.model("dup/b.safetensors")
    tree.model("orphans/nobody.safetensors")


def import_tree(root: Path, db_path: Path, processes: int) -> tuple[dict, list, list, list]:
    db = DatabaseExecutor(db_path)
    try:
        report = asyncio.run(run_import(db, [root], options=ImportOptions(parse_processes=processes, chunk_size=4)))

        def snapshot():
            adapters = sorted(
                (a.name, a.version, Path(a.file_path).relative_to(root).as_posix(), a.tags, a.triggers)
                for a in Adapter.select()
            )
            files = sorted((f.rel_path, f.adapter_id is not None, f.problem) for f in LibraryFile.select())
            sources = sorted((Path(s.key).relative_to(root).as_posix(), s.status) for s in ImportSource.select())
            return adapters, files, sources

        adapters, files, sources = db.call_sync(snapshot)
    finally:
        db.close()
    data = report.to_json()
    summary = {k: data[k] for k in ("imported", "updated", "unchanged", "failed", "failed_by_class")}
    summary["orphans"] = sorted(Path(p).relative_to(root).as_posix() for p in data["orphans"])
    summary["errors"] = sorted((Path(e["path"]).relative_to(root).as_posix(), e["class"]) for e in data["errors"])
    summary["duplicates"] = len(data["duplicates"])
    return summary, adapters, files, sources


def test_worker_processes_import_exactly_what_threads_import(tmp_path: Path) -> None:
    in_threads = LibraryTree(tmp_path / "threads" / "library")
    in_workers = LibraryTree(tmp_path / "workers" / "library")
    build(in_threads)
    build(in_workers)
    expected = import_tree(in_threads.root, tmp_path / "threads.sqlite3", processes=0)
    got = import_tree(in_workers.root, tmp_path / "workers.sqlite3", processes=2)
    assert got == expected
    summary, adapters, _files, _sources = got
    assert summary["imported"] == 16 and summary["duplicates"] == 1
    assert ("Deep", "v1.0", "nested/sub/deep-file.safetensors") in [a[:3] for a in adapters]
    assert ("bad/broken.json", "invalid_json") in summary["errors"]
    assert summary["orphans"] == ["orphans/nobody.safetensors"]


def test_a_broken_pool_falls_back_to_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class DeadWorkers(import_workers.ParseWorkers):
        def prepare(self, *args, **kwargs):
            future = asyncio.get_running_loop().create_future()
            future.set_exception(import_workers.BrokenProcessPool("a worker died"))
            return future

    monkeypatch.setattr("lora_manager_gui.services.importer.ParseWorkers", DeadWorkers)
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    summary, adapters, _files, _sources = import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2)
    assert summary["imported"] == 16 and len(adapters) == 16


def test_worker_count_follows_size_cores_and_the_option() -> None:
    assert import_workers.worker_count(10, ImportOptions()) == 0  # small imports parse on a thread
    assert import_workers.worker_count(10, ImportOptions(parse_processes=3)) == 3
    assert import_workers.worker_count(10**6, ImportOptions(parse_processes=0)) == 0
    many = import_workers.worker_count(10**6, ImportOptions())
    cores = import_workers.os.cpu_count() or 1
    assert many == (0 if cores < 2 else min(cores, 4))


def test_a_pool_that_cannot_start_falls_back_to_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class UnstartableWorkers(import_workers.ParseWorkers):
        def prepare(self, *args, **kwargs):
            raise OSError("no processes here")

    monkeypatch.setattr("lora_manager_gui.services.importer.ParseWorkers", UnstartableWorkers)
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    summary, adapters, _files, _sources = import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2)
    assert summary["imported"] == 16 and len(adapters) == 16


def test_workers_start_during_a_large_walk_and_are_the_ones_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[import_workers.ParseWorkers] = []
    warmed: list[import_workers.ParseWorkers] = []
    threads: list[threading.Thread] = []

    class CountedWorkers(import_workers.ParseWorkers):
        def __init__(self, count: int) -> None:
            super().__init__(count)
            started.append(self)

        def warm_up(self) -> None:
            warmed.append(self)
            threads.append(threading.current_thread())
            super().warm_up()

    monkeypatch.setattr("lora_manager_gui.services.importer.ParseWorkers", CountedWorkers)
    monkeypatch.setattr("lora_manager_gui.services.importer.PROCESS_THRESHOLD", 5)  # "large": 10 files
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    expected_tree = LibraryTree(tmp_path / "threads" / "library")
    build(expected_tree)
    expected = import_tree(expected_tree.root, tmp_path / "threads.sqlite3", processes=0)
    got = import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2)
    assert got == expected
    assert len(started) == 1 and warmed == started  # started early, during the walk, and then used
    # Starting processes blocks (a fork server starts, ~0.25 s): never on the event loop's thread.
    assert threads and threading.main_thread() not in threads
    # A walk of the same files again: started early, nothing to parse, stopped without waiting.
    db = DatabaseExecutor(tmp_path / "lib.sqlite3")
    try:
        db.call_sync(lambda: Adapter._meta.database.execute_sql("DELETE FROM import_folder"))
        report = asyncio.run(run_import(db, [tree.root], options=ImportOptions(parse_processes=2, chunk_size=4)))
    finally:
        db.close()
    assert report.imported == report.updated == 0 and report.unchanged > 0
    assert len(started) == 2 and started[1]._executor._shutdown_thread
