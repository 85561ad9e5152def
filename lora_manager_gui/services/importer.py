"""The library import: plan -> walk -> parse -> store -> finish, per root.

Nothing here blocks the event loop: the walk and parsing run on the work pool (or in worker
processes), every peewee call goes through the database executor, and progress records
(`core.tasks.Progress`) are passed on from the loop thread, throttled. Each chunk of results is one
transaction, so a cancelled or killed import keeps what it committed and a re-run completes the
rest (unchanged groups are skipped by their stored signature).

This module is the facade: `run_import` and `find_orphans`. The stages live in `import_plan`
(pure), `import_walk`, `import_parse`, `import_pipeline` and `import_run`; worker processes in
`import_workers`; the bulk-write mode in `db/bulk_writes`.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.core.sidecars.group import folder_index, parse_groups
from lora_manager_gui.core.tasks import ProgressSink, ProgressThrottle
from lora_manager_gui.db import library_files
from lora_manager_gui.db.bulk_writes import BulkWrites
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.header_import import (
    AdapterExistsError,
    import_orphan_from_header,
    import_orphan_from_header_async,
)
from lora_manager_gui.services.import_pipeline import Runner
from lora_manager_gui.services.import_plan import ImportRunError, resolve_roots, split_roots
from lora_manager_gui.services.import_report import ImportReport
from lora_manager_gui.services.import_run import ImportRun
from lora_manager_gui.services.import_walk import walk
from lora_manager_gui.services.import_workers import WorkerLease

__all__ = [
    "AdapterExistsError", "ImportOptions", "ImportReport", "ImportRunError", "find_orphans",
    "import_orphan_from_header", "import_orphan_from_header_async", "resolve_roots", "run_import",
]


async def run_import(
    db: DatabaseExecutor,
    roots: list[Path] | list[str],
    *,
    force: bool = False,
    pool: WorkPool | None = None,
    options: ImportOptions = ImportOptions(),
    progress: ProgressSink | None = None,
    cancel: threading.Event | None = None,
) -> ImportReport:
    """Import every root; see the module docstring. Raises ImportRunError / DatabaseError only when
    the run cannot go on; problems with single files are in the report."""
    started = time.monotonic()
    runner = Runner(db, pool, options, cancel)
    resolved, unavailable = split_roots(roots)
    offline: list[str] = []
    for path, reason in unavailable:  # a root gone or unreadable is offline if the library has files there
        if not await runner.on_db(library_files.recorded_present, path):
            raise ImportRunError(reason)
        offline.append(path)
    async with WorkerLease(options) as lease, BulkWrites(db.path, runner.on_db) as writes:
        run = ImportRun(runner, lease, writes, ProgressThrottle(progress), force, ImportReport(forced=force))
        run.seen.roots = resolved
        run.report.roots = list(resolved) + offline
        for root in offline:
            await run.root_offline(root)
        for root in resolved:
            if runner.cancelled():
                run.report.cancelled = True
                break
            await run.import_root(root)
    await run.finish()
    run.report.duration_s = time.monotonic() - started
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
    runner = Runner(db, pool, options)
    async with WorkerLease(options) as lease, BulkWrites(db.path, runner.on_db) as writes:
        run = ImportRun(runner, lease, writes, ProgressThrottle(None))
        run.seen.roots = resolve_roots(roots)
        orphans: list[str] = []
        for root in run.seen.roots:
            scan = await walk(run, root)
            claimed = {m.path for g in scan.groups for m in g.models}
            named = [g for g in scan.groups if not g.models]
            if named:
                parsed = await runner.off_loop(parse_groups, named, scan.models, folder_index(scan.models), options)
                claimed.update(p.model.path for p in parsed if p.model is not None and not p.not_on_civitai)
                claimed.difference_update(p.model.path for p in parsed if p.model is not None and p.not_on_civitai)
            stored = await runner.on_db(library_files.load_file_states, root)
            for path in sorted(scan.models):
                state = stored.get(path)
                if path not in claimed and not (state and (state.adapter_id is not None or state.problem)):
                    orphans.append(path)
    return orphans
