"""Worker processes for the import's parse step, on machines with more than one core.

Parsing sidecars is Python work that holds the GIL, so threads cannot run it beside the database
writes; processes can. A worker gets a chunk of groups with the model files of their folders only
(`FolderModels`), never the whole walk. The pool uses the 'forkserver' start method where there
is one, else 'spawn' (never a fork of a process that runs Qt, the event loop and the database
thread), and is used only for imports large enough to repay its start. If the pool breaks, the
import goes on in threads. An import that parsed all it had leaves its workers idle for the next
import (KEEP_IDLE_S); a cancelled or failed one stops them.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, SidecarGroup
from lora_manager_gui.services.import_parse import FolderModels, PreparedChunk, prepare_chunk

log = logging.getLogger(__name__)

# Below this many changed groups the import parses on a thread: the pool would not repay its start.
PROCESS_THRESHOLD = 2000
MAX_WORKERS = 4
# Once the fork server runs (the first large import of the app's session started it), workers
# start in milliseconds: a new root's walk hands its folders to them after this many files
# instead of 2 * PROCESS_THRESHOLD, so they do not wait for the walk (~40 ms on 10,000 models).
WARM_STREAM_FILES = 512

_fork_server_up = False


def fork_server_up() -> bool:
    """Has this process started the fork server its workers come from (it stays up)?"""
    return _fork_server_up

# An import's workers are kept this long for the next import (another root, a re-import after a
# change): starting two takes ~60 ms and ~0.1 s of CPU on 2 cores even from the fork server.
KEEP_IDLE_S = 60.0

__all__ = [
    "KEEP_IDLE_S", "PROCESS_THRESHOLD", "WARM_STREAM_FILES", "BrokenProcessPool", "Lent", "ParseWorkers", "WorkerLease",
    "fork_server_up", "keep_workers", "models_by_folder", "stop_kept_workers", "take_kept_workers", "worker_count",
]


def worker_count(changed_groups: int, options: ImportOptions) -> int:
    """How many worker processes to parse with (0: parse on a thread)."""
    if options.parse_processes is not None:
        return max(0, options.parse_processes)
    cores = os.cpu_count() or 1
    if cores < 2 or changed_groups < PROCESS_THRESHOLD:
        return 0
    # As many workers as cores: the database thread they feed now mostly waits in SQLite (which
    # releases the GIL) and takes ~40% of a core. Measured on 2 cores, 10,000 groups, 7 pairs of
    # runs: two workers 1.53 s, one worker 1.71 s on average.
    return min(cores, MAX_WORKERS)


def models_by_folder(models: Mapping[str, FileEntry]) -> dict[str, dict[str, FileEntry]]:
    out: dict[str, dict[str, FileEntry]] = {}
    for path, entry in models.items():
        out.setdefault(os.path.dirname(path), {})[path] = entry
    return out


def folder_models(by_folder: Mapping[str, Mapping[str, FileEntry]], groups: Iterable[SidecarGroup]) -> FolderModels:
    folders = {g.folder for g in groups}
    entries: dict[str, FileEntry] = {}
    for folder in folders:
        entries.update(by_folder.get(folder, {}))
    return FolderModels(entries, folders)


def prepare_rows(root: str, groups: list[SidecarGroup], models: Mapping[str, FileEntry],
                 folders: Mapping[str, frozenset[str]], stored_ids: Mapping[str, int | None],
                 options: ImportOptions) -> PreparedChunk:
    """prepare_chunk, then the column values the database stores (in the worker process): the
    database thread gets rows to run, and plain tuples cross the pipe ~3x faster than records."""
    from lora_manager_gui.db.import_store import store_items  # peewee: ~30 ms once per worker

    # The collector runs between chunks, not during one: a chunk allocates ~100 containers a
    # group (JSON, records, rows) that are all alive until it is sent (5-10% of a worker's CPU).
    gc.disable()
    try:
        prepared = prepare_chunk(root, groups, models, folders, stored_ids, options)
        prepared.items = store_items(prepared.items, prepared.errors)  # type: ignore[assignment]
    finally:
        gc.enable()
    return prepared


# What a worker needs, imported once in the fork server instead of in every worker.
PRELOAD = ("lora_manager_gui.services.import_parse", "lora_manager_gui.db.import_store")


def start_context() -> multiprocessing.context.BaseContext:
    """'forkserver' where there is one (Linux, macOS): a clean server process is started (like
    'spawn') on the first large import and imports PRELOAD once; every worker after that is forked
    from it in milliseconds instead of starting an interpreter (~0.26 s of CPU each). Nothing of
    this process (Qt, threads, the database) is ever forked. Elsewhere (Windows), 'spawn'."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        return context
    return multiprocessing.get_context("spawn")


