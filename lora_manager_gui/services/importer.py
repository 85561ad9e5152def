"""The library import: discover -> detect changes -> parse -> validate -> store, per root.

Nothing here blocks the event loop: the walk and parsing run on the work pool, every peewee call
goes through the database executor, and progress callbacks run on the loop thread, throttled.
Each chunk of results is one transaction, so a cancelled or killed import keeps what it committed
and a re-run completes the rest (unchanged groups are skipped by their stored signature).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, RootScan, SidecarGroup, scan_root
from lora_manager_gui.core.errors import DatabaseError, LoraManagerError
from lora_manager_gui.core.records import (
    STATUS_NOT_A_SIDECAR,
    STATUS_NOT_ON_CIVITAI,
    ImportIssue,
    ImportItem,
    LibraryFile,
)
from lora_manager_gui.core.sidecars.group import ParsedGroup, check_model_file, folder_index, parse_groups
from lora_manager_gui.db import adapters, import_sources, library_files
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.header_import import (
    AdapterExistsError,
    import_orphan_from_header,
    import_orphan_from_header_async,
)
from lora_manager_gui.services.import_report import ImportProgress, ImportReport, ProgressThrottle

__all__ = [
    "AdapterExistsError", "ImportOptions", "ImportProgress", "ImportReport", "ImportRunError", "find_orphans",
    "import_orphan_from_header", "import_orphan_from_header_async", "run_import",
]


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


def model_signature(model_path: str | None, models: dict[str, FileEntry]) -> str:
    if not model_path:
        return ""
    entry = models.get(model_path)
    return entry.signature() if entry else "absent:" + model_path


def group_signature(group: SidecarGroup, model_path: str | None, models: dict[str, FileEntry]) -> str:
    """Sidecars + same-named model files + the model file the metadata named, when it is another."""
    same = {m.path for m in group.models}
    extra = "" if model_path in same else model_signature(model_path, models)
    return group.sidecar_signature() + "\x1d" + extra


def _library_file(entry: FileEntry, root: str, problem: str | None = None) -> LibraryFile:
    return LibraryFile(
        path=entry.path, root=root, rel_path=entry.rel_path, size_bytes=entry.size, mtime_ns=entry.mtime_ns,
        folder=entry.rel_path.rpartition("/")[0], problem=problem, external=entry.external,
    )


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
        self.roots: list[str] = []

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

    def present(self, path: str) -> bool:
        """Does a model file exist now? (Runs on the database thread, for duplicate checks.)"""
        if path in self.all_models:
            return True
        if any(path.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
            return False  # under a scanned root and not found by the walk
        return os.path.isfile(path)

    async def scan(self, root: str) -> RootScan:
        loop = asyncio.get_running_loop()

        def walk_progress(folders: int, files: int) -> None:
            loop.call_soon_threadsafe(self.progress, "scanning", files, None, root)

        return await self.off_loop(
            lambda: scan_root(root, self.options, seen_dirs=self.seen_dirs, seen_files=self.seen_files,
                              cancel=self.cancel, progress=walk_progress)
        )

    async def import_root(self, root: str) -> None:
        rep = self.report
        scan = await self.scan(root)
        rep.files_processed += scan.files_seen
        rep.model_files += len(scan.models)
        rep.errors.extend(scan.issues)
        rep.external.extend(scan.external)
        rep.skipped_links.extend(scan.skipped_links)
        rep.ignored += scan.ignored
        self.all_models.update(scan.models)
        if scan.cancelled:
            rep.cancelled = True
            return
        stored_sources = await self.on_db(import_sources.load_sources, root)
        stored_files = await self.on_db(library_files.load_file_states, root)
        claimed: set[str] = set()
        changed: list[SidecarGroup] = []
        for group in scan.groups:
            stored = stored_sources.get(group.key)
            if stored and not self.force and stored.signature == group_signature(group, stored.model_path, scan.models):
                rep.unchanged += 1
                rep.errors.extend(stored.issues)
                if stored.model_path:
                    claimed.add(stored.model_path)
                if stored.status == STATUS_NOT_ON_CIVITAI and stored.model_path:
                    rep.not_on_civitai += 1
                    rep.orphans.append(stored.model_path)
                if stored.status == STATUS_NOT_A_SIDECAR:
                    rep.not_sidecars += 1
                else:
                    rep.sidecar_groups += 1
                continue
            changed.append(group)
        orphan_entries = await self.store_changed(root, scan, changed, stored_sources, claimed)
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
        await self.on_db(_finish_root, root, gone_files, gone_keys)

    async def store_changed(self, root: str, scan: RootScan, changed: list[SidecarGroup],
                            stored: dict[str, import_sources.StoredSource], claimed: set[str]) -> list[FileEntry]:
        rep = self.report
        folders = folder_index(scan.models)
        size = max(1, self.options.chunk_size)
        chunks = [changed[i:i + size] for i in range(0, len(changed), size)]
        total, done = len(changed), 0
        by_key = {g.key: g for g in changed}
        pending_write: asyncio.Future[Any] | None = None
        next_parse = asyncio.ensure_future(self.off_loop(parse_groups, chunks[0], scan.models, folders, self.options)) if chunks else None
        for index in range(len(chunks)):
            assert next_parse is not None
            parsed: list[ParsedGroup] = await next_parse
            next_parse = None
            if index + 1 < len(chunks) and not self.cancelled():
                next_parse = asyncio.ensure_future(self.off_loop(parse_groups, chunks[index + 1], scan.models, folders, self.options))
            items = [self.item_for(root, by_key[p.key], p, scan, stored.get(p.key), claimed) for p in parsed]
            if pending_write is not None:
                self.collect(await pending_write)
            pending_write = asyncio.ensure_future(self.on_db(adapters.store_import_chunk, items, present=self.present, claims=self.claims))
            done += len(parsed)
            self.progress("importing", done, total, root)
            if self.cancelled():
                break
        if next_parse is not None:
            next_parse.cancel()
        if pending_write is not None:
            self.collect(await pending_write)
        return [m for m in scan.models.values() if m.path not in claimed]

    def item_for(self, root: str, group: SidecarGroup, parsed: ParsedGroup, scan: RootScan,
                 stored: import_sources.StoredSource | None, claimed: set[str]) -> ImportItem:
        rep = self.report
        rep.errors.extend(parsed.issues)
        model_path = parsed.model.path if parsed.model else parsed.expected_model_path
        if parsed.model is not None:
            claimed.add(parsed.model.path)
        if parsed.status == STATUS_NOT_A_SIDECAR:
            rep.not_sidecars += 1
        else:
            rep.sidecar_groups += 1
        if parsed.not_on_civitai and parsed.model is not None:
            rep.not_on_civitai += 1
            rep.orphans.append(parsed.model.path)
        return ImportItem(
            key=group.key,
            root=root,
            signature=group_signature(group, model_path, scan.models),
            status=parsed.status,
            record=parsed.record,
            model_file=_library_file(parsed.model, root, parsed.model_problem) if parsed.model else None,
            issues=parsed.issues,
            previous_adapter_id=stored.adapter_id if stored else None,
        )

    def collect(self, outcome: adapters.ChunkOutcome) -> None:
        self.report.imported += outcome.imported
        self.report.updated += outcome.updated
        self.report.duplicates.extend(outcome.duplicates)
        self.report.written.extend(outcome.written)

    async def store_orphans(self, root: str, scan: RootScan, entries: list[FileEntry], claimed: set[str],
                            stored: dict[str, library_files.StoredFileState]) -> None:
        to_check: list[FileEntry] = []
        for entry in sorted(entries, key=lambda e: e.path):
            state = stored.get(entry.path)
            if state and not self.force and not state.missing and (state.size_bytes, state.mtime_ns) == (entry.size, entry.mtime_ns):
                if state.problem:
                    self.report.errors.append(ImportIssue(entry.path, state.problem, "the model file was found broken by an earlier import and has not changed since"))
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
                files.append(_library_file(entry, root, problem.error_class if problem else None))
            await self.on_db(_store_orphan_files, files)


def _store_orphan_files(files: list[LibraryFile]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.upsert_files(files, link=False)


def _finish_root(root: str, gone_files: list[str], gone_keys: list[str]) -> None:
    with library_files.LibraryFileRow._meta.database.atomic():
        library_files.mark_missing(gone_files)
        import_sources.forget_sources(gone_keys)
        library_files.touch_present(root)


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
    for root in run.roots:
        if run.cancelled():
            run.report.cancelled = True
            break
        await run.import_root(root)
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

