"""The library import: discover -> detect changes -> parse -> validate -> store, per root.

Nothing here blocks the event loop: the walk and parsing run on the work pool, every peewee call
goes through the database executor, and progress callbacks run on the loop thread, throttled.
Each chunk of results is one transaction, so a cancelled or killed import keeps what it committed
and a re-run completes the rest (unchanged groups are skipped by their stored signature).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_manager_gui.core.discovery import (
    FileEntry,
    FolderPrint,
    ImportOptions,
    RootScan,
    SidecarGroup,
    list_folder_models,
    scan_root,
)
from lora_manager_gui.core.cancel import any_of
from lora_manager_gui.core.errors import DatabaseError, LoraManagerError
from lora_manager_gui.core.records import (
    STATUS_NOT_A_SIDECAR,
    STATUS_NOT_ON_CIVITAI,
    ImportIssue,
    ImportItem,
    LibraryFile,
)
from lora_manager_gui.core.sidecars.group import check_model_file, folder_index, parse_groups
from lora_manager_gui.db import adapters, database, import_folders, import_sources, library_files
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.header_import import (
    AdapterExistsError,
    import_orphan_from_header,
    import_orphan_from_header_async,
)
from lora_manager_gui.services.import_parse import (
    ImportTally,
    PreparedChunk,
    group_signature,
    library_file,
    merge_chunks,
    prepare_chunk,
)
from lora_manager_gui.services.import_report import ImportProgress, ImportReport, ProgressThrottle
from lora_manager_gui.services.import_workers import (
    PROCESS_THRESHOLD,
    WARM_STREAM_FILES,
    BrokenProcessPool,
    ParseWorkers,
    folder_models,
    fork_server_up,
    keep_workers,
    models_by_folder,
    take_kept_workers,
    worker_count,
)

log = logging.getLogger(__name__)

__all__ = [
    "AdapterExistsError", "ImportOptions", "ImportProgress", "ImportReport", "ImportRunError", "find_orphans",
    "import_orphan_from_header", "import_orphan_from_header_async", "run_import",
]


# Parsed chunks that are ready together are stored in one transaction, up to this many groups.
BATCH_GROUPS = 1024


class ImportRunError(LoraManagerError):
    """The import could not run at all (no such root, database not writable)."""


def resolve_roots(roots: list[Path] | list[str]) -> list[str]:
    out: list[str] = []
    for root in roots:
        path = os.path.abspath(os.path.expanduser(os.fspath(root)))
        if not os.path.exists(path):
            raise ImportRunError(f"cannot import {root}: no such folder")
        if not os.path.isdir(path):
            raise ImportRunError(f"cannot import {root}: not a folder")
        if not os.access(path, os.R_OK | os.X_OK):
            raise ImportRunError(f"cannot import {root}: the folder cannot be read (permission denied)")
        if path not in out:
            out.append(path)
    return out


class _Run:
    """State of one run_import call."""

    def __init__(self, db: DatabaseExecutor, pool: WorkPool | None, options: ImportOptions, force: bool,
                 progress: ProgressThrottle, cancel: threading.Event | None) -> None:
        self.db, self.pool, self.options, self.force = db, pool, options, force
        self.progress, self.cancel = progress, cancel
        self.report = ImportReport(forced=force)
        self.claims: dict[tuple[str, str], str] = {}
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: set[tuple[int, int]] = set()
        self.all_models: set[str] = set()
        self.skipped_folders: set[str] = set()  # folders walked but not entered: unchanged since stored
        self.roots: list[str] = []
        self.adapter_keys: adapters.AdapterKeys | None = None
        self.retired_workers: list[ParseWorkers] = []  # pools that broke, closed when the root is done
        self.bulk_writing = False
        self.checkpoints: database.BackgroundCheckpoints | None = None
        self.early_workers: ParseWorkers | None = None  # started while a large walk is still going
        self.early_start: asyncio.Future[None] | None = None
        self.workers_wanted: asyncio.Event | None = None  # set when a walk has found enough to parse in workers
        self.walking = False  # a walk is running while its groups are stored (see walk_and_store)

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

    async def begin_writes(self) -> None:
        """Before the first write of a run: no checkpoint after each commit; they run beside the
        writes instead (database.pause_checkpoints, BackgroundCheckpoints)."""
        if not self.bulk_writing:
            await self.on_db(database.pause_checkpoints)
            self.bulk_writing = True
            self.checkpoints = database.BackgroundCheckpoints(self.db.path)

    async def end_writes(self) -> None:
        if self.bulk_writing:
            self.bulk_writing = False
            checkpoints, self.checkpoints = self.checkpoints, None
            handed_off = checkpoints is not None and checkpoints.connected.is_set()
            await self.on_db(database.resume_checkpoints, checkpoint_now=not handed_off)
            if checkpoints is not None:
                checkpoints.finish()  # the last copy into the database file, beside what comes next

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def present(self, path: str) -> bool:
        """Does a model file exist now? (Runs on the database thread, for duplicate checks.)"""
        if path in self.all_models:
            return True
        if self.walking:  # the walk has not seen every file yet
            return os.path.isfile(path)
        if os.path.dirname(path) in self.skipped_folders:
            return os.path.isfile(path)  # a folder the walk skipped as unchanged
        if any(path.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
            return False  # under a scanned root and not found by the walk
        return os.path.isfile(path)

    async def scan(self, root: str, known: dict[str, str] | None = None,
                   on_folder: Callable[[list[SidecarGroup], dict[str, FileEntry]], None] | None = None,
                   stop: threading.Event | None = None, many: int | None = None,
                   then: Callable[[], None] | None = None) -> RootScan:
        """Walk `root` on the work pool; `then` runs on the walk's thread once the walk is over."""
        loop = asyncio.get_running_loop()
        cancel = any_of(stop, self.cancel)  # the import's own stop, or the user's cancel

        def walk_progress(folders: int, files: int) -> None:
            loop.call_soon_threadsafe(self.progress, "scanning", files, None, root)

        # Enough new or changed files to parse in worker processes: start them while the walk goes
        # on, so their start (~0.2 s) is not waited for afterwards.
        early = worker_count(PROCESS_THRESHOLD, self.options) > 0 and self.early_workers is None
        many = 2 * PROCESS_THRESHOLD if many is None else many
        on_many = (many, lambda: loop.call_soon_threadsafe(self.start_workers_early)) if early else None
        def walk() -> RootScan:
            try:
                return scan_root(root, self.options, seen_dirs=self.seen_dirs, seen_files=self.seen_files,
                                 cancel=cancel, progress=walk_progress, known=known, on_many=on_many,  # type: ignore[arg-type]
                                 on_folder=on_folder)
            finally:
                if then is not None:
                    then()

        return await self.off_loop(walk)

    def start_workers_early(self) -> None:
        """(On the loop.) Start the workers in the background; take_workers() collects them."""
        if self.workers_wanted is not None:
            self.workers_wanted.set()
        if self.early_start is None:
            self.early_start = asyncio.ensure_future(self.start_workers(worker_count(PROCESS_THRESHOLD, self.options)))

    async def start_workers(self, count: int) -> None:
        """Start `count` worker processes into self.early_workers (or take those an earlier import
        kept), or none if the pool cannot start. Starting them is blocking work (a fork server
        starts on first use, ~0.25 s): on a thread."""
        kept = take_kept_workers(count)
        if kept is not None:
            self.early_workers = kept
            return
        workers = ParseWorkers(count)
        try:
            await asyncio.to_thread(workers.warm_up)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("the import's worker processes could not start (%s); parsing in threads", exc)
            self.retired_workers.append(workers)
            return
        self.early_workers = workers

    async def take_workers(self, count: int) -> ParseWorkers | None:
        """`count` started worker processes (those started during the walk if they fit), or None."""
        if self.early_start is not None:
            await self.early_start
            self.early_start = None
        if self.early_workers is not None and self.early_workers.count != count:
            self.retired_workers.append(self.early_workers)
            self.early_workers = None
        if self.early_workers is None:
            await self.start_workers(count)
        workers, self.early_workers = self.early_workers, None
        return workers

    async def import_root(self, root: str) -> None:
        """Walk, compare, parse and store one root. Folders whose fingerprint matches the one stored
        (unchanged and self-contained) are only stat'ed; their share of the report is read back
        from the database. Fingerprints are stored only when the whole root went through."""
        rep = self.report
        known = await self.on_db(import_folders.load_folders, root)
        streamed: Streamed | None = None
        if not known and worker_count(PROCESS_THRESHOLD, self.options) and await self.on_db(_root_is_new, root):
            scan, streamed = await self.walk_and_store(root)
        else:
            scan = await self.scan(root, None if self.force else {f: k.fingerprint for f, k in known.items()})
        skipped = scan.skipped
        rep.files_processed += scan.files_seen + sum(known[f].files for f in skipped)
        rep.model_files += len(scan.models) + sum(known[f].models for f in skipped)
        rep.errors.extend(scan.issues)
        rep.external.extend(scan.external)
        rep.skipped_links.extend(scan.skipped_links)
        rep.ignored += scan.ignored
        self.all_models.update(scan.models)
        self.skipped_folders.update(skipped)
        if scan.cancelled:
            rep.cancelled = True
            return
        if skipped and (scan.groups or scan.models):  # lookups by metadata may reach a skipped folder
            scan.models = SkippedFolderModels(scan.models, skipped, self.options)
        if streamed is not None:  # a new root: nothing was stored before this run
            stored_sources, stored_files = {}, {}
        else:
            stored_sources, stored_files = await self.on_db(_load_states, root, skipped)
        if streamed is not None:  # stored while walking, but for what needed the whole walk
            plan = RootPlan(changed=streamed.deferred)
            claimed, foreign = streamed.claimed, streamed.foreign
        else:
            # Comparing 10,000s of signatures is CPU work: never on the event loop.
            plan = await self.off_loop(plan_root, scan, stored_sources, self.force)
            claimed, foreign = set(), set(plan.foreign)
            self.absorb(plan, claimed)
        orphan_entries = await self.store_changed(root, scan, plan.changed, stored_sources, claimed, foreign,
                                                  processes=streamed is None)
        if self.cancelled():
            rep.cancelled = True
            return
        await self.store_orphans(root, scan, orphan_entries, claimed, stored_files)
        if self.cancelled():
            rep.cancelled = True
            return
        gone_files = sorted(p for p in stored_files if p not in scan.models and p not in self.all_models)
        group_keys = {g.key for g in scan.groups}
        gone_keys = [k for k in stored_sources if k not in group_keys]
        rep.missing.extend(gone_files)
        # A folder keeps a fingerprint while it is self-contained: none of its groups depends on a
        # model file elsewhere (whose change its own fingerprint would not show).
        prints = [p for f, p in scan.prints.items() if f not in skipped and f not in foreign]
        forget = [f for f in known if (f not in scan.prints and f not in skipped) or f in foreign]
        if gone_files or gone_keys or prints or forget:
            await self.on_db(_finish_root, root, gone_files, gone_keys, prints, forget)
        if skipped:
            share = await self.on_db(import_folders.folder_share, root, skipped, len(skipped) == scan.folders)
            rep.unchanged += share.unchanged
            rep.sidecar_groups += share.sidecar_groups
            rep.not_sidecars += share.not_sidecars
            rep.not_on_civitai += share.not_on_civitai
            rep.errors.extend(share.errors)
            rep.orphans.extend(share.orphans)

    async def walk_and_store(self, root: str) -> tuple[RootScan, Streamed | None]:
        """The walk of a root the library has never seen, its groups parsed and stored while it goes
        on: once the walk has found enough files for worker processes, each folder's groups join
        the pipeline as soon as the folder is walked (a walk of a network share can take minutes).
        A walk that ends first is handed back as it is (None): the usual path imports it."""
        loop = asyncio.get_running_loop()
        feed = ChunkFeed(self.options.chunk_size)
        index = ParseIndex({}, {})
        self.workers_wanted = asyncio.Event()
        stop = threading.Event()

        # Folders cross to the loop in batches: a wake-up of the loop per folder (a write to its
        # pipe, a turn of the loop, the GIL handed over twice) cost the walk a quarter of its time.
        # Groups only leave the feed in whole chunks, so a batch of a quarter chunk delays nothing.
        pending: list[tuple[list[SidecarGroup], dict[str, FileEntry]]] = []
        pending_groups = 0
        batch_groups = max(1, feed.size // 4)

        def arrived(folders: list[tuple[list[SidecarGroup], dict[str, FileEntry]]]) -> None:
            for groups, models in folders:
                index.add_folder(groups[0].folder, models)
                feed.add(groups)

        def on_folder(groups: list[SidecarGroup], models: dict[str, FileEntry]) -> None:  # the walk's thread
            nonlocal pending, pending_groups
            if groups:
                pending.append((groups, models))
                pending_groups += len(groups)
            if pending_groups >= batch_groups:
                loop.call_soon_threadsafe(arrived, pending)
                pending, pending_groups = [], 0

        def walk_ended() -> None:  # the walk's thread, after its last folder
            if pending:
                loop.call_soon_threadsafe(arrived, pending)

        many = min(WARM_STREAM_FILES, 2 * PROCESS_THRESHOLD) if fork_server_up() else 2 * PROCESS_THRESHOLD
        walk = asyncio.ensure_future(self.scan(root, on_folder=on_folder, stop=stop, many=many, then=walk_ended))
        wanted = asyncio.ensure_future(self.workers_wanted.wait())
        try:
            await asyncio.wait({walk, wanted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wanted.cancel()
            self.workers_wanted = None
        if walk.done():
            return walk.result(), None
        # The walk's last folders reach the loop before its end does (both in call_soon order).
        walk.add_done_callback(lambda _w: feed.close())
        streamed = Streamed()
        self.walking = True
        try:
            workers = await self.take_workers(worker_count(PROCESS_THRESHOLD, self.options))
            if workers is not None:
                log.info("parsing the groups of %s in %d worker processes while it is walked", root, workers.count)
            await self.run_pipeline(root, feed, index, {}, streamed.claimed, streamed.foreign, workers, streamed.deferred)
            scan = await walk
        except BaseException:
            stop.set()  # the walk ends at its next folder
            await asyncio.gather(walk, return_exceptions=True)
            raise
        finally:
            self.walking = False
        if scan.cancelled:
            streamed.deferred.clear()
        else:
            # Groups left in the feed: a cancel stopped the pipeline before the walk ended.
            streamed.deferred.extend(g for chunk in feed.chunks for g in chunk)
        return scan, streamed

    async def store_changed(self, root: str, scan: RootScan, changed: list[SidecarGroup],
                            stored: dict[str, import_sources.StoredSource], claimed: set[str],
                            foreign: set[str], processes: bool = True) -> list[FileEntry]:
        """Parse and store the changed groups of a finished walk; the model files no group claimed.
        Without `processes`, parsing stays in this process (groups that need the whole walk)."""
        if changed:
            feed = ChunkFeed(self.options.chunk_size)
            feed.add(changed)
            feed.close()
            count = worker_count(len(changed), self.options) if processes else 0
            workers = await self.take_workers(count) if count else None
            if workers is not None:
                log.info("parsing %d changed groups of %s in %d worker processes", len(changed), root, count)
            index = ParseIndex(scan.models, await self.off_loop(folder_index, scan.models))
            if workers is not None:
                index.by_folder = await self.off_loop(models_by_folder, scan.models)
            stored_ids = {key: s.adapter_id for key, s in stored.items()}
            await self.run_pipeline(root, feed, index, stored_ids, claimed, foreign, workers)
        return [m for m in scan.models.values() if m.path not in claimed]

    async def run_pipeline(self, root: str, feed: ChunkFeed, index: ParseIndex, stored_ids: dict[str, int | None],
                           claimed: set[str], foreign: set[str], workers: ParseWorkers | None,
                           deferred: list[SidecarGroup] | None = None) -> None:
        """Parse the feed's chunks (in `workers`, else on a thread) and store them as they come.

        With `deferred` (the walk is still running, `index` grows with it), a group whose metadata
        names a model file in another folder is not parsed here but added to `deferred`, for
        store_changed once the walk is complete."""
        if self.adapter_keys is None:  # only a run that writes needs the stored keys
            self.adapter_keys = await self.on_db(adapters.load_adapter_keys)
        await self.begin_writes()
        done = 0

        def in_thread(chunk: list[SidecarGroup]) -> asyncio.Future[PreparedChunk]:
            models = index.models if deferred is None else folder_models(index.by_folder, chunk)
            return asyncio.ensure_future(self.off_loop(prepare_chunk, root, chunk, models, index.folders, stored_ids, self.options))

        def launch(chunk: list[SidecarGroup]) -> asyncio.Future[PreparedChunk]:
            nonlocal workers
            if workers is not None:
                try:
                    return workers.prepare(root, chunk, index.by_folder, index.folders, stored_ids, self.options)
                except (BrokenProcessPool, OSError, RuntimeError) as exc:  # the pool could not start
                    log.warning("the import's worker processes could not start (%s); parsing in threads", exc)
                    self.retired_workers.append(workers)
                    workers = None
            return in_thread(chunk)

        async def resolve(chunk: list[SidecarGroup], future: asyncio.Future[PreparedChunk]) -> PreparedChunk:
            nonlocal workers, inflight
            try:
                prepared = await future
            except BrokenProcessPool:
                log.warning("the import's worker processes stopped; parsing goes on in threads")
                if workers is not None:
                    self.retired_workers.append(workers)
                    workers = None
                for _c, dead in inflight:
                    dead.add_done_callback(_consume_failure)
                inflight = [(c, in_thread(c)) for c, _dead in inflight]
                prepared = await in_thread(chunk)
            if prepared.needs_full_index:  # names with a subfolder: parse those with the whole walk
                again = [g for g in chunk if g.key in set(prepared.needs_full_index)]
                if deferred is not None:
                    deferred.extend(again)
                else:
                    prepared = merge_chunks(prepared, await in_thread(again))
            return prepared

        # On a thread, parse a chunk and then store it, in turn: overlapping the two on threads only
        # made them fight for the GIL (10,000 groups: 3.8 s overlapped, 2.7 s in turn). Worker
        # processes parse the next chunks while this one is stored; chunks they have ready by then
        # are stored together, in one transaction (fewer commits, each page written fewer times).
        inflight: list[tuple[list[SidecarGroup], asyncio.Future[PreparedChunk]]] = []
        drained = False  # every chunk parsed and stored: the workers are idle, and kept for the next import
        try:
            while True:
                window = workers.count + 1 if workers else 1
                while feed.chunks and len(inflight) < window and not self.cancelled():
                    chunk = feed.chunks.popleft()
                    inflight.append((chunk, launch(chunk)))
                if not inflight:
                    if feed.closed or self.cancelled():
                        drained = not self.cancelled()
                        break
                    await feed.wait()  # the walk has not found a whole chunk more yet
                    continue
                if workers is not None and len(inflight) < window and not feed.closed and not inflight[0][1].done():
                    # A worker is free while the walk goes on: wake for the oldest chunk's result
                    # or for the walk's next chunk, whichever comes first, so no worker waits for
                    # the chunk ahead of it (the first chunk of a walk used to parse alone).
                    more = asyncio.ensure_future(feed.wait())
                    try:
                        await asyncio.wait({inflight[0][1], more}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        more.cancel()
                    continue
                batch = [await resolve(*inflight.pop(0))]
                while inflight and inflight[0][1].done() and sum(len(b.items) for b in batch) < BATCH_GROUPS:
                    batch.append(await resolve(*inflight.pop(0)))
                while workers is not None and feed.chunks and len(inflight) < window and not self.cancelled():
                    nxt = feed.chunks.popleft()
                    inflight.append((nxt, launch(nxt)))
                items: list[ImportItem | adapters.StoreItem] = []
                for prepared in batch:
                    self.absorb(prepared, claimed)
                    foreign.update(foreign_folders((i.key, i.signature, i.model_path) for i in prepared.items))
                    items.extend(prepared.items)
                self.collect(await self.on_db(
                    adapters.store_import_chunk, items, present=self.present, claims=self.claims,
                    existing=self.adapter_keys,
                ))
                done += len(items)
                self.progress("importing", done, feed.added if feed.closed else None, root)
                if self.cancelled():
                    break
        finally:
            for _chunk, future in inflight:
                future.cancel()
            if workers is not None and drained:
                keep_workers(workers)
            elif workers is not None:  # cancelled or failed: a worker may still be busy with a chunk
                self.retired_workers.append(workers)
            for retired in self.retired_workers:
                await retired.close()
            self.retired_workers.clear()

    def absorb(self, tally: ImportTally, claimed: set[str]) -> None:
        rep = self.report
        rep.errors.extend(tally.errors)
        rep.orphans.extend(tally.orphans)
        rep.unchanged += tally.unchanged
        rep.sidecar_groups += tally.sidecar_groups
        rep.not_sidecars += tally.not_sidecars
        rep.not_on_civitai += tally.not_on_civitai
        claimed.update(tally.claimed)

    def collect(self, outcome: adapters.ChunkOutcome) -> None:
        self.report.imported += outcome.imported
        self.report.updated += outcome.updated
        self.report.duplicates.extend(outcome.duplicates)
        self.report.count_coverage(outcome.filled)

    async def store_orphans(self, root: str, scan: RootScan, entries: list[FileEntry], claimed: set[str],
                            stored: dict[str, library_files.StoredFileState]) -> None:
        to_check: list[FileEntry] = []
        for entry in sorted(entries, key=lambda e: e.path):
            state = stored.get(entry.path)
            if state and not self.force and not state.missing and (state.size_bytes, state.mtime_ns) == (entry.size, entry.mtime_ns):
                if state.problem:
                    self.report.errors.append(ImportIssue(entry.path, state.problem, import_folders.BROKEN_BEFORE))
                elif state.adapter_id is None:
                    self.report.orphans.append(entry.path)
                continue
            to_check.append(entry)
        size = max(1, self.options.chunk_size)
        for i in range(0, len(to_check), size):
            if self.cancelled():
                return
            batch = to_check[i:i + size]
            problems = await self.off_loop(lambda b=batch: [check_model_file(e, self.options) for e in b])
            files = []
            for entry, problem in zip(batch, problems):
                if problem is not None:
                    self.report.errors.append(problem)
                else:
                    state = stored.get(entry.path)
                    if state is None or state.adapter_id is None:
                        self.report.orphans.append(entry.path)
                files.append(library_file(entry, root, problem.error_class if problem else None))
            await self.on_db(_store_orphan_files, files)


@dataclass
class Streamed:
    """What walk_and_store already did: model files claimed, folders with foreign references, and
    the groups it left for after the walk (names of model files in other folders)."""

    claimed: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)
    deferred: list[SidecarGroup] = field(default_factory=list)


class ChunkFeed:
    """Sidecar groups for run_pipeline, in chunks: all known at once (a finished walk), or arriving
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


@dataclass
class RootPlan(ImportTally):
    """What a root's walk means against what was stored: the unchanged groups tallied, the rest to parse."""

    changed: list[SidecarGroup] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)  # folders of unchanged groups that name a model elsewhere


def named_model(signature: str, model_path: str | None) -> str | None:
    """The model file a group resolved to, or the one it expected and did not find (kept in its
    signature as 'absent:' + path; see import_parse.group_signature)."""
    if model_path:
        return model_path
    extra = signature.rpartition("\x1d")[2]
    return extra[len("absent:"):] if extra.startswith("absent:") else None


def foreign_folders(groups: Iterable[tuple[str, str, str | None]]) -> set[str]:
    """The folders among (group key, signature, model path) triples whose group depends on a model
    file in another folder: found there, or expected there."""
    out: set[str] = set()
    for key, signature, model_path in groups:
        folder = key.rpartition("/")[0]
        if "\x1d" not in signature:  # not a signature this version wrote: count it as foreign, to be safe
            out.add(folder)
            continue
        if not signature.endswith("\x1d"):  # the metadata named a model file other than the same-named ones
            path = named_model(signature, model_path)
            if path is None or os.path.dirname(path) != folder:
                out.add(folder)
    return out


class SkippedFolderModels(dict[str, FileEntry]):
    """A root's walked model files, which also answers for the folders the walk skipped as unchanged
    (listing such a folder on first use): a changed metadata file may name a model file there."""

    def __init__(self, walked: dict[str, FileEntry], skipped: dict[str, str], options: ImportOptions) -> None:
        super().__init__(walked)
        self.skipped, self.options = skipped, options
        self.listed: dict[str, dict[str, FileEntry]] = {}

    def get(self, key: str, default: FileEntry | None = None) -> FileEntry | None:  # type: ignore[override]
        found = dict.get(self, key)
        if found is not None:
            return found
        folder = os.path.dirname(key)
        if folder not in self.skipped:
            return default
        if folder not in self.listed:
            self.listed[folder] = list_folder_models(folder, self.skipped[folder], self.options)
        return self.listed[folder].get(key, default)


def plan_root(scan: RootScan, stored_sources: dict[str, import_sources.StoredSource], force: bool) -> RootPlan:
    """Split the groups into unchanged (same signature as ingested: never parsed) and changed."""
    plan = RootPlan()
    for group in scan.groups:
        stored = stored_sources.get(group.key)
        # A group still missing the model file it expects is unchanged too (its signature says so).
        named = named_model(stored.signature, stored.model_path) if stored else None
        if stored and not force and stored.signature == group_signature(group, named, scan.models):
            plan.unchanged += 1
            plan.foreign.update(foreign_folders([(group.key, stored.signature, stored.model_path)]))
            plan.errors.extend(stored.issues)
            if stored.model_path:
                plan.claimed.add(stored.model_path)
            if stored.status == STATUS_NOT_ON_CIVITAI and stored.model_path:
                plan.not_on_civitai += 1
                plan.orphans.append(stored.model_path)
            if stored.status == STATUS_NOT_A_SIDECAR:
                plan.not_sidecars += 1
            else:
                plan.sidecar_groups += 1
            continue
        plan.changed.append(group)
    return plan


def _consume_failure(future: asyncio.Future[Any]) -> None:
    """A future abandoned after its worker pool broke: its error was handled, not lost."""
    if not future.cancelled():
        future.exception()


def _load_states(root: str, skipped: dict[str, str]) -> tuple[
    dict[str, import_sources.StoredSource], dict[str, library_files.StoredFileState]
]:
    """The stored state of every folder of `root` but those the walk skipped as unchanged (walked
    ones, and gone ones whose rows must be flagged)."""
    if not skipped:
        return import_sources.load_sources(root), library_files.load_file_states(root)
    skipped_rel = set(skipped.values())
    return (
        import_sources.load_sources(root, [f for f in import_sources.stored_folders(root) if f not in skipped]),
        library_files.load_file_states(root, [f for f in library_files.stored_folders(root) if f not in skipped_rel]),
    )


def _root_is_new(root: str) -> bool:
    """Nothing of `root` is stored yet (its first import)."""
    return not import_sources.stored_folders(root) and not library_files.stored_folders(root)


def _store_orphan_files(files: list[LibraryFile]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.upsert_files(files, link=False)


def _finish_root(root: str, gone_files: list[str], gone_keys: list[str], prints: list[FolderPrint],
                 forget: list[str]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.mark_missing(gone_files)
        import_sources.forget_sources(gone_keys)
        import_folders.save_folders(root, prints, forget)


async def run_import(
    db: DatabaseExecutor,
    roots: list[Path] | list[str],
    *,
    force: bool = False,
    pool: WorkPool | None = None,
    options: ImportOptions = ImportOptions(),
    progress: Callable[[ImportProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportReport:
    """Import every root; see the module docstring. Raises ImportRunError / DatabaseError only when
    the run cannot go on; problems with single files are in the report."""
    started = time.monotonic()
    run = _Run(db, pool, options, force, ProgressThrottle(progress), cancel)
    run.roots = resolve_roots(roots)
    run.report.roots = list(run.roots)
    try:
        for root in run.roots:
            if run.cancelled():
                run.report.cancelled = True
                break
            await run.import_root(root)
    finally:
        if run.early_start is not None:  # still starting: let it finish, then stop what it started
            await asyncio.shield(run.early_start)
        if run.early_workers is not None:  # started for a walk whose files turned out unchanged: idle
            keep_workers(run.early_workers)
            run.early_workers = None
        for retired in run.retired_workers:
            await retired.close(wait=False)
        run.retired_workers.clear()
        try:
            await run.end_writes()
        except DatabaseError as exc:  # the import's own outcome (or error) matters more
            log.warning("the checkpoint after the import failed: %s", exc)
    run.report.orphans = sorted(set(run.report.orphans))
    run.report.duration_s = time.monotonic() - started
    run.progress("finishing", run.report.files_processed, run.report.files_processed, force=True)
    return run.report


async def find_orphans(
    db: DatabaseExecutor,
    roots: list[Path] | list[str],
    *,
    pool: WorkPool | None = None,
    options: ImportOptions = ImportOptions(),
) -> list[str]:
    """Model files with no metadata beside them, without importing anything: a walk, the metadata
    of sidecars that name a model file of another name, and the links the library already holds
    (a file imported from its header is no orphan)."""
    run = _Run(db, pool, options, False, ProgressThrottle(None), None)
    run.roots = resolve_roots(roots)
    orphans: list[str] = []
    for root in run.roots:
        scan = await run.scan(root)
        claimed = {m.path for g in scan.groups for m in g.models}
        named = [g for g in scan.groups if not g.models]
        if named:
            parsed = await run.off_loop(parse_groups, named, scan.models, folder_index(scan.models), options)
            claimed.update(p.model.path for p in parsed if p.model is not None and not p.not_on_civitai)
            claimed.difference_update(p.model.path for p in parsed if p.model is not None and p.not_on_civitai)
        stored = await run.on_db(library_files.load_file_states, root)
        for path in sorted(scan.models):
            state = stored.get(path)
            if path not in claimed and not (state and (state.adapter_id is not None or state.problem)):
                orphans.append(path)
    return orphans

