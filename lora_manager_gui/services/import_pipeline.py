"""The import's parse and store stages: chunks of changed groups parsed (in worker processes, else
on a thread) and stored as they come, one transaction per batch of chunks.

On a thread, a chunk is parsed and then stored, in turn: overlapping the two on threads only made
them fight for the GIL (10,000 groups: 3.8 s overlapped, 2.7 s in turn). Worker processes parse
the next chunks while one is stored; chunks they have ready by then are stored together, in one
transaction (fewer commits, each page written fewer times). A free worker takes the walk's next
chunk without waiting for the chunk ahead of it to come back.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, SidecarGroup
from lora_manager_gui.core.errors import DatabaseError, LoraManagerError
from lora_manager_gui.core.records import ImportItem
from lora_manager_gui.core.tasks import Progress, Stage
from lora_manager_gui.db import import_store
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.import_parse import PreparedChunk, merge_chunks, prepare_chunk
from lora_manager_gui.services.import_plan import foreign_folders
from lora_manager_gui.services.import_workers import BrokenProcessPool, Lent, ParseWorkers, folder_models

if TYPE_CHECKING:
    from lora_manager_gui.services.import_run import ImportRun

log = logging.getLogger(__name__)

# Parsed chunks that are ready together are stored in one transaction, up to this many groups.
BATCH_GROUPS = 1024


@dataclass
class Runner:
    """Where a run's work goes: blocking work to the work pool, peewee calls to the database
    thread; and whether the user cancelled."""

    db: DatabaseExecutor
    pool: WorkPool | None
    options: ImportOptions
    cancel: threading.Event | None = None

    async def off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.pool is not None:
            return await self.pool.call(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def on_db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.db.call(fn, *args, **kwargs)
        except LoraManagerError:
            raise
        except Exception as exc:  # peewee/sqlite errors: the run cannot go on
            raise DatabaseError(f"the import could not use the library database {self.db.path}: {exc}") from exc

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


@dataclass
class StoreBook:
    """The run's record of what it stored: (name, version) claims by model file, the stored keys
    (loaded once, by the first write), and duplicates to settle at the end."""

    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: import_store.AdapterKeys | None = None
    first_new_id: int = 0  # rows above this id were inserted by this run
    contested: list[import_store.StoreItem] = field(default_factory=list)


class ChunkFeed:
    """Sidecar groups for the pipeline, in chunks: all known at once (a finished walk), or arriving
    folder by folder from a walk still running (on the loop thread), until close()."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.chunks: deque[list[SidecarGroup]] = deque()
        self.buffer: list[SidecarGroup] = []
        self.added = 0
        self.closed = False
        self._wake = asyncio.Event()

    def add(self, groups: list[SidecarGroup]) -> None:
        self.buffer.extend(groups)
        self.added += len(groups)
        while len(self.buffer) >= self.size:
            self.chunks.append(self.buffer[:self.size])
            del self.buffer[:self.size]
        self._wake.set()

    def close(self) -> None:
        if self.buffer:
            self.chunks.append(self.buffer)
            self.buffer = []
        self.closed = True
        self._wake.set()

    async def wait(self) -> None:
        await self._wake.wait()
        self._wake.clear()


@dataclass
class ParseIndex:
    """What parsing needs of a walk: every model file by path (`models`; the walk's so far while it
    runs), lower-cased model names per folder, and model files per folder for worker processes."""

    models: dict[str, FileEntry]
    folders: dict[str, frozenset[str]]
    by_folder: dict[str, dict[str, FileEntry]] = field(default_factory=dict)

    def add_folder(self, folder: str, models: dict[str, FileEntry]) -> None:
        self.models.update(models)
        self.by_folder[folder] = models
        self.folders[folder] = frozenset(m.name.lower() for m in models.values())


Inflight = list[tuple[list[SidecarGroup], "asyncio.Future[PreparedChunk]"]]


