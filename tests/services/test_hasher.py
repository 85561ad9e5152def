from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.core.tasks import OutcomeStatus, ProblemKind, Progress, Stage
from lora_manager_gui.services.hasher import HashService, is_rotational_device

TINY_SHA256 = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


@pytest.fixture
def hasher(dbx: DatabaseExecutor):
    service = HashService(dbx, workers=4, rotational=lambda dev: False)
    yield service
    service.close()


def _write(path: Path, size: int, fill: int = 7) -> Path:
    path.write_bytes(bytes([fill]) * size)
    return path


def test_hashes_then_serves_from_cache(hasher: HashService, tmp_path: Path, fixtures_dir: Path) -> None:
    tiny = fixtures_dir / "formats" / "tiny_test_lora.safetensors"
    first = asyncio.run(hasher.hash_paths([tiny]))
    second = asyncio.run(hasher.hash_paths([tiny]))
    assert first[0].sha256 == second[0].sha256 == TINY_SHA256
    assert first[0].autov2 == "4802E5DDCA" and first[0].size_bytes == 1106
    assert (first[0].cached, second[0].cached) == (False, True)
    assert hasher.files_hashed == 1


def test_cache_survives_a_new_process(db_path: Path, tmp_path: Path) -> None:
    f = _write(tmp_path / "a.safetensors", 5000)
    code = (
        "import asyncio, json, sys\n"
        "from lora_manager_gui.services.executors import DatabaseExecutor\n"
        "from lora_manager_gui.services.hasher import HashService\n"
        "db = DatabaseExecutor(sys.argv[1]); h = HashService(db, workers=1)\n"
        "r = asyncio.run(h.hash_paths([sys.argv[2]]))[0]\n"
        "print(json.dumps([r.sha256, r.cached, h.files_hashed])); h.close(); db.close()\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code, str(db_path), str(f)], capture_output=True, text=True, check=True)
            for _ in range(2)]
    import json

    first, second = (json.loads(r.stdout) for r in runs)
    expected = hashlib.sha256(f.read_bytes()).hexdigest().upper()
    assert first == [expected, False, 1]
    assert second == [expected, True, 0]


def test_size_change_and_same_size_mtime_change_rehash(hasher: HashService, tmp_path: Path) -> None:
    f = _write(tmp_path / "a.safetensors", 1000)
    asyncio.run(hasher.hash_paths([f]))
    _write(f, 1001)
    changed = asyncio.run(hasher.hash_paths([f]))[0]
    assert not changed.cached and changed.sha256 == hashlib.sha256(b"\x07" * 1001).hexdigest().upper()
    st = f.stat()
    f.write_bytes(b"\x08" * 1001)  # same size, new content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # make sure mtime_ns differs even on coarse clocks
    again = asyncio.run(hasher.hash_paths([f]))[0]
    assert not again.cached and again.sha256 == hashlib.sha256(b"\x08" * 1001).hexdigest().upper()
    assert hasher.files_hashed == 3


