"""The async-slot bridge: run coroutines from Qt signals on the shared qasync loop.

Qt slots are plain functions; `spawn` turns a coroutine into a tracked asyncio task whose failure
is logged and shown (never lost), and `async_slot` decorates a method so that a signal can start it.
`TaskTracker` remembers the tasks it started so that shutdown can cancel and await all of them.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
ErrorSink = Callable[[BaseException, str], None]

_error_sink: ErrorSink | None = None


def set_error_sink(sink: ErrorSink | None) -> None:
    """Where unexpected exceptions of spawned coroutines go (the app shows a dialog)."""
    global _error_sink
    _error_sink = sink


def report_exception(exc: BaseException, context: str) -> None:
    log.error("unexpected error in %s", context, exc_info=(type(exc), exc, exc.__traceback__))
    if _error_sink is not None:
        try:
            _error_sink(exc, context)
        except Exception:  # the reporter itself must never take the app down
            log.exception("error reporter failed")


class TaskTracker:
    """Keeps the asyncio tasks started for the UI, so that they can be cancelled and awaited."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str = "ui task") -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            report_exception(exc, task.get_name())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every tracked task has finished (tasks may start more tasks meanwhile)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} UI tasks still running")
            await asyncio.wait(list(self._tasks), timeout=remaining)


_default_tracker = TaskTracker()


def default_tracker() -> TaskTracker:
    return _default_tracker


def spawn(coro: Coroutine[Any, Any, T], name: str = "ui task") -> asyncio.Task[T]:
    return _default_tracker.spawn(coro, name)


def async_slot(fn: Callable[..., Awaitable[Any]]) -> Callable[..., asyncio.Task[Any]]:
    """Decorate an `async def` method so that calling it (e.g. from a signal) spawns a task."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return spawn(fn(*args, **kwargs), name=getattr(fn, "__qualname__", "slot"))

    return wrapper
