"""Hashing many files in a thread pool, through the persistent cache.

- Workers: configurable, default from the CPU count; never more than one read stream per rotational
  disk (hard disks thrash when read in parallel), detected from /sys on Linux and injectable.
- The same file asked for twice at once is read once (in-flight de-duplication).
- Cancellable between two buffers; progress (`core.tasks.Progress`, stage HASH: files and bytes)
  throttled and delivered on the event loop thread; an unreadable file gets an error result and a
  classified `ItemProblem`, and the rest goes on. `hash_paths` returns a `HashReport`: the results
  in order (it iterates and indexes like the list it used to be), `problems` and `outcome()`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace


from lora_manager_gui.core.cancel import AnyFlag, CancelFlag, any_of
from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.hashing import (
    BUFFER_SIZE,
    CachedHash,
    HashingCancelledError,
    absolute_path,
    autov2,
    autov3_file,
    sha256_file_stat,
)
from lora_manager_gui.core.tasks import Progress, ProgressSink, ProgressThrottle, Stage
from lora_manager_gui.db import hash_cache
from lora_manager_gui.db.fields import utc_now
from lora_manager_gui.services.hash_results import HashReport, HashResult, problem_kind  # noqa: F401
from lora_manager_gui.services.hash_results import error_result as _error
from lora_manager_gui.services.executors import DatabaseExecutor, default_workers

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25


RotationalProbe = Callable[[int], bool]


def is_rotational_device(st_dev: int) -> bool:
    """True when `st_dev` lives on a spinning disk (Linux /sys); unknown counts as non-rotational."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        real = os.path.realpath(f"/sys/dev/block/{os.major(st_dev)}:{os.minor(st_dev)}")
    except (OSError, ValueError):
        return False
    for candidate in (real, os.path.dirname(real)):  # a partition has no queue/, its disk has
        try:
            with open(os.path.join(candidate, "queue", "rotational"), encoding="ascii") as fh:
                return fh.read().strip() == "1"
        except OSError:
            continue
    return False


class _Tracker:
    """Counters shared by the workers (under a lock) and read by the progress reporter."""

    def __init__(self, files_total: int, bytes_total: int) -> None:
        self.lock = threading.Lock()
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = self.bytes_done = self.cached = self.failed = 0
        self.version = 0

    def add_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes_done += n
            self.version += 1

    def file_done(self, result: HashResult, read: int, planned: int) -> None:
        with self.lock:
            self.files_done += 1
            if result.cached:
                self.cached += 1
                self.bytes_total -= planned
            elif not result.ok:
                self.failed += 1
                self.bytes_total -= planned
                self.bytes_done -= read
            self.version += 1

    def snapshot(self) -> Progress:
        with self.lock:
            return Progress(Stage.HASH, self.files_done, self.files_total, self.bytes_done,
                            max(self.bytes_total, 0), problems=self.failed)


