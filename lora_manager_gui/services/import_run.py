"""One import run, root by root, in named stages: plan -> walk -> parse -> store -> finish.

- plan: the stored state of the root is loaded and compared with the walk (import_plan, pure);
- walk: import_walk (a new root's walk feeds the pipeline while it goes on);
- parse and store: import_pipeline;
- finish: orphans checked and stored, files gone flagged, fingerprints kept, skipped folders'
  share of the report read back, duplicates settled, the report's orphans read from the library.

The run's parts each keep their own state: `Runner` (where work runs), `FilesSeen` (the walks),
`StoreBook` (what was stored), `WorkerLease` (processes), `BulkWrites` (checkpoint mode), and the
report, which sums every counter in one place.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lora_manager_gui.core.discovery import FileEntry, FolderPrint, RootScan, SidecarGroup
from lora_manager_gui.core.records import STATUS_DUPLICATE, LibraryFile
from lora_manager_gui.core.sidecars.group import check_model_file, folder_index
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind, Progress, ProgressThrottle, Stage
from lora_manager_gui.db import import_duplicates, import_folders, import_sources, library_files
from lora_manager_gui.db.bulk_writes import BulkWrites
from lora_manager_gui.db import file_rows
from lora_manager_gui.services.import_moves import (
    Vanished, collisions_to_print, fingerprints_of, match_moves, row_moves, vanished_and_new,
)
from lora_manager_gui.services.import_parse import library_file
from lora_manager_gui.services.import_pipeline import ChunkFeed, ParseIndex, Pipeline, Runner, StoreBook
from lora_manager_gui.services.import_plan import (
    FilesSeen, RootPlan, SkippedFolderModels, is_empty_folder, plan_root, plan_root_end,
)
from lora_manager_gui.services.import_report import ImportReport
from lora_manager_gui.services.import_walk import Streamed, walk, walk_and_store
from lora_manager_gui.services import import_workers
from lora_manager_gui.services.import_workers import WorkerLease, models_by_folder, worker_count

log = logging.getLogger(__name__)


@dataclass
class ImportRun:
    runner: Runner
    lease: WorkerLease
    writes: BulkWrites
    progress: ProgressThrottle
    force: bool = False
    report: ImportReport = field(default_factory=ImportReport)
    seen: FilesSeen = field(default_factory=FilesSeen)
    book: StoreBook = field(default_factory=StoreBook)

    async def import_root(self, root: str) -> None:
        """Walk, compare, parse and store one root. Folders whose fingerprint matches the one stored
        (unchanged and self-contained) are only stat'ed; their share of the report is read back
        from the database. Fingerprints are stored only when the whole root went through."""
        runner, rep = self.runner, self.report
        if await runner.off_loop(is_empty_folder, root) and await runner.on_db(library_files.recorded_present, root):
            await self.root_offline(root)  # an empty mount point, a drive not plugged in
            return
        known = await runner.on_db(_root_start, root)
        streamed: Streamed | None = None
        if not known and worker_count(import_workers.PROCESS_THRESHOLD, runner.options) and await runner.on_db(_root_is_new, root):
            scan, streamed = await walk_and_store(self, root)
        else:
            prints = None if self.force else {f: k.fingerprint for f, k in known.items()}
            scan = await walk(self, root, prints, moved_from=None if self.force else moved_from(known))
            if scan.moved_folders:
                await self.settle_folder_moves(root, scan, known)
        skipped = scan.skipped
        rep.add(files=scan.files_seen + sum(known[f].files for f in skipped),
                models=len(scan.models) + sum(known[f].models for f in skipped),
                problems=scan.issues, external=scan.external, skipped_links=scan.skipped_links, ignored=scan.ignored)
        self.seen.models.update(scan.models)
        self.seen.skipped_folders.update(skipped)
        if scan.cancelled:
            rep.cancelled = True
            return
        if skipped and (scan.groups or scan.models):  # lookups by metadata may reach a skipped folder
            scan.models = SkippedFolderModels(scan.models, skipped, runner.options)
        if streamed is not None:  # a new root, stored while walking but for what needed the whole walk
            stored_sources: dict[str, import_sources.StoredSource] = {}
            stored_files: dict[str, library_files.StoredFileState] = {}
            plan = RootPlan(changed=streamed.deferred)
            claimed, foreign = streamed.claimed, streamed.foreign
        else:
            stored_sources, stored_files = await runner.on_db(_load_states, root, skipped)
            if await self.recognise_moves(scan, stored_files):
                stored_sources, stored_files = await runner.on_db(_load_states, root, skipped)
            # Comparing 10,000s of signatures is CPU work: never on the event loop.
            plan = await runner.off_loop(plan_root, scan, stored_sources, self.force)
            claimed, foreign = set(plan.claimed), set(plan.foreign)
            rep.add_share(plan)
        orphan_entries = await self.store_changed(root, scan, plan.changed, stored_sources, claimed, foreign,
                                                  processes=streamed is None)
        if runner.cancelled():
            rep.cancelled = True
            return
        await self.store_orphans(root, orphan_entries, stored_files)
        if runner.cancelled():
            rep.cancelled = True
            return
        await self.print_collisions(scan, stored_files)
        end = plan_root_end(scan, stored_files, stored_sources, known, self.seen.models, foreign)
        rep.add(missing=end.gone_files)
        if end.any:
            await runner.on_db(_finish_root, root, end.gone_files, end.gone_keys, end.prints, end.forget)
        if skipped:
            # Orphans are read for the whole run at its end (finish).
            rep.add_share(await runner.on_db(import_folders.folder_share, root, skipped, len(skipped) == scan.folders,
                                             orphans=False))

    async def root_offline(self, root: str) -> None:
        """The root is offline: its files are flagged offline (and missing), nothing else changes."""
        self.report.offline_roots.append(root)
        self.report.offline_files += await self.runner.on_db(_mark_offline, root)
        log.info("library root %s is offline: %d files flagged offline", root, self.report.offline_files)

    async def settle_folder_moves(self, root: str, scan: RootScan,
                                  known: dict[str, import_folders.StoredFolder]) -> None:
        """Folders the walk took for known ones moved elsewhere (same fingerprint, the old one
        gone): every row of theirs re-keyed at once, and the folder stays skipped as unchanged."""
        pairs = sorted(scan.moved_folders.items())
        moved = await self.runner.on_db(_move_folders, root, [(new, scan.skipped[new], old, known[old]) for new, old in pairs])
        for new, old in pairs:
            known[new] = known[old]
        self.report.moved.extend(moved)

    async def recognise_moves(self, scan: RootScan, stored: dict[str, library_files.StoredFileState]) -> bool:
        """Files moved outside the app (services/import_moves.py): their rows re-keyed to the new
        paths before the comparison, so the move costs no parse and no hash. True if any."""
        gone, new = vanished_and_new(stored, scan.models, self.seen.models)
        if not gone or not new:
            return False
        runner = self.runner
        sizes = {e.size for e in new}
        gone = [p for p in gone if stored[p].size_bytes in sizes]
        if not gone:
            return False
        prints = await runner.on_db(library_files.fingerprints_for, gone)
        vanished = [Vanished(p, stored[p].size_bytes, stored[p].mtime_ns, prints.get(p)) for p in gone]
        match = await runner.off_loop(match_moves, vanished, new)
        if not match.moves:
            return False
        rows = row_moves(match.moves, scan.groups)
        kept = {dst: match.printed[dst] for _src, dst in match.moves if dst in match.printed}
        await runner.on_db(_apply_moves, rows, kept)
        self.report.moved.extend(match.moves)
        return True

    async def print_collisions(self, scan: RootScan, stored: dict[str, library_files.StoredFileState]) -> None:
        """Fingerprints for files just stored that share (size, mtime_ns) with another walked file
        (import_moves.collisions_to_print). Only a root with new files pays for the look."""
        fresh = [p for p in scan.models if p not in stored]
        if not fresh:
            return
        runner = self.runner
        entries = await runner.off_loop(collisions_to_print, scan.models, fresh)
        if entries:
            known = await runner.on_db(library_files.fingerprints_for, [e.path for e in entries])
            prints = await runner.off_loop(fingerprints_of, [e for e in entries if e.path not in known])
            await runner.on_db(_save_fingerprints, prints)

    async def store_changed(self, root: str, scan: RootScan, changed: list[SidecarGroup],
                            stored: dict[str, import_sources.StoredSource], claimed: set[str],
                            foreign: set[str], processes: bool = True) -> list[FileEntry]:
        """Parse and store the changed groups of a finished walk; the model files no group claimed.
        Without `processes`, parsing stays in this process (groups that need the whole walk)."""
        if changed:
            runner = self.runner
            feed = ChunkFeed(runner.options.chunk_size)
            feed.add(changed)
            feed.close()
            count = worker_count(len(changed), runner.options) if processes else 0
            async with self.lease.lend(count) as lent:
                if lent.workers is not None:
                    log.info("parsing %d changed groups of %s in %d worker processes", len(changed), root, count)
                index = ParseIndex(scan.models, await runner.off_loop(folder_index, scan.models))
                if lent.workers is not None:
                    index.by_folder = await runner.off_loop(models_by_folder, scan.models)
                # A duplicate's row is the kept file's: never renamed after the duplicate's metadata.
                stored_ids = {key: s.adapter_id for key, s in stored.items() if s.status != STATUS_DUPLICATE}
                await Pipeline(self, root, feed, index, stored_ids, claimed, foreign, lent).run_all()
        return [m for m in scan.models.values() if m.path not in claimed]

    async def store_orphans(self, root: str, entries: list[FileEntry],
                            stored: dict[str, library_files.StoredFileState]) -> None:
        """The model files no group claimed: checked (size bounds, safetensors header) unless
        unchanged since stored, and stored as orphans or broken files."""
        runner, options = self.runner, self.runner.options
        to_check: list[FileEntry] = []
        problems: list[ItemProblem] = []
        for entry in sorted(entries, key=lambda e: e.path):
            state = stored.get(entry.path)
            if state and not self.force and not state.missing and (state.size_bytes, state.mtime_ns) == (entry.size, entry.mtime_ns):
                if state.problem:
                    problems.append(ItemProblem(entry.path, ProblemKind.parse(state.problem), import_folders.BROKEN_BEFORE))
                continue
            to_check.append(entry)
        self.report.add(problems=problems)
        size = max(1, options.chunk_size)
        for i in range(0, len(to_check), size):
            if runner.cancelled():
                return
            batch = to_check[i:i + size]
            found = await runner.off_loop(lambda b=batch: [check_model_file(e, options) for e in b])
            files: list[LibraryFile] = []
            for entry, problem in zip(batch, found):
                files.append(library_file(entry, root, problem.kind.value if problem else None))
            self.report.add(problems=[p for p in found if p is not None])
            await runner.on_db(_store_orphan_files, files)

    async def finish(self) -> None:
        """After the last root (or a cancel): duplicates settled by path, and the report's orphans
        as the library holds them (what the window's orphan list shows)."""
        runner, rep = self.runner, self.report
        if self.book.contested:
            settled = await runner.on_db(import_duplicates.settle_duplicates, self.book.contested, self.book.first_new_id)
            if settled.keys:
                rep.duplicates = [d for d in rep.duplicates if (d.name, d.version) not in settled.keys]
                rep.duplicates.extend(settled.duplicates)
                rep.count_coverage(settled.unfilled, -1)
                rep.count_coverage(settled.filled)
        rep.duplicates.sort(key=lambda d: (d.name, d.version, d.kept_path, d.duplicate_path))
        rep.orphans = await runner.on_db(library_files.orphan_paths, self.seen.roots)
        self.progress(Progress(Stage.FINISH, rep.files_processed, rep.files_processed, problems=len(rep.errors)),
                      force=True)


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


def _root_start(root: str) -> dict[str, import_folders.StoredFolder]:
    """The root is there: files flagged offline are back (one hop to the database thread, with
    the folders' fingerprints)."""
    library_files.bring_online(root)
    return import_folders.load_folders(root)


def moved_from(known: dict[str, import_folders.StoredFolder]) -> dict[str, str]:
    """Fingerprint -> folder, for the known folders with files whose fingerprint no other has."""
    seen: dict[str, str | None] = {}
    for folder, stored in known.items():
        if stored.files:
            seen[stored.fingerprint] = None if stored.fingerprint in seen else folder
    return {fp: folder for fp, folder in seen.items() if folder is not None}


def _move_folders(root: str, moves: list[tuple[str, str, str, import_folders.StoredFolder]]) -> list[tuple[str, str]]:
    """Re-key the rows of whole folders moved outside the app (file_rows.apply_moves for their
    model files and metadata files, then the groups without a model file), and keep their
    fingerprints at the new place. Returns the model files' (from, to)."""
    with library_files.LibraryFileRow._meta.database.atomic():
        rows, models = library_files.folder_move_rows(root, [(old, new) for new, _rel, old, _stored in moves])
        file_rows.apply_moves(rows)
        import_folders.move_folders(root, [(old, new) for new, _rel, old, _stored in moves])
        import_folders.save_folders(root, [FolderPrint(new, rel, stored.fingerprint, stored.files, stored.models)
                                           for new, rel, _old, stored in moves], [])
    return models


def _mark_offline(root: str) -> int:
    with library_files.LibraryFileRow._meta.database.atomic():
        return library_files.mark_offline(root)


def _apply_moves(rows: list[file_rows.RowMove], prints: dict[str, str]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        file_rows.apply_moves(rows)
        library_files.save_fingerprints(prints)


def _save_fingerprints(prints: dict[str, str]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.save_fingerprints(prints)


def _finish_root(root: str, gone_files: list[str], gone_keys: list[str], prints: list[FolderPrint],
                 forget: list[str]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.mark_missing(gone_files)
        import_sources.forget_sources(gone_keys)
        import_folders.save_folders(root, prints, forget)
