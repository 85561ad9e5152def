"""Bulk-write mode as a context around a run: checkpoints paused only once the run writes, and
SQLite's own checkpoints back when the run ends, however it ends."""
from __future__ import annotations

import asyncio

import pytest

from lora_manager_gui.db import database
from lora_manager_gui.db.bulk_writes import BulkWrites
from lora_manager_gui.db.models import database_proxy


def autocheckpoint(dbx) -> int:
    return dbx.call_sync(lambda: database_proxy.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_the_mode_starts_with_the_first_write_and_ends_with_the_context(dbx) -> None:
    seen: list[int] = []

    async def run(write: bool) -> None:
        async with BulkWrites(dbx.path, dbx.call) as writes:
            if write:
                await writes.begin()
                await writes.begin()  # once
                assert writes.active
            seen.append(await dbx.call(lambda: database_proxy.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]))

    asyncio.run(run(write=False))
    asyncio.run(run(write=True))
    assert seen == [database.WAL_AUTOCHECKPOINT_PAGES, 0]
    assert autocheckpoint(dbx) == database.WAL_AUTOCHECKPOINT_PAGES
    database.wait_for_checkpoints(timeout=10)


def test_a_run_that_fails_still_ends_the_mode(dbx) -> None:
    async def run() -> None:
        async with BulkWrites(dbx.path, dbx.call) as writes:
            await writes.begin()
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError, match="the run failed"):
        asyncio.run(run())
    assert autocheckpoint(dbx) == database.WAL_AUTOCHECKPOINT_PAGES
    database.wait_for_checkpoints(timeout=10)
