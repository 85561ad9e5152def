"""The import's parse step in worker processes gives exactly what the thread path gives."""
from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.core.tasks import Stage
from lora_manager_gui.db import import_store
from lora_manager_gui.db.models import Adapter, ImportSource, LibraryFile
from lora_manager_gui.services import import_walk, import_workers
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


def import_tree(root: Path, db_path: Path, processes: int, chunk_size: int = 4) -> tuple[dict, list, list, list]:
    db = DatabaseExecutor(db_path)
    try:
        report = asyncio.run(run_import(db, [root], options=ImportOptions(parse_processes=processes, chunk_size=chunk_size)))

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


def unhurried(scan_root, pause_s: float):
    """`scan_root`, pausing after each folder it hands over: a walk of a few local files ends in
    ~10 ms, maybe before the loop has seen that workers are wanted (the walk is then imported the
    usual way); a share is never that quick."""
    def walk(root, options, walk=None):
        on_folder = walk.on_folder if walk is not None else None
        if on_folder is not None:
            def slower(groups, models):
                on_folder(groups, models)
                time.sleep(pause_s)

            walk = dataclasses.replace(walk, on_folder=slower)
        return scan_root(root, options, walk)

    return walk


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

    monkeypatch.setattr("lora_manager_gui.services.import_workers.ParseWorkers", DeadWorkers)
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

    monkeypatch.setattr("lora_manager_gui.services.import_workers.ParseWorkers", UnstartableWorkers)
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

    monkeypatch.setattr("lora_manager_gui.services.import_workers.ParseWorkers", CountedWorkers)
    monkeypatch.setattr("lora_manager_gui.services.import_workers.PROCESS_THRESHOLD", 5)  # "large": 10 files
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
    assert import_workers._kept is started[0] and started[0].usable()  # idle, kept for the next import
    # Without kept workers, a walk of the same files again: started early, nothing to parse, kept idle.
    import_workers.stop_kept_workers()
    assert not started[0].usable()
    db = DatabaseExecutor(tmp_path / "lib.sqlite3")
    try:
        db.call_sync(lambda: Adapter._meta.database.execute_sql("DELETE FROM import_folder"))
        report = asyncio.run(run_import(db, [tree.root], options=ImportOptions(parse_processes=2, chunk_size=4)))
    finally:
        db.close()
    assert report.imported == report.updated == 0 and report.unchanged > 0
    assert len(started) == 2 and import_workers._kept is started[1] and started[1].usable()


class CountedWorkers(import_workers.ParseWorkers):
    started: list[import_workers.ParseWorkers] = []

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.started.append(self)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[import_workers.ParseWorkers]:
    """Imports of the small test trees use worker processes; the pools they start, in order."""
    monkeypatch.setattr("lora_manager_gui.services.import_workers.PROCESS_THRESHOLD", 5)
    monkeypatch.setattr(CountedWorkers, "started", [])
    monkeypatch.setattr("lora_manager_gui.services.import_workers.ParseWorkers", CountedWorkers)
    return CountedWorkers.started


def test_the_workers_of_an_import_parse_the_next_one(tmp_path: Path, counted: list) -> None:
    first = LibraryTree(tmp_path / "first")
    build(first)
    import_tree(first.root, tmp_path / "first.sqlite3", processes=2)
    assert len(counted) == 1
    processes = dict(counted[0]._executor._processes)
    assert len(processes) == 2
    second = LibraryTree(tmp_path / "second")  # another root, another library: all of it parsed
    build(second)
    expected_tree = LibraryTree(tmp_path / "threads" / "library")
    build(expected_tree)
    got = import_tree(second.root, tmp_path / "second.sqlite3", processes=2)
    assert got == import_tree(expected_tree.root, tmp_path / "threads.sqlite3", processes=0)
    assert len(counted) == 1 and counted[0]._executor._processes == processes  # the same two processes
    assert all(p.is_alive() for p in processes.values())
    # Another number of workers: the kept ones do not fit, so they are stopped and others started.
    third = LibraryTree(tmp_path / "third")
    build(third)
    import_tree(third.root, tmp_path / "third.sqlite3", processes=1)
    assert len(counted) == 2 and counted[1].count == 1 and not counted[0].usable()


