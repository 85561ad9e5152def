"""Hashing many files in a thread pool, through the persistent cache.

- Workers: configurable, default from the CPU count; never more than one read stream per rotational
  disk (hard disks thrash when read in parallel), detected from /sys on Linux and injectable.
- The same file asked for twice at once is read once (in-flight de-duplication).
- Batched (services/hash_plan.py): `hash_paths` looks the cache up in one database call, hands the workers batches of
  files (a batch holds up to BATCH_FILES files or BATCH_BYTES bytes; a large file is a batch of
  its own) and writes each batch's hashes in one transaction, so 10,000 small files cost a few
  hundred hand-offs, not 10,000 (the counters `submissions` and `cache_writes` say how many).
- Cancellable between two buffers; progress (`core.tasks.Progress`, stage HASH: files and bytes)
  throttled and delivered on the event loop thread; an unreadable file gets an error result and a
  classified `ItemProblem`, and the rest goes on. `hash_paths` returns a `HashReport`: the results
  in order (it iterates and indexes like the list it used to be), `problems` and `outcome()`.
"""
from __future__ import annotations

import asyncio
import logging
import os
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
from lora_manager_gui.core.tasks import ProgressSink, ProgressThrottle
from lora_manager_gui.db import hash_cache
from lora_manager_gui.db.fields import utc_now
from lora_manager_gui.services.hash_plan import (  # noqa: F401 (is_rotational_device: the public name)
    Batch,
    FileStat,
    RotationalProbe,
    Tracker,
    is_rotational_device,
    plan,
    stat_all,
)
from lora_manager_gui.services.hash_results import HashReport, HashResult
from lora_manager_gui.services.hash_results import error_result as _error
from lora_manager_gui.services.executors import DatabaseExecutor, default_workers

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25
BATCH_FILES = 64  # files per hand-off to a worker, and per cache transaction
BATCH_BYTES = 16 * 1024 * 1024  # ... or this many bytes: a large file goes alone


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
        batch_files: int = BATCH_FILES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.db = db
        self.workers = max(1, workers or default_workers())
        self.buffer_size = buffer_size
        self.progress_interval = progress_interval
        self.batch_files = max(1, batch_files)
        self.batch_bytes = batch_bytes
        self._probe = rotational or is_rotational_device
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lora-hash")
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[HashResult]] = {}
        self._device_locks: dict[int, threading.Lock] = {}
        self._rotational: dict[int, bool] = {}
        self._closing = threading.Event()
        self.files_hashed = 0  # files actually read (not served from the cache)
        self.bytes_hashed = 0
        self.submissions = 0  # tasks `hash_paths` handed to the pool (batches, and the stat pass)
        self.cache_writes = 0  # database calls that stored hashes (one per batch)

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
        future, owner = self._claim(key)
        if not owner:
            return self._wait_for(future, key, st.st_size, cancel)
        result, entry = self._read_owned(key, future, st.st_size, st.st_dev, cancel, on_bytes)
        if entry is not None:
            self._store([entry])
        return result

    def _claim(self, key: str) -> tuple[Future[HashResult], bool]:
        """The in-flight future for `key`, and whether this caller owns (must compute) it."""
        with self._lock:
            future = self._inflight.get(key)
            if future is not None:
                return future, False
            future = Future()
            self._inflight[key] = future
            return future, True

    def _read_owned(
        self, key: str, future: Future[HashResult], size: int, st_dev: int,
        cancel: CancelFlag | None, on_bytes: Callable[[int], None] | None,
    ) -> tuple[HashResult, CachedHash | None]:
        """Read the file this caller claimed; resolve its future. The entry to cache, if any."""
        result: HashResult | None = None
        entry: CachedHash | None = None
        try:
            result, entry = self._hash_file(key, size, st_dev, cancel, on_bytes)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            if result is None:  # interrupted by an exception: the waiters see it cancelled
                result = _error(key, size, "cancelled", f"{key}: hashing was cancelled")
            future.set_result(result)
        return result, entry

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

    def _hash_file(
        self, key: str, size: int, st_dev: int,
        cancel: CancelFlag | None, on_bytes: Callable[[int], None] | None,
    ) -> tuple[HashResult, CachedHash | None]:
        lock = self._device_lock(st_dev)
        stopping = AnyFlag(self._closing, cancel).is_set if cancel is not None else self._closing.is_set
        try:
            if lock is not None:
                while not lock.acquire(timeout=0.1):
                    if stopping():
                        raise HashingCancelledError(key)
            try:
                sha, size, mtime_ns = sha256_file_stat(key, buffer_size=self.buffer_size, progress=on_bytes,
                                                       cancel=stopping)
            finally:
                if lock is not None:
                    lock.release()
        except HashingCancelledError as exc:
            return _error(key, size, exc.error_class, str(exc)), None
        except FileProblemError as exc:
            log.warning("hashing failed: %s", exc)
            return _error(key, size, exc.error_class, str(exc)), None
        with self._lock:
            self.files_hashed += 1
            self.bytes_hashed += size
        entry = CachedHash(key, size, mtime_ns, sha, None, utc_now())
        return HashResult(key, sha, autov2(sha), size, False, mtime_ns=mtime_ns), entry

    def _store(self, entries: list[CachedHash]) -> None:
        """Write hashes to the cache in one transaction; a failure loses the cache entries only."""
        if not entries:
            return
        with self._lock:
            self.cache_writes += 1
        try:
            self.db.call_sync(hash_cache.put_many, entries)
        except Exception as exc:  # the hashes are still right; only the cache write failed
            log.warning("could not store %d hash(es) in the cache: %s", len(entries), exc)

    def _hash_batch(self, batch: Batch, flag: CancelFlag, tracker: Tracker) -> list[HashResult | None]:
        """Hash a batch of files on one worker: cancellation checked before each file (and between
        buffers), progress per file and per buffer, the batch's hashes stored in one transaction.
        None for a file not started because the run was cancelled."""
        out: list[HashResult | None] = []
        entries: list[CachedHash] = []
        try:
            for _, key, st in batch:
                if self._stopping(flag):
                    out.append(None)
                    continue
                future, owner = self._claim(key)
                read = 0
                if owner:
                    def on_bytes(n: int) -> None:
                        nonlocal read
                        read += n
                        tracker.add_bytes(n)

                    result, entry = self._read_owned(key, future, st.size, st.dev, flag, on_bytes)
                    if entry is not None:
                        entries.append(entry)
                else:
                    result = self._wait_for(future, key, st.size, flag)
                out.append(result)
                tracker.file_done(result, read, st.size)
        finally:
            self._store(entries)
        return out

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
        self.submissions += 1
        stats, hits = await loop.run_in_executor(self._pool, self._stat_and_look_up, keys)
        todo = plan(keys, stats, hits, self.rotational, batch_files=self.batch_files, batch_bytes=self.batch_bytes)
        results = todo.results
        tracker = Tracker(len(keys) - len(todo.copies), todo.bytes_total)
        for r in results:
            if r is not None:
                tracker.file_done(r, 0, 0)

        async def consume(queue: deque[Batch]) -> None:
            while queue and not flag.is_set():
                batch = queue.popleft()
                self.submissions += 1
                done = await loop.run_in_executor(self._pool, self._hash_batch, batch, flag, tracker)
                for (i, _, _), result in zip(batch, done):
                    results[i] = result

        consumers = []
        for device, batches in todo.lanes.items():
            count = 1 if device is not None else self.workers
            consumers.extend(consume(batches) for _ in range(min(count, len(batches))))
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
        todo.fill_copies()
        throttle(tracker.snapshot(), force=True)
        return HashReport([
            r if r is not None else _error(keys[i], 0, "cancelled", f"{keys[i]}: hashing was cancelled")
            for i, r in enumerate(results)
        ])

    def _stat_and_look_up(self, keys: Sequence[str]) -> tuple[list[FileStat | HashResult], dict[str, CachedHash]]:
        """Stat every file and fetch the cache entries of the regular ones in one database call."""
        stats = stat_all(keys)
        wanted = [key for key, st in zip(keys, stats) if isinstance(st, FileStat)]
        return stats, (self.db.call_sync(hash_cache.get_many, wanted) if wanted else {})

    async def _report(self, tracker: Tracker, throttle: ProgressThrottle) -> None:
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
