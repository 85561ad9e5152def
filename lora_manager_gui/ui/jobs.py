"""The background jobs the window starts, over the services of the other layers.

`ServiceJobs` builds each job from the real services; a test passes its own object with the same
methods to drive progress and cancellation deterministically. A job is `async def job(ctx)` (see
ui/tasks.py); progress objects of the services are read by attribute, so the UI needs no more from
them than counts and bytes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.ui.context import AppContext, require_module
from lora_manager_gui.ui.tasks import JobFn, TaskContext

log = logging.getLogger(__name__)

_DONE_NAMES = ("done", "files_done", "processed", "completed", "hashed", "checked")
_TOTAL_NAMES = ("total", "files_total", "discovered", "to_check")


def _first_int(obj: Any, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def progress_forwarder(ctx: TaskContext) -> Callable[[Any], None]:
    """A `progress=` callback for a service: maps its progress object onto ctx.report (any thread)."""

    def forward(p: Any) -> None:
        inner = getattr(p, "hashing", None) or p  # identification nests the hashing progress
        ctx.report(
            _first_int(p, _DONE_NAMES) or 0,
            _first_int(p, _TOTAL_NAMES),
            bytes_done=_first_int(inner, ("bytes_done", "bytes_hashed", "bytes_read")) or 0,
            bytes_total=_first_int(inner, ("bytes_total", "total_bytes")),
            message=str(getattr(p, "phase", "") or getattr(p, "stage", "") or getattr(p, "message", "") or ""),
        )

    return forward


def record_report_errors(ctx: TaskContext, report: Any) -> None:
    """Copy a service report's per-item failures into the task's error list."""
    for item in getattr(report, "items", None) or []:  # identification: one item per file
        if getattr(item, "status", "") in ("failed", "hash_failed"):
            ctx.add_error(str(item.path), str(item.error or item.status), str(item.error_class or item.status))
    for attr in ("errors", "failures"):
        items = getattr(report, attr, None)
        if not isinstance(items, (list, tuple)):
            continue
        for item in items:
            path = getattr(item, "path", None) or getattr(item, "item", None) or getattr(item, "file", "")
            cls = getattr(item, "error_class", None) or getattr(item, "kind", None) or "Error"
            msg = getattr(item, "message", None) or getattr(item, "error", None) or str(item)
            ctx.add_error(str(path), str(msg), str(cls))
        return


class Jobs(Protocol):
    def import_roots(self, roots: list[Path]) -> JobFn: ...
    def hash_paths(self, paths: list[Path]) -> JobFn: ...
    def identify_paths(self, paths: list[Path]) -> JobFn: ...
    def import_from_headers(self, paths: list[Path]) -> JobFn: ...


class ServiceJobs:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def import_roots(self, roots: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> Any:
            importer = require_module("services.importer", "Import")
            report = await importer.run_import(self.ctx.db, list(roots), pool=self.ctx.pool,
                                               progress=progress_forwarder(task), cancel=task.cancel_event)
            record_report_errors(task, report)
            return report

        return job

    def hash_paths(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> Any:
            hasher = self.ctx.get_hasher()
            results = await hasher.hash_paths(list(paths), progress=progress_forwarder(task),
                                              cancel=task.cancel_event)
            for r in results:
                error = getattr(r, "error", None)
                if error:
                    task.add_error(str(getattr(r, "path", "")), str(error), getattr(r, "error_class", None))
            task.report(len(results), len(paths))
            return results

        return job

    def identify_paths(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> Any:
            identify = require_module("services.identify", "CivitAI identification")
            report = await identify.identify(self.ctx.db, await self.ctx.get_civitai(), self.ctx.get_hasher(),
                                             list(paths), progress=progress_forwarder(task),
                                             cancel=task.cancel_event)
            record_report_errors(task, report)
            return report

        return job

    def import_from_headers(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> Any:
            header_import = require_module("services.header_import", "Import from the safetensors header")
            done = 0
            for path in paths:
                if task.cancelled:
                    break
                try:
                    await header_import.import_orphan_from_header_async(self.ctx.db, path, self.ctx.pool)
                except (LoraManagerError, OSError, ValueError) as exc:
                    task.add_error(str(path), exc)
                done += 1
                task.report(done, len(paths), message=path.name)
            return done

        return job