def test_same_file_hashed_once_when_asked_concurrently(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    f = _write(tmp_path / "big.safetensors", 3_000_000)
    gate = threading.Event()
    started = threading.Event()

    service = HashService(dbx, workers=4, rotational=lambda dev: False, buffer_size=64 * 1024)
    original = service._hash_file

    def slow(*args, **kwargs):  # hold the first read open until the others have queued on it
        started.set()
        gate.wait(5)
        return original(*args, **kwargs)

    service._hash_file = slow  # type: ignore[method-assign]

    async def main():
        task = asyncio.ensure_future(service.hash_paths([f, f, str(f), f]))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        await asyncio.sleep(0.2)
        gate.set()
        return await task

    try:
        results = asyncio.run(main())
    finally:
        service.close()
    assert {r.sha256 for r in results} == {hashlib.sha256(f.read_bytes()).hexdigest().upper()}
    assert service.files_hashed == 1
    assert sum(not r.cached for r in results) == 1


def test_unreadable_and_missing_files_get_errors_and_the_rest_goes_on(hasher: HashService, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.safetensors", 10)
    locked = _write(tmp_path / "locked.safetensors", 10)
    locked.chmod(0)
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    try:
        results = asyncio.run(hasher.hash_paths([tmp_path / "missing.safetensors", locked, folder, good]))
    finally:
        locked.chmod(0o644)
    missing, unreadable, not_file, ok = results
    assert missing.sha256 is None and missing.error_class == "unreadable" and "missing.safetensors" in missing.error
    if os.geteuid() != 0:  # root reads anything
        assert unreadable.sha256 is None and unreadable.error_class == "unreadable"
        assert "locked.safetensors" in unreadable.error
    assert not_file.error_class == "not_a_file"
    assert ok.sha256 and ok.error is None


def test_file_changing_during_the_read_gets_no_hash(hasher: HashService, tmp_path: Path) -> None:
    f = _write(tmp_path / "growing.safetensors", 200_000)
    hasher.buffer_size = 50_000

    def grow(n: int) -> None:
        with open(f, "ab") as fh:
            fh.write(b"more")

    result = hasher.hash_one_blocking(f, on_bytes=grow)
    assert result.sha256 is None and result.error_class == "changed_while_hashing"
    assert asyncio.run(hasher.hash_paths([f]))[0].sha256  # a later run hashes the settled file


def test_cancel_stops_the_run_and_marks_the_rest(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{i}.safetensors", 400_000, i) for i in range(6)]
    cancel = threading.Event()
    service = HashService(dbx, workers=1, rotational=lambda dev: False, buffer_size=4096)
    original = service._hash_file

    def then_cancel(*args, **kwargs):  # the user presses cancel once the first file is done
        result = original(*args, **kwargs)
        cancel.set()
        return result

    service._hash_file = then_cancel  # type: ignore[method-assign]
    try:
        results = asyncio.run(service.hash_paths(files, cancel=cancel))
    finally:
        service.close()
    assert results[0].sha256 is not None
    assert all(r.error_class == "cancelled" and r.sha256 is None for r in results[1:])
    assert service.files_hashed == 1
    assert results.problems == []  # cancelled files are not problems: the outcome says cancelled
    assert results.outcome(cancelled=True).status is OutcomeStatus.CANCELLED
    assert results.outcome().status is OutcomeStatus.CANCELLED


def test_cancel_stops_a_read_between_buffers(hasher: HashService, tmp_path: Path) -> None:
    f = _write(tmp_path / "big.safetensors", 1_000_000)
    hasher.buffer_size = 10_000
    cancel = threading.Event()
    reads: list[int] = []

    def on_bytes(n: int) -> None:
        reads.append(n)
        if len(reads) == 3:
            cancel.set()

    result = hasher.hash_one_blocking(f, cancel=cancel, on_bytes=on_bytes)
    assert result.sha256 is None and result.error_class == "cancelled" and len(reads) == 3
    assert hasher.hash_one_blocking(f).sha256  # nothing half-done was cached


def test_progress_reports_files_and_bytes_as_task_progress(hasher: HashService, tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{i}.safetensors", 100_000, i) for i in range(5)]
    seen: list[Progress] = []
    report = asyncio.run(hasher.hash_paths(files, progress=seen.append))
    assert all(isinstance(p, Progress) and p.stage is Stage.HASH for p in seen)
    first, last = seen[0], seen[-1]
    assert (first.done, first.total, first.bytes_done, first.bytes_total) == (0, 5, 0, 500_000)  # forced first
    assert (last.done, last.total, last.bytes_done, last.bytes_total) == (5, 5, 500_000, 500_000)  # forced last
    assert report.outcome().status is OutcomeStatus.DONE and report.outcome().changes.hashes
    again: list[Progress] = []
    cached = asyncio.run(hasher.hash_paths(files, progress=again.append))
    assert (again[-1].done, again[-1].bytes_total) == (5, 0)  # cache hits are taken out of the bytes to read
    assert not cached.outcome().changes.hashes


def test_the_report_lists_classified_problems(hasher: HashService, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.safetensors", 10)
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    report = asyncio.run(hasher.hash_paths([tmp_path / "missing.safetensors", folder, good]))
    assert [(p.kind, Path(p.path).name) for p in report.problems] == [
        (ProblemKind.UNREADABLE, "missing.safetensors"), (ProblemKind.NOT_A_REGULAR_FILE, "folder.safetensors")]
    outcome = report.outcome()
    assert outcome.status is OutcomeStatus.DONE_WITH_PROBLEMS and (outcome.done, outcome.problems) == (1, 2)
    assert len(report) == 3 and report[2].ok and [r.ok for r in report] == [False, False, True]


def test_one_stream_per_rotational_disk(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{i}.safetensors", 300_000, i) for i in range(6)]
    active = 0
    peak = 0
    lock = threading.Lock()
    service = HashService(dbx, workers=4, rotational=lambda dev: True, buffer_size=8192, batch_files=1)

    original = service._hash_file

    def counting(*args, **kwargs):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                active -= 1

    service._hash_file = counting  # type: ignore[method-assign]
    try:
        results = asyncio.run(service.hash_paths(files))
    finally:
        service.close()
    assert all(r.ok for r in results)
    assert peak == 1


def test_rotational_probe_treats_unknown_devices_as_solid_state() -> None:
    assert is_rotational_device(0) is False  # no such block device


def test_many_small_files_take_few_hand_offs_and_cache_transactions(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    files = [_write(tmp_path / f"s{i:03d}.safetensors", 100 + i, i % 251) for i in range(200)]
    updates: list[Progress] = []
    service = HashService(dbx, workers=2, rotational=lambda dev: False, progress_interval=0.01)
    try:
        results = asyncio.run(service.hash_paths(files, progress=updates.append))
    finally:
        service.close()
    assert [r.sha256 for r in results] == [hashlib.sha256(f.read_bytes()).hexdigest().upper() for f in files]
    assert service.files_hashed == 200
    # 200 files in batches of BATCH_FILES: a handful of pool tasks and as many transactions, not 200
    assert service.submissions <= 1 + -(-200 // 64) and service.cache_writes <= -(-200 // 64)
    assert updates[-1].done == 200 and updates[-1].bytes_done == sum(f.stat().st_size for f in files)
    again = HashService(dbx, workers=2, rotational=lambda dev: False)
    try:
        cached = asyncio.run(again.hash_paths(files))
    finally:
        again.close()
    assert all(r.cached for r in cached) and again.files_hashed == 0
    assert again.submissions == 1 and again.cache_writes == 0  # one stat + cache look-up pass


def test_cancel_inside_a_batch_stops_before_the_next_file(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    files = [_write(tmp_path / f"c{i}.safetensors", 1000, i) for i in range(10)]
    cancel = threading.Event()
    service = HashService(dbx, workers=1, rotational=lambda dev: False)
    original = service._hash_file
    seen = 0

    def cancel_after_three(*args, **kwargs):
        nonlocal seen
        result = original(*args, **kwargs)
        seen += 1
        if seen == 3:
            cancel.set()
        return result

    service._hash_file = cancel_after_three  # type: ignore[method-assign]
    try:
        results = asyncio.run(service.hash_paths(files, cancel=cancel))
    finally:
        service.close()
    assert [r.ok for r in results] == [True] * 3 + [False] * 7
    assert all(r.error_class == "cancelled" for r in results[3:])
    cached = HashService(dbx, workers=1, rotational=lambda dev: False)
    try:
        again = asyncio.run(cached.hash_paths(files[:3]))
    finally:
        cached.close()
    assert all(r.cached for r in again)  # the batch's finished files were stored


def test_two_workers_read_two_files_at_once_on_solid_state(dbx: DatabaseExecutor, tmp_path: Path) -> None:
    # Nothing serializes the workers (no lane, no lock): both files are open at the same moment.
    files = [_write(tmp_path / f"p{i}.safetensors", 200_000, i) for i in range(2)]
    both = threading.Barrier(2, timeout=10)
    service = HashService(dbx, workers=2, rotational=lambda dev: False, batch_files=1)
    original = service._hash_file

    def meet(*args, **kwargs):
        both.wait()  # breaks (and fails the run) if the second file waits for the first
        return original(*args, **kwargs)

    service._hash_file = meet  # type: ignore[method-assign]
    try:
        results = asyncio.run(service.hash_paths(files))
    finally:
        service.close()
    assert all(r.ok for r in results) and service.files_hashed == 2