def test_kept_workers_unused_for_a_while_are_stopped(tmp_path: Path, counted: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_workers, "KEEP_IDLE_S", 0.2)
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2)
    assert len(counted) == 1
    processes = list(counted[0]._executor._processes.values())
    deadline = time.monotonic() + 20
    while import_workers._kept is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert import_workers._kept is None and not counted[0].usable()
    for process in processes:
        process.join(timeout=20)
    assert not any(p.is_alive() for p in processes)


def test_kept_workers_that_died_are_not_used(tmp_path: Path, counted: list) -> None:
    import os
    import signal

    first = LibraryTree(tmp_path / "first")
    build(first)
    import_tree(first.root, tmp_path / "first.sqlite3", processes=2)
    dead = counted[0]
    for pid in list(dead._executor._processes):
        os.kill(pid, signal.SIGKILL)
    second = LibraryTree(tmp_path / "second")
    build(second)
    expected_tree = LibraryTree(tmp_path / "threads" / "library")
    build(expected_tree)
    got = import_tree(second.root, tmp_path / "second.sqlite3", processes=2)
    assert got == import_tree(expected_tree.root, tmp_path / "threads.sqlite3", processes=0)
    assert import_workers._kept is not dead and not dead.usable()


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch):
    """Imports of the small test trees behave like large ones: 10 files make a walk 'large'."""
    monkeypatch.setattr("lora_manager_gui.services.import_workers.PROCESS_THRESHOLD", 5)


def test_a_new_library_is_stored_while_it_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streaming) -> None:

    stored_while_walking: list[bool] = []
    walk_done = threading.Event()
    first_store = threading.Event()
    original_scan, original_store = import_walk.scan_root, import_store.store_import_chunk

    def slow_walk(root, options, walk=None):
        on_folder = walk.on_folder if walk is not None else None
        seen = [0]

        def held(groups, models):
            on_folder(groups, models)
            seen[0] += 1
            if seen[0] == 6:  # the walk goes on only once something it found has been stored
                first_store.wait(timeout=20)

        if on_folder is not None:
            walk = dataclasses.replace(walk, on_folder=held)
        try:
            return original_scan(root, options, walk)
        finally:
            walk_done.set()

    def store(items, **kwargs):
        stored_while_walking.append(not walk_done.is_set())
        first_store.set()
        return original_store(items, **kwargs)

    monkeypatch.setattr(import_walk, "scan_root", slow_walk)
    monkeypatch.setattr(import_store, "store_import_chunk", store)
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    expected_tree = LibraryTree(tmp_path / "threads" / "library")
    build(expected_tree)
    got = import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2)
    monkeypatch.setattr(import_walk, "scan_root", original_scan)
    expected = import_tree(expected_tree.root, tmp_path / "threads.sqlite3", processes=0)
    assert got == expected  # the same library, errors, orphans and duplicates as a walk-then-parse import
    assert stored_while_walking[0] is True and stored_while_walking[-1] is False
    assert ("Deep", "v1.0", "nested/sub/deep-file.safetensors") in [a[:3] for a in got[1]]  # parsed after the walk