class Pipeline:
    """Parse a feed's chunks and store them as they come, for one root of a run.

    With `deferred` (the walk is still running, `index` grows with it), a group whose metadata
    names a model file in another folder is not parsed here but added to `deferred`, for after
    the walk; without it, such groups are parsed again with the whole index."""

    def __init__(self, run: ImportRun, root: str, feed: ChunkFeed, index: ParseIndex,
                 stored_ids: dict[str, int | None], claimed: set[str], foreign: set[str],
                 lent: Lent, deferred: list[SidecarGroup] | None = None) -> None:
        self.run, self.root, self.feed, self.index = run, root, feed, index
        self.stored_ids, self.claimed, self.foreign = stored_ids, claimed, foreign
        self.lent, self.deferred = lent, deferred
        self.inflight: Inflight = []
        self.done = 0

    @property
    def workers(self) -> ParseWorkers | None:
        return self.lent.workers

    def retire_workers(self) -> None:
        """The pool broke or could not start: parsing goes on in threads."""
        if self.lent.workers is not None:
            self.run.lease.retire(self.lent.workers)
            self.lent.workers = None

    def in_thread(self, chunk: list[SidecarGroup]) -> asyncio.Future[PreparedChunk]:
        index = self.index
        models = index.models if self.deferred is None else folder_models(index.by_folder, chunk)
        return asyncio.ensure_future(self.run.runner.off_loop(
            prepare_chunk, self.root, chunk, models, index.folders, self.stored_ids, self.run.runner.options))

    def launch(self, chunk: list[SidecarGroup]) -> asyncio.Future[PreparedChunk]:
        if self.workers is not None:
            try:
                return self.workers.prepare(self.root, chunk, self.index.by_folder, self.index.folders,
                                            self.stored_ids, self.run.runner.options)
            except (BrokenProcessPool, OSError, RuntimeError) as exc:  # the pool could not start
                log.warning("the import's worker processes could not start (%s); parsing in threads", exc)
                self.retire_workers()
        return self.in_thread(chunk)

    async def resolve(self, chunk: list[SidecarGroup], future: asyncio.Future[PreparedChunk]) -> PreparedChunk:
        try:
            prepared = await future
        except BrokenProcessPool:
            log.warning("the import's worker processes stopped; parsing goes on in threads")
            self.retire_workers()
            for _c, dead in self.inflight:
                dead.add_done_callback(_consume_failure)
            self.inflight = [(c, self.in_thread(c)) for c, _dead in self.inflight]
            prepared = await self.in_thread(chunk)
        if prepared.needs_full_index:  # names with a subfolder: parse those with the whole walk
            again_keys = set(prepared.needs_full_index)
            again = [g for g in chunk if g.key in again_keys]
            if self.deferred is not None:
                self.deferred.extend(again)
            else:
                prepared = merge_chunks(prepared, await self.in_thread(again))
        return prepared

    def fill(self, window: int) -> None:
        cancelled = self.run.runner.cancelled
        while self.feed.chunks and len(self.inflight) < window and not cancelled():
            chunk = self.feed.chunks.popleft()
            self.inflight.append((chunk, self.launch(chunk)))

    async def run_all(self) -> None:
        run, feed = self.run, self.feed
        book, runner = run.book, run.runner
        if book.keys is None:  # only a run that writes needs the stored keys
            book.keys = await runner.on_db(import_store.load_adapter_keys)
            book.first_new_id = await runner.on_db(import_store.max_adapter_id)
        await run.writes.begin()
        run.progress(Progress(Stage.PARSE, 0, feed.added if feed.closed else None, problems=len(run.report.errors),
                              detail=self.root), force=True)
        drained = False  # every chunk parsed and stored: the workers are idle, and kept for the next import
        try:
            while True:
                window = self.workers.count + 1 if self.workers else 1
                self.fill(window)
                if not self.inflight:
                    if feed.closed or runner.cancelled():
                        drained = not runner.cancelled()
                        break
                    await feed.wait()  # the walk has not found a whole chunk more yet
                    continue
                if self.workers is not None and len(self.inflight) < window and not feed.closed and not self.inflight[0][1].done():
                    # A worker is free while the walk goes on: wake for the oldest chunk's result
                    # or for the walk's next chunk, whichever comes first, so no worker waits for
                    # the chunk ahead of it (the first chunk of a walk used to parse alone).
                    more = asyncio.ensure_future(feed.wait())
                    try:
                        await asyncio.wait({self.inflight[0][1], more}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        more.cancel()
                    continue
                batch = [await self.resolve(*self.inflight.pop(0))]
                while self.inflight and self.inflight[0][1].done() and sum(len(b.items) for b in batch) < BATCH_GROUPS:
                    batch.append(await self.resolve(*self.inflight.pop(0)))
                if self.workers is not None:
                    self.fill(window)
                await self.store(batch)
                if runner.cancelled():
                    break
        finally:
            for _chunk, future in self.inflight:
                future.cancel()
            self.lent.idle = drained

    async def store(self, batch: list[PreparedChunk]) -> None:
        run = self.run
        items: list[ImportItem | import_store.StoreItem] = []
        for prepared in batch:
            run.report.add_share(prepared)
            self.claimed.update(prepared.claimed)
            self.foreign.update(foreign_folders((i.key, i.signature, i.model_path) for i in prepared.items))
            items.extend(prepared.items)
        outcome = await run.runner.on_db(
            import_store.store_import_chunk, items, present=run.seen.present, claims=run.book.claims,
            existing=run.book.keys,
        )
        run.report.add(imported=outcome.imported, updated=outcome.updated, duplicates=outcome.duplicates,
                       problems=outcome.problems, filled=outcome.filled)
        run.book.contested.extend(outcome.contested)
        self.done += len(items)
        run.progress(Progress(Stage.STORE, self.done, self.feed.added if self.feed.closed else None,
                              problems=len(run.report.errors), detail=self.root))


def _consume_failure(future: asyncio.Future[Any]) -> None:
    """A future abandoned after its worker pool broke: its error was handled, not lost."""
    if not future.cancelled():
        future.exception()
