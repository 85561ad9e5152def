"""Background tasks: cancellable jobs with throttled progress, per-item problems and an outcome.

A job is an `async def job(ctx: TaskContext)`; it runs on the qasync loop and hands blocking work
to the executors. It reports through the task contract of core/tasks.py: `ctx.report(Progress)`,
`ctx.add_problem(ItemProblem)` (both thread-safe, never touching Qt: the snapshot crosses to the
GUI thread with `loop.call_soon_threadsafe`, at most a few times per second) and, at its end,
`ctx.set_outcome(TaskOutcome)`. A job that sets no outcome gets one decided from what it reported.
Cancellation is cooperative (`ctx.cancel_event`, a threading.Event the services poll), with an
asyncio cancel as the last resort.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from lora_manager_gui.core.errors import DatabaseError, LoraManagerError
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind, Progress, Stage, TaskOutcome
from lora_manager_gui.core.sizes import display_size, human_duration
from lora_manager_gui.ui.async_bridge import report_exception

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.2


@dataclass(frozen=True)
class TaskProgress:
    """The latest `Progress` of a task as the GUI shows it, with the time it has run."""

    progress: Progress = field(default_factory=lambda: Progress(Stage.PLAN))
    elapsed_s: float = 0.0

    @property
    def stage(self) -> Stage:
        return self.progress.stage

    @property
    def done(self) -> int:
        return self.progress.done

    @property
    def total(self) -> int | None:
        return self.progress.total

    @property
    def bytes_done(self) -> int:
        return self.progress.bytes_done

    @property
    def fraction(self) -> float | None:
        return self.progress.fraction

    @property
    def bytes_per_s(self) -> float | None:
        if self.progress.bytes_done and self.elapsed_s > 0.05:
            return self.progress.bytes_done / self.elapsed_s
        return None

    @property
    def eta_s(self) -> float | None:
        frac = self.fraction
        if not frac or frac >= 1.0 or self.elapsed_s < 0.5:
            return None
        return self.elapsed_s * (1.0 - frac) / frac

    def describe(self) -> str:
        p = self.progress
        parts = [p.stage.label, f"{p.done:,}" + (f" / {p.total:,}" if p.total is not None else "")]
        rate = self.bytes_per_s
        if rate:
            parts.append(f"{display_size(rate)}/s")
        eta = self.eta_s
        if eta is not None:
            parts.append(f"ETA {human_duration(eta)}")
        if p.deferred:
            parts.append(f"{p.deferred:,} deferred")
        if p.detail:
            parts.append(p.detail)
        return " · ".join(parts)


def problem_for_exception(item: str, exc: BaseException) -> ItemProblem:
    """The problem a task that could not go on reports about itself."""
    if isinstance(exc, DatabaseError):
        kind = ProblemKind.DATABASE
    elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        kind = ProblemKind.DISK_FULL
    else:
        kind = ProblemKind.parse(getattr(exc, "error_class", None))
    return ItemProblem(item, kind, f"{type(exc).__name__}: {exc}")


class TaskContext:
    """What a job sees: thread-safe progress and problem reporting, the cancel flag, the outcome."""

    def __init__(self, task: BackgroundTask, loop: asyncio.AbstractEventLoop) -> None:
        self._task = task
        self._loop = loop
        self._lock = threading.Lock()
        self._latest = Progress(Stage.PLAN)
        self._problems: list[ItemProblem] = []
        self._flush_pending = False
        self._last_emit = 0.0
        self._started = time.monotonic()
        self.cancel_event = threading.Event()
        self.outcome: TaskOutcome | None = None

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def report(self, progress: Progress) -> None:
        with self._lock:
            self._latest = progress
            self._schedule_locked()

    def add_problem(self, problem: ItemProblem) -> None:
        with self._lock:
            self._problems.append(problem)
            self._schedule_locked()

    def set_outcome(self, outcome: TaskOutcome) -> None:
        """How the job ended (from its service's report); the panel shows it."""
        self.outcome = outcome

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
            progress = TaskProgress(self._latest, time.monotonic() - self._started)
            problems, self._problems = self._problems, []
        self._last_emit = time.monotonic()
        self._task._receive(progress, problems)


JobFn = Callable[[TaskContext], Awaitable[Any]]


class BackgroundTask(QObject):
    """One running job as the window sees it."""

    progress_changed = Signal(object)  # TaskProgress
    problems_added = Signal(object)  # list[ItemProblem]
    finished = Signal(object)  # this task

    def __init__(self, title: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.progress = TaskProgress()
        self.problems: list[ItemProblem] = []
        self.outcome: TaskOutcome | None = None  # set when the task has ended
        self.result: Any = None
        self.failure: BaseException | None = None
        self.context: TaskContext | None = None
        self.asyncio_task: asyncio.Task[Any] | None = None
        self.progress_updates = 0

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def state(self) -> str:
        """The outcome's status ("done", "done_with_problems", "deferred", ...), or "running"."""
        return "running" if self.outcome is None else self.outcome.status.value

    def cancel(self) -> None:
        if self.context is not None and self.running:
            log.info("cancelling task %r", self.title)
            self.context.cancel_event.set()

    def _receive(self, progress: TaskProgress, problems: list[ItemProblem]) -> None:
        self.progress = progress
        self.progress_updates += 1
        self.progress_changed.emit(progress)
        if problems:
            self.problems.extend(problems)
            self.problems_added.emit(problems)

    def _decided(self, *, was_cancelled: bool, error: str = "") -> TaskOutcome:
        """The outcome of a job that set none itself: from what it reported."""
        return TaskOutcome.decide(done=self.progress.done, problems=len(self.problems),
                                  deferred=self.progress.progress.deferred, was_cancelled=was_cancelled, error=error)


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
        outcome: TaskOutcome | None = None
        try:
            task.result = await job(ctx)
            outcome = ctx.outcome
            if outcome is None:
                ctx.flush()
                outcome = task._decided(was_cancelled=ctx.cancelled)
        except asyncio.CancelledError:
            ctx.flush()
            outcome = task._decided(was_cancelled=True)
        except Exception as exc:
            task.failure = exc
            ctx.add_problem(problem_for_exception(task.title, exc))
            ctx.flush()
            outcome = task._decided(was_cancelled=False, error=str(exc) or type(exc).__name__)
            if isinstance(exc, LoraManagerError):  # expected failure: it goes to the problem list
                log.warning("task %r failed: %s", task.title, exc)
            else:
                report_exception(exc, f"task {task.title!r}")
        finally:
            ctx.flush()
            if outcome is None:  # only when the await itself was interrupted another way
                outcome = task._decided(was_cancelled=True)
            task.outcome = outcome
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