@pytest.mark.parametrize("chunk_size", [8, 20, 100])
def test_folders_handed_over_in_batches_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streaming,
                                                     caplog: pytest.LogCaptureFixture, chunk_size: int) -> None:
    """A walk hands its folders to the pipeline a quarter chunk at a time (2, 5 or 25 groups here,
    from folders of 1 to 5 groups): the folders of a batch not yet full when the walk ends (none,
    the last folder's 4 groups, all 19) are imported too."""
    import logging


    original_scan = import_walk.scan_root
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    expected_tree = LibraryTree(tmp_path / "threads" / "library")
    build(expected_tree)
    monkeypatch.setattr(import_walk, "scan_root", unhurried(original_scan, 0.03))  # so that the import streams
    with caplog.at_level(logging.INFO, logger="lora_manager_gui.services"):
        got = import_tree(tree.root, tmp_path / "lib.sqlite3", processes=2, chunk_size=chunk_size)
    assert any("while it is walked" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(import_walk, "scan_root", original_scan)
    expected = import_tree(expected_tree.root, tmp_path / "threads.sqlite3", processes=0)
    assert got == expected
    assert len(got[3]) == 19  # every group has its import_source row


def test_cancelling_while_walking_and_storing_keeps_what_was_stored(tmp_path: Path, counted: list) -> None:
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    cancel = threading.Event()

    def progress(p) -> None:
        if p.stage is Stage.STORE and p.done:
            cancel.set()

    db = DatabaseExecutor(tmp_path / "lib.sqlite3")
    try:
        options = ImportOptions(parse_processes=2, chunk_size=2)
        report = asyncio.run(run_import(db, [tree.root], options=options, cancel=cancel, progress=progress))
        assert report.cancelled
        # A worker may still be busy with a chunk: the workers of a cancelled import are not kept.
        assert counted and import_workers._kept is None and not any(w.usable() for w in counted)
        assert 0 < db.call_sync(lambda: ImportSource.select().count()) < 19  # some of the 19 groups, whole
        assert db.call_sync(lambda: Adapter._meta.database.execute_sql("SELECT COUNT(*) FROM import_folder").fetchone()[0]) == 0
        rest = asyncio.run(run_import(db, [tree.root], options=options))
        assert report.imported + rest.imported == 16 and not rest.cancelled
        assert db.call_sync(lambda: ImportSource.select().count()) == 19
    finally:
        db.close()


def test_a_failing_store_stops_the_walk_and_reports_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streaming) -> None:
    from lora_manager_gui.core.errors import DatabaseError

    def broken(items, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(import_store, "store_import_chunk", broken)
    tree = LibraryTree(tmp_path / "library")
    build(tree)
    db = DatabaseExecutor(tmp_path / "lib.sqlite3")
    try:
        with pytest.raises(DatabaseError, match="disk full"):
            asyncio.run(run_import(db, [tree.root], options=ImportOptions(parse_processes=2, chunk_size=2)))
        assert db.call_sync(lambda: Adapter.select().count()) == 0
    finally:
        db.close()


def test_with_the_fork_server_up_a_new_root_streams_after_fewer_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """The real thresholds: a new root of ~700 files is too small to start a fork server for, but
    once one runs (started by an earlier large import), its folders go to workers as it is walked."""
    import logging


    tree = LibraryTree(tmp_path / "library")
    for i in range(350):
        tree.write(f"f{i % 7}/m{i:03d}.json", {"description": f"d{i}", "activation text": f"w{i}"})
        tree.model(f"f{i % 7}/m{i:03d}.safetensors")
    assert 2 * import_workers.PROCESS_THRESHOLD > 700 > import_workers.WARM_STREAM_FILES
    monkeypatch.setattr(import_walk, "scan_root", unhurried(import_walk.scan_root, 0.05))

    def run(db_name: str) -> tuple[int, bool]:
        caplog.clear()
        db = DatabaseExecutor(tmp_path / db_name)
        try:
            with caplog.at_level(logging.INFO, logger="lora_manager_gui.services"):
                report = asyncio.run(run_import(db, [tree.root], options=ImportOptions(parse_processes=2)))
        finally:
            db.close()
        return report.imported, any("while it is walked" in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(import_workers, "_fork_server_up", False)
    assert run("cold.sqlite3") == (350, False)  # walked first, then parsed
    monkeypatch.setattr(import_workers, "_fork_server_up", True)
    assert run("warm.sqlite3") == (350, True)


def test_a_lease_keeps_idle_workers_for_the_next_pipeline_and_stops_busy_ones() -> None:
    async def go() -> None:
        async with import_workers.WorkerLease(ImportOptions(parse_processes=1)) as lease:
            async with lease.lend(0) as none:
                assert none.workers is None  # parsing in threads
            async with lease.lend(1) as first:
                assert first.workers is not None and first.workers.usable()
                first.idle = True  # it parsed all it had
            assert import_workers._kept is first.workers
            async with lease.lend(1) as second:
                assert second.workers is first.workers  # the kept pool, not a new one
            # Not idle (cancelled, failed): a worker may be busy, so the pool is stopped.
            assert import_workers._kept is None and not second.workers.usable()

    asyncio.run(go())
