"""Bulk-write mode: how the library is written during an import.

SQLite's automatic checkpoint (after the commit that passes 1,000 WAL pages, on the writing
thread) copies the same index pages again and again during a 10,000-row import. While the mode is
on, automatic checkpoints are paused; a second connection on its own thread runs a PASSIVE
checkpoint every 0.25 s beside the writes (`database.BackgroundCheckpoints`) and runs the last one
after the writes without the run waiting for it (closing the library waits for it).

`BulkWrites` is an async context manager around a run: `begin()` before its first write (a run
that writes nothing never switches), and the mode ends when the context does. Its database
calls go through `on_db`, the caller's way onto the database thread (this layer does not know
the executor).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from lora_manager_gui.db import database

log = logging.getLogger(__name__)


class BulkWrites:
    def __init__(self, path: Path | str, on_db: Callable[..., Awaitable[Any]]) -> None:
        self.path, self._on_db = path, on_db
        self.active = False
        self._checkpoints: database.BackgroundCheckpoints | None = None

    async def begin(self) -> None:
        """Before a write: pause automatic checkpoints and run them beside the writes (once)."""
        if not self.active:
            await self._on_db(database.pause_checkpoints)
            self.active = True
            self._checkpoints = database.BackgroundCheckpoints(self.path)

    async def end(self) -> None:
        """Back to SQLite's checkpoints; the last checkpoint runs beside what comes next."""
        if not self.active:
            return
        self.active = False
        checkpoints, self._checkpoints = self._checkpoints, None
        handed_off = checkpoints is not None and checkpoints.connected.is_set()
        try:
            await self._on_db(database.resume_checkpoints, checkpoint_now=not handed_off)
        finally:
            if checkpoints is not None:
                checkpoints.finish()

    async def __aenter__(self) -> BulkWrites:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            await self.end()
        except Exception as error:  # noqa: BLE001 (the run's own outcome, or error, matters more)
            log.warning("the checkpoint after the import failed: %s", error)
