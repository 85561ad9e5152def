"""Background tasks: cancellable jobs with throttled progress and a per-item error list.

A job is an `async def job(ctx: TaskContext)`; it runs on the qasync loop and hands blocking work
to the executors. Worker threads report through `ctx.report(...)` and `ctx.add_error(...)`, which
are thread-safe and never touch Qt: the snapshot crosses to the GUI thread with
`loop.call_soon_threadsafe`, at most a few times per second. Cancellation is cooperative
(`ctx.cancel_event`, a threading.Event the services poll), with an asyncio cancel as the last resort.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.sizes import display_size, human_duration
from lora_manager_gui.ui.async_bridge import report_exception

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.2


@dataclass(frozen=True)
class TaskProgress:
    done: int = 0
    total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    message: str = ""
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float | None:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.total:
            return min(1.0, self.done / self.total)
        return None

    @property
    def bytes_per_s(self) -> float | None:
        if self.bytes_done and self.elapsed_s > 0.05:
            return self.bytes_done / self.elapsed_s
        return None

    @property
    def eta_s(self) -> float | None:
        frac = self.fraction
        if not frac or frac >= 1.0 or self.elapsed_s < 0.5:
            return None
        return self.elapsed_s * (1.0 - frac) / frac

    def describe(self) -> str:
        parts = [f"{self.done:,}" + (f" / {self.total:,}" if self.total is not None else "")]
        rate = self.bytes_per_s
        if rate:
            parts.append(f"{display_size(rate)}/s")
        eta = self.eta_s
        if eta is not None:
            parts.append(f"ETA {human_duration(eta)}")
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)


@dataclass(frozen=True)
class ItemError:
    item: str
    error_class: str
    message: str


class TaskContext:
    """What a job sees: thread-safe progress and error reporting, and the cancel flag."""

    def __init__(self, task: BackgroundTask, loop: asyncio.AbstractEventLoop) -> None:
        self._task = task
        self._loop = loop
        self._lock = threading.Lock()
        self._latest = TaskProgress()
        self._errors: list[ItemError] = []
        self._flush_pending = False
        self._last_emit = 0.0
        self._started = time.monotonic()
        self.cancel_event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def report(self, done: int, total: int | None = None, *, bytes_done: int = 0,
               bytes_total: int | None = None, message: str = "") -> None:
        with self._lock:
            self._latest = TaskProgress(done, total, bytes_done, bytes_total, message)
            self._schedule_locked()

    def add_error(self, item: str, error: BaseException | str, error_class: str | None = None) -> None:
        if isinstance(error, BaseException):
            entry = ItemError(str(item), error_class or type(error).__name__, str(error))
        else:
            entry = ItemError(str(item), error_class or "Error", str(error))
        with self._lock:
            self._errors.append(entry)
            self._schedule_locked()

    def _schedule_locked(self) -> None:
        if self._flush_pending or self._loop.is_closed():
            return
        self._flush_pending = True
        try:
            self._loop.call_soon_threadsafe(self._flush_later)
        except RuntimeError:  # loop closed while a worker was still reporting
            self._flush_pending = False

    def _flush_later(self) -> None:
        wait = self._last_emit + PROGRESS_INTERVAL_S - time.monotonic()
        if wait > 0:
            self._loop.call_later(wait, self.flush)
        else:
            self.flush()

    def flush(self) -> None:
        """Hand the latest snapshot to the task (GUI thread)."""
        with self._lock:
            self._flush_pending = False
            progress = replace(self._latest, elapsed_s=time.monotonic() - self._started)
            errors, self._errors = self._errors, []
        self._last_emit = time.monotonic()
        self._task._receive(progress, errors)


JobFn = Callable[[TaskContext], Awaitable[Any]]


class BackgroundTask(QObject):
    """One running job as the window sees it."""

    progress_changed = Signal(object)  # TaskProgress
    errors_added = Signal(object)  # list[ItemError]
    finished = Signal(object)  # this task

    def __init__(self, title: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.state = "running"  # running | done | cancelled | failed
        self.progress = TaskProgress()
        self.errors: list[ItemError] = []
        self.result: Any = None
        self.failure: BaseException | None = None
        self.context: TaskContext | None = None
        self.asyncio_task: asyncio.Task[Any] | None = None
        self.progress_updates = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    def cancel(self) -> None:
        if self.context is not None and self.running:
            log.info("cancelling task %r", self.title)
            self.context.cancel_event.set()

    def _receive(self, progress: TaskProgress, errors: list[ItemError]) -> None:
        self.progress = progress
        self.progress_updates += 1
        self.progress_changed.emit(progress)
        if errors:
            self.errors.extend(errors)
            self.errors_added.emit(errors)


class TaskManager(QObject):
    """Starts jobs as tasks, keeps the running ones, and stops them all at shutdown."""

    task_started = Signal(object)
    task_finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[BackgroundTask] = []

    def start(self, title: str, job: JobFn) -> BackgroundTask:
        loop = asyncio.get_event_loop()
        task = BackgroundTask(title, self)
        task.context = TaskContext(task, loop)
        self._tasks.append(task)
        task.asyncio_task = asyncio.ensure_future(self._run(task, job))
        self.task_started.emit(task)
        return task

    async def _run(self, task: BackgroundTask, job: JobFn) -> None:
        ctx = task.context
        assert ctx is not None
        try:
            task.result = await job(ctx)
            task.state = "cancelled" if ctx.cancelled else "done"
        except asyncio.CancelledError:
            task.state = "cancelled"
        except Exception as exc:
            task.state = "failed"
            task.failure = exc
            ctx.add_error(task.title, exc)
            if isinstance(exc, LoraManagerError):  # expected failure: it goes to the error list
                log.warning("task %r failed: %s", task.title, exc)
            else:
                report_exception(exc, f"task {task.title!r}")
        finally:
            ctx.flush()
            if task in self._tasks:
                self._tasks.remove(task)
            task.finished.emit(task)
            self.task_finished.emit(task)

    @property
    def running(self) -> list[BackgroundTask]:
        return list(self._tasks)

    async def shutdown(self, grace_s: float = 3.0) -> None:
        """Ask every job to stop, give them `grace_s` to do so, then cancel what is left."""
        tasks = self.running
        for t in tasks:
            t.cancel()
        pending = [t.asyncio_task for t in tasks if t.asyncio_task and not t.asyncio_task.done()]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=grace_s)
        for fut in still:
            fut.cancel()
        if still:
            await asyncio.wait(still, timeout=grace_s)
