"""The import's walk stage: a root walked on the work pool (core/discovery.scan_root), with its
progress and the early start of worker processes; and, for a root the library has never seen,
the walk whose folders join the parse and store pipeline while it goes on.

A walk of a network share can take minutes: once it has found enough files for worker
processes, each folder's groups are parsed and stored as soon as the folder is walked.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lora_manager_gui.core.cancel import any_of
from lora_manager_gui.core.discovery import FileEntry, RootScan, SidecarGroup, WalkOptions, scan_root
from lora_manager_gui.core.tasks import Progress, Stage
from lora_manager_gui.services.import_pipeline import ChunkFeed, ParseIndex, Pipeline
from lora_manager_gui.services import import_workers
from lora_manager_gui.services.import_workers import fork_server_up, worker_count

if TYPE_CHECKING:
    from lora_manager_gui.services.import_run import ImportRun

log = logging.getLogger(__name__)

FolderFound = Callable[[list[SidecarGroup], dict[str, FileEntry]], None]


async def walk(run: ImportRun, root: str, known: dict[str, str] | None = None, on_folder: FolderFound | None = None,
               stop: threading.Event | None = None, many: int | None = None,
               then: Callable[[], None] | None = None, moved_from: dict[str, str] | None = None) -> RootScan:
    """Walk `root` on the work pool; `then` runs on the walk's thread once the walk is over."""
    loop = asyncio.get_running_loop()
    runner = run.runner
    cancel = any_of(stop, runner.cancel)  # the import's own stop, or the user's cancel
    progress = run.progress

    def walk_progress(folders: int, files: int) -> None:
        loop.call_soon_threadsafe(progress, Progress(Stage.WALK, files, None, detail=root))

    # Enough new or changed files to parse in worker processes: start them while the walk goes
    # on, so their start (~0.2 s) is not waited for afterwards.
    early = worker_count(import_workers.PROCESS_THRESHOLD, runner.options) > 0 and not run.lease.started
    many = 2 * import_workers.PROCESS_THRESHOLD if many is None else many
    on_many = (many, lambda: loop.call_soon_threadsafe(run.lease.start_early)) if early else None
    options = WalkOptions(
        seen_dirs=run.seen.seen_dirs, seen_files=run.seen.seen_files,
        cancel=cancel, progress=walk_progress if progress.active else None, known=known or {},  # type: ignore[arg-type]
        on_many=on_many, on_folder=on_folder, moved_from=moved_from or {},
    )

    def walk_root() -> RootScan:
        try:
            return scan_root(root, runner.options, options)
        finally:
            if then is not None:
                then()

    return await runner.off_loop(walk_root)


@dataclass
class Streamed:
    """What walk_and_store already did: model files claimed, folders with foreign references, and
    the groups it left for after the walk (names of model files in other folders)."""

    claimed: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)
    deferred: list[SidecarGroup] = field(default_factory=list)


class FolderBatches:
    """Walked folders handed to the loop in batches: a wake-up of the loop per folder (a write to
    its pipe, a turn of the loop, the GIL handed over twice) cost the walk a quarter of its time.
    Groups only leave the feed in whole chunks, so a batch of a quarter chunk delays nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop, feed: ChunkFeed, index: ParseIndex) -> None:
        self.loop, self.feed, self.index = loop, feed, index
        self.pending: list[tuple[list[SidecarGroup], dict[str, FileEntry]]] = []
        self.pending_groups = 0
        self.batch_groups = max(1, feed.size // 4)

    def arrived(self, folders: list[tuple[list[SidecarGroup], dict[str, FileEntry]]]) -> None:  # on the loop
        for groups, models in folders:
            self.index.add_folder(groups[0].folder, models)
            self.feed.add(groups)

    def on_folder(self, groups: list[SidecarGroup], models: dict[str, FileEntry]) -> None:  # the walk's thread
        if groups:
            self.pending.append((groups, models))
            self.pending_groups += len(groups)
        if self.pending_groups >= self.batch_groups:
            self.loop.call_soon_threadsafe(self.arrived, self.pending)
            self.pending, self.pending_groups = [], 0

    def walk_ended(self) -> None:  # the walk's thread, after its last folder
        if self.pending:
            self.loop.call_soon_threadsafe(self.arrived, self.pending)


async def walk_and_store(run: ImportRun, root: str) -> tuple[RootScan, Streamed | None]:
    """The walk of a root the library has never seen, its groups parsed and stored while it goes
    on: once the walk has found enough files for worker processes, each folder's groups join
    the pipeline as soon as the folder is walked. A walk that ends first is handed back as it is
    (None): the usual path imports it."""
    loop = asyncio.get_running_loop()
    feed = ChunkFeed(run.runner.options.chunk_size)
    index = ParseIndex({}, {})
    batches = FolderBatches(loop, feed, index)
    run.lease.wanted = asyncio.Event()
    stop = threading.Event()
    many = min(import_workers.WARM_STREAM_FILES, 2 * import_workers.PROCESS_THRESHOLD) if fork_server_up() else 2 * import_workers.PROCESS_THRESHOLD
    walking = asyncio.ensure_future(walk(run, root, on_folder=batches.on_folder, stop=stop, many=many,
                                         then=batches.walk_ended))
    wanted = asyncio.ensure_future(run.lease.wanted.wait())
    try:
        await asyncio.wait({walking, wanted}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        wanted.cancel()
        run.lease.wanted = None
    if walking.done():
        return walking.result(), None
    # The walk's last folders reach the loop before its end does (both in call_soon order).
    walking.add_done_callback(lambda _w: feed.close())
    streamed = Streamed()
    run.seen.walking = True
    try:
        async with run.lease.lend(worker_count(import_workers.PROCESS_THRESHOLD, run.runner.options)) as lent:
            if lent.workers is not None:
                log.info("parsing the groups of %s in %d worker processes while it is walked", root, lent.workers.count)
            await Pipeline(run, root, feed, index, {}, streamed.claimed, streamed.foreign, lent, streamed.deferred).run_all()
        scan = await walking
    except BaseException:
        stop.set()  # the walk ends at its next folder
        await asyncio.gather(walking, return_exceptions=True)
        raise
    finally:
        run.seen.walking = False
    if scan.cancelled:
        streamed.deferred.clear()
    else:
        # Groups left in the feed: a cancel stopped the pipeline before the walk ended.
        streamed.deferred.extend(g for chunk in feed.chunks for g in chunk)
    return scan, streamed