def _warm_up() -> None:
    import lora_manager_gui.db.import_store  # noqa: F401  (what prepare_rows imports on first use)


def _ignore_result(future: object) -> None:
    try:
        future.exception()  # type: ignore[attr-defined]
    except BaseException:  # noqa: BLE001 (cancelled or broken: the real work will say so)
        pass


class ParseWorkers:
    def __init__(self, count: int) -> None:
        self.count = count
        context = start_context()
        self._forked = context.get_start_method() == "forkserver"
        self._executor = ProcessPoolExecutor(max_workers=count, mp_context=context)

    def prepare(self, root: str, groups: list[SidecarGroup], by_folder: Mapping[str, Mapping[str, FileEntry]],
                folders: Mapping[str, frozenset[str]], stored_ids: Mapping[str, int | None],
                options: ImportOptions) -> asyncio.Future[PreparedChunk]:
        """Parse `groups` in a worker; the future raises BrokenProcessPool if the pool died."""
        chunk_folders = {g.folder for g in groups}
        return asyncio.wrap_future(self._executor.submit(
            prepare_rows, root, groups, folder_models(by_folder, groups),
            {f: folders[f] for f in chunk_folders if f in folders},
            {g.key: stored_ids[g.key] for g in groups if g.key in stored_ids}, options,
        ))

    def warm_up(self) -> None:
        """Start the processes now and have them import what parsing needs (~0.2 s), while the
        walk is still running; the result is not waited for."""
        global _fork_server_up
        for _ in range(self.count):
            self._executor.submit(_warm_up).add_done_callback(_ignore_result)
        _fork_server_up = _fork_server_up or self._forked

    def usable(self) -> bool:
        """Not shut down, and no process of it has died (the pool then breaks as a whole)."""
        return not (getattr(self._executor, "_broken", False) or getattr(self._executor, "_shutdown_thread", False))

    def stop(self) -> None:
        """Shut down without waiting: idle processes exit on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def close(self, wait: bool = True) -> None:
        """Stop the workers (off the event loop: shutting a pool down waits for its processes).
        Without `wait`, processes still starting up end on their own, unwaited for."""
        if wait:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        else:
            self._executor.shutdown(wait=False, cancel_futures=True)


# The workers kept between imports (at most one pool), and the timer that stops them unused.
_kept_lock = threading.Lock()
_kept: ParseWorkers | None = None
_kept_timer: threading.Timer | None = None


def keep_workers(workers: ParseWorkers) -> None:
    """Keep `workers` (idle: their last import is over) for the next import; they are stopped
    after KEEP_IDLE_S unused, or when another pool is kept instead."""
    global _kept, _kept_timer
    timer = threading.Timer(KEEP_IDLE_S, _expire, args=(workers,))
    timer.daemon = True
    with _kept_lock:
        old, _kept = _kept, workers
        if _kept_timer is not None:
            _kept_timer.cancel()
        _kept_timer = timer
    timer.start()
    if old is not None and old is not workers:
        old.stop()


def take_kept_workers(count: int) -> ParseWorkers | None:
    """The workers an earlier import kept, if there are `count` of them and they still work;
    a kept pool that does not fit is stopped."""
    workers = _take_kept()
    if workers is None:
        return None
    if workers.count == count and workers.usable():
        return workers
    workers.stop()
    return None


def stop_kept_workers() -> None:
    """Stop the kept workers now (the app is closing; tests)."""
    workers = _take_kept()
    if workers is not None:
        workers.stop()


def _take_kept() -> ParseWorkers | None:
    global _kept, _kept_timer
    with _kept_lock:
        workers, _kept = _kept, None
        if _kept_timer is not None:
            _kept_timer.cancel()
            _kept_timer = None
    return workers


def _expire(workers: ParseWorkers) -> None:
    global _kept, _kept_timer
    with _kept_lock:
        if _kept is not workers:
            return
        _kept, _kept_timer = None, None
    workers.stop()


@dataclass
class Lent:
    """Worker processes lent to one pipeline (WorkerLease.lend): `workers` is None when parsing
    stays in threads (or once the pool broke and was retired); the pipeline sets `idle` when it
    parsed all it had, so that the workers are kept for the next import."""

    workers: ParseWorkers | None
    idle: bool = False


class WorkerLease:
    """The worker processes of one import run: an async context manager that gives a pool and,
    when the run ends, keeps it for the next import or stops it.

    - `start_early()` (on the loop) starts them in the background while a large walk goes on;
      `lend(count)` (a context) gives `count` started workers (those, the pool an earlier import
      kept, or new ones), or none when a pool cannot start (parsing then stays in threads);
    - when it ends, idle workers (every chunk parsed) are kept (KEEP_IDLE_S); others may still be
      busy with a chunk and are stopped, as is a pool that broke (`retire`).
    """

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.wanted: asyncio.Event | None = None  # set when a walk has found enough to parse in workers
        self._early: ParseWorkers | None = None  # started while a large walk is still going
        self._starting: asyncio.Future[None] | None = None
        self._retired: list[ParseWorkers] = []

    @property
    def started(self) -> bool:
        """Workers started early are waiting to be taken."""
        return self._early is not None

    def start_early(self) -> None:
        """(On the loop.) Start the workers in the background; take() collects them."""
        if self.wanted is not None:
            self.wanted.set()
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start(worker_count(PROCESS_THRESHOLD, self.options)))

    async def _start(self, count: int) -> None:
        """Start `count` workers into _early (or take those an earlier import kept), or none if
        the pool cannot start. Starting them is blocking work (a fork server starts on first use,
        ~0.25 s): on a thread."""
        kept = take_kept_workers(count)
        if kept is not None:
            self._early = kept
            return
        workers = ParseWorkers(count)
        try:
            await asyncio.to_thread(workers.warm_up)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("the import's worker processes could not start (%s); parsing in threads", exc)
            self._retired.append(workers)
            return
        self._early = workers

    async def take(self, count: int) -> ParseWorkers | None:
        """`count` started worker processes (those started during the walk if they fit), or None."""
        if self._starting is not None:
            await self._starting
            self._starting = None
        if self._early is not None and self._early.count != count:
            self._retired.append(self._early)
            self._early = None
        if self._early is None:
            await self._start(count)
        workers, self._early = self._early, None
        return workers

    @asynccontextmanager
    async def lend(self, count: int) -> AsyncIterator[Lent]:
        """`count` workers (none for 0) for the time of the context; then kept if idle, else stopped."""
        lent = Lent(await self.take(count) if count else None)
        try:
            yield lent
        finally:
            await self.give_back(lent.workers, idle=lent.idle)

    def retire(self, workers: ParseWorkers) -> None:
        """A pool that broke or could not start: stopped once its run no longer needs it."""
        self._retired.append(workers)

    async def give_back(self, workers: ParseWorkers | None, *, idle: bool) -> None:
        """The pool a pipeline used: kept when `idle` (all it had was parsed), else stopped; and
        the pools retired meanwhile are stopped (waited for)."""
        if workers is not None and idle:
            keep_workers(workers)
        elif workers is not None:  # cancelled or failed: a worker may still be busy with a chunk
            self._retired.append(workers)
        retired, self._retired = self._retired, []
        for pool in retired:
            await pool.close()

    async def __aenter__(self) -> WorkerLease:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._starting is not None:  # still starting: let it finish, then keep what it started
            await asyncio.shield(self._starting)
            self._starting = None
        if self._early is not None:  # started for a walk whose files turned out unchanged: idle
            keep_workers(self._early)
            self._early = None
        retired, self._retired = self._retired, []
        for pool in retired:
            await pool.close(wait=False)
