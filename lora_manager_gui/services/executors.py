"""The app-owned executors: one thread for every peewee call, a pool for disk and hashing work."""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from peewee import SqliteDatabase

from lora_manager_gui.db import database
from lora_manager_gui.db.database import open_database
from lora_manager_gui.db.errors import database_error, is_database_failure

T = TypeVar("T")


def default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


class DatabaseExecutor:
    """Serializes all database work on one thread, which owns the SQLite connection."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lora-db")
        self._thread_id: int | None = None
        # Open (and migrate) on the database thread itself, and fail here if it cannot be opened.
        self.db: SqliteDatabase = self._pool.submit(self._open).result()

    def _open(self) -> SqliteDatabase:
        self._thread_id = threading.get_ident()
        return open_database(self.path)

    def on_db_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run on the database thread. A failure of the database (locked past the busy timeout,
        disk full, damaged file) comes back as a classified core DatabaseError (db/errors.py)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(self._classified, fn, args, kwargs))

    def call_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run on the database thread and wait (for threads that are not the event loop)."""
        if self.on_db_thread():
            return self._classified(fn, args, kwargs)
        return self._pool.submit(partial(self._classified, fn, args, kwargs)).result()

    def _classified(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_database_failure(exc):
                raise database_error(exc, self.path) from exc
            raise

    def close(self) -> None:
        """Finish queued work, close the connection on its own thread, stop the thread."""
        try:
            self._pool.submit(self._close_connection).result()
        finally:
            self._pool.shutdown(wait=True)

    def _close_connection(self) -> None:
        database.wait_for_checkpoints(timeout=10)  # a bulk write's last checkpoint, on its own thread
        if not self.db.is_closed():
            self.db.close()


class WorkPool:
    """Thread pool for disk reads, parsing and hashing. Worker code never touches Qt."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lora-work")

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._pool

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def close(self, cancel_pending: bool = True) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel_pending)