class HashService:
    """SHA-256 of model files through the cache; one instance shared by the app."""

    def __init__(
        self,
        db: DatabaseExecutor,
        workers: int | None = None,
        *,
        rotational: RotationalProbe | None = None,
        buffer_size: int = BUFFER_SIZE,
        progress_interval: float = PROGRESS_INTERVAL_S,
    ) -> None:
        self.db = db
        self.workers = max(1, workers or default_workers())
        self.buffer_size = buffer_size
        self.progress_interval = progress_interval
        self._probe = rotational or is_rotational_device
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lora-hash")
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[HashResult]] = {}
        self._device_locks: dict[int, threading.Lock] = {}
        self._rotational: dict[int, bool] = {}
        self._closing = threading.Event()
        self.files_hashed = 0  # files actually read (not served from the cache)
        self.bytes_hashed = 0

    # -- blocking API (worker threads only) ------------------------------------------------------

    def rotational(self, st_dev: int) -> bool:
        with self._lock:
            known = self._rotational.get(st_dev)
        if known is None:
            known = bool(self._probe(st_dev))
            with self._lock:
                self._rotational[st_dev] = known
        return known

    def _device_lock(self, st_dev: int) -> threading.Lock | None:
        if not self.rotational(st_dev):
            return None
        with self._lock:
            return self._device_locks.setdefault(st_dev, threading.Lock())

    def hash_one_blocking(
        self,
        path: str | os.PathLike[str],
        *,
        cancel: CancelFlag | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> HashResult:
        """Hash one file through the cache. Call from worker threads only, never the event loop."""
        key = absolute_path(path)
        try:
            st = os.stat(key)
        except OSError as exc:
            return _error(key, 0, "unreadable", f"{key}: cannot read the file: {exc.strerror or exc}")
        if not os.path.isfile(key):
            return _error(key, 0, "not_a_file", f"{key}: not a regular file")
        hit = self.db.call_sync(hash_cache.get, key, st.st_size, st.st_mtime_ns)
        if hit is not None:
            return HashResult(key, hit.sha256, autov2(hit.sha256), hit.size_bytes, True, mtime_ns=hit.mtime_ns)
        with self._lock:
            future = self._inflight.get(key)
            owner = future is None
            if owner:
                future = Future()
                self._inflight[key] = future
        assert future is not None
        if not owner:
            return self._wait_for(future, key, st.st_size, cancel)
        result = _error(key, st.st_size, "cancelled", f"{key}: hashing was cancelled")
        try:
            result = self._hash_and_store(key, st.st_size, st.st_mtime_ns, st.st_dev, cancel, on_bytes)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_result(result)
        return result

    def _wait_for(self, future: Future[HashResult], key: str, size: int, cancel: CancelFlag | None) -> HashResult:
        while True:
            if self._stopping(cancel):
                return _error(key, size, "cancelled", f"{key}: hashing was cancelled")
            try:
                done = future.result(timeout=0.1)
                return replace(done, path=key, cached=done.ok)
            except TimeoutError:
                continue

    def _stopping(self, cancel: CancelFlag | None) -> bool:
        return AnyFlag(self._closing, cancel).is_set() if cancel is not None else self._closing.is_set()

    def _hash_and_store(
        self, key: str, size: int, mtime_ns: int, st_dev: int,
        cancel: CancelFlag | None, on_bytes: Callable[[int], None] | None,
    ) -> HashResult:
        lock = self._device_lock(st_dev)
        try:
            if lock is not None:
                while not lock.acquire(timeout=0.1):
                    if self._stopping(cancel):
                        raise HashingCancelledError(key)
            try:
                sha, size, mtime_ns = sha256_file_stat(
                    key, buffer_size=self.buffer_size, progress=on_bytes, cancel=lambda: self._stopping(cancel)
                )
            finally:
                if lock is not None:
                    lock.release()
        except HashingCancelledError as exc:
            return _error(key, size, exc.error_class, str(exc))
        except FileProblemError as exc:
            log.warning("hashing failed: %s", exc)
            return _error(key, size, exc.error_class, str(exc))
        with self._lock:
            self.files_hashed += 1
            self.bytes_hashed += size
        entry = CachedHash(key, size, mtime_ns, sha, None, utc_now())
        try:
            self.db.call_sync(hash_cache.put, entry)
        except Exception as exc:  # the hash is still right; only the cache write failed
            log.warning("could not store the hash of %s in the cache: %s", key, exc)
        return HashResult(key, sha, autov2(sha), size, False, mtime_ns=mtime_ns)

    def autov3_blocking(self, path: str | os.PathLike[str], *, cancel: CancelFlag | None = None) -> str | None:
        """AutoV3 through the cache (computed once per file version). Raises FileProblemError."""
        key = absolute_path(path)
        try:
            st = os.stat(key)
        except OSError as exc:
            from lora_manager_gui.core.errors import UnreadableFileError

            raise UnreadableFileError(key, f"cannot read the file: {exc.strerror or exc}") from exc
        hit = self.db.call_sync(hash_cache.get, key, st.st_size, st.st_mtime_ns)
        if hit is not None and hit.autov3_checked:
            return hit.autov3
        lock = self._device_lock(st.st_dev)
        if lock is not None:
            lock.acquire()
        try:
            value = autov3_file(key, buffer_size=self.buffer_size, cancel=lambda: self._stopping(cancel))
        finally:
            if lock is not None:
                lock.release()
        self.db.call_sync(hash_cache.set_autov3, key, st.st_size, st.st_mtime_ns, value)
        return value

    # -- async API (event loop) -----------------------------------------------------------------

    async def hash_one(self, path: str | os.PathLike[str]) -> HashResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.hash_one_blocking, path)

    async def autov3(self, path: str | os.PathLike[str]) -> str | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.autov3_blocking, path)

    async def hash_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        progress: ProgressSink | None = None,
        cancel: CancelFlag | None = None,
    ) -> HashReport:
        """Hash every path (cache first). One result per path, in order; errors are results too.

        With `cancel` set (or the awaiting task cancelled) the reads stop between two buffers; files
        not finished get error_class 'cancelled'.
        """
        loop = asyncio.get_running_loop()
        keys = [absolute_path(p) for p in paths]
        stop = threading.Event()

        flag = any_of(stop, cancel)  # never None: `stop` is there
        stats = await loop.run_in_executor(self._pool, _stat_all, keys)
        results: list[HashResult | None] = [None] * len(keys)
        lanes: dict[int | None, deque[int]] = {}
        bytes_total = 0
        for index, st in enumerate(stats):
            if isinstance(st, str):
                results[index] = _error(keys[index], 0, "unreadable", st)
                continue
            bytes_total += st[0]
            device = st[1] if self.rotational(st[1]) else None
            lanes.setdefault(device, deque()).append(index)
        tracker = _Tracker(len(keys), bytes_total)
        for r in results:
            if r is not None:
                tracker.file_done(r, 0, 0)

        async def consume(queue: deque[int]) -> None:
            while queue and not flag.is_set():
                index = queue.popleft()
                planned = stats[index][0]  # type: ignore[index]
                read = [0]

                def on_bytes(n: int) -> None:
                    read[0] += n
                    tracker.add_bytes(n)

                result = await loop.run_in_executor(
                    self._pool, lambda k=keys[index], cb=on_bytes: self.hash_one_blocking(k, cancel=flag, on_bytes=cb)
                )
                results[index] = result
                tracker.file_done(result, read[0], planned)

        consumers = []
        for device, indexes in lanes.items():
            count = 1 if device is not None else self.workers
            consumers.extend(consume(indexes) for _ in range(min(count, len(indexes))))
        throttle = ProgressThrottle(progress, self.progress_interval * 0.8)
        throttle(tracker.snapshot(), force=True)
        reporter = asyncio.ensure_future(self._report(tracker, throttle)) if progress else None
        try:
            await asyncio.gather(*consumers)
        except BaseException:
            stop.set()
            raise
        finally:
            if reporter is not None:
                reporter.cancel()
        throttle(tracker.snapshot(), force=True)
        return HashReport([
            r if r is not None else _error(keys[i], 0, "cancelled", f"{keys[i]}: hashing was cancelled")
            for i, r in enumerate(results)
        ])

    async def _report(self, tracker: _Tracker, throttle: ProgressThrottle) -> None:
        seen = -1
        while True:
            await asyncio.sleep(self.progress_interval)
            if tracker.version != seen:
                seen = tracker.version
                throttle(tracker.snapshot())

    def close(self) -> None:
        """Stop running reads at the next buffer and wait for the workers."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _stat_all(keys: Sequence[str]) -> list[tuple[int, int] | str]:
    out: list[tuple[int, int] | str] = []
    for key in keys:
        try:
            st = os.stat(key)
        except OSError as exc:
            out.append(f"{key}: cannot read the file: {exc.strerror or exc}")
            continue
        out.append((st.st_size, st.st_dev))
    return out
