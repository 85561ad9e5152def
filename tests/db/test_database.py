from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lora_manager_gui.core.errors import DatabaseError, SchemaTooNewError
from lora_manager_gui.db.database import close_database, open_database, schema_version
from lora_manager_gui.db.migrations import LATEST_VERSION
from lora_manager_gui.db.models import Adapter


def test_new_library_is_migrated_with_wal_and_foreign_keys(library_db, db_path: Path) -> None:
    assert schema_version(library_db) == LATEST_VERSION
    assert library_db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert library_db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert library_db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db_path.exists()


def test_adapter_defaults_and_unique_name_version(library_db) -> None:
    a = Adapter.create(name="Inkwash", version="v2.0")
    a = Adapter.get_by_id(a.id)
    assert (a.visibility, a.weight, a.active, a.nsfw_level) == ("Public", 1.0, False, 0)
    assert a.tags == [] and a.extra == {}
    assert a.created_at.tzinfo is not None
    from peewee import IntegrityError

    with pytest.raises(IntegrityError):
        Adapter.create(name="Inkwash", version="v2.0")


def test_reopening_keeps_rows(db_path: Path) -> None:
    db = open_database(db_path)
    Adapter.create(name="A", version="1")
    close_database(db)
    db = open_database(db_path)
    assert [a.name for a in Adapter.select()] == ["A"]
    close_database(db)


def test_new_libraries_get_8_kib_pages_and_older_files_keep_theirs(db_path: Path, tmp_path: Path) -> None:
    db = open_database(db_path)
    assert db.execute_sql("PRAGMA page_size").fetchone()[0] == 8192
    close_database(db)
    older = tmp_path / "older.sqlite3"
    with sqlite3.connect(older) as conn:  # a library file made with SQLite's default page size
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE keep (x)")
        conn.execute("INSERT INTO keep VALUES (1)")
    db = open_database(older)
    assert db.execute_sql("PRAGMA page_size").fetchone()[0] == 4096
    Adapter.create(name="A", version="1")
    assert db.execute_sql("SELECT x FROM keep").fetchall() == [(1,)]
    assert schema_version(db) == LATEST_VERSION
    close_database(db)


def test_newer_schema_is_refused_without_touching_it(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE keep (x)")
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    with pytest.raises(SchemaTooNewError, match="update the application"):
        open_database(db_path)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 5


def test_unopenable_database_is_a_clear_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "junk.sqlite3"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match="junk.sqlite3"):
        open_database(not_a_db)


def test_database_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError):
        open_database(blocker / "sub" / "library.sqlite3")


def test_bulk_writes_checkpoint_beside_the_writer_and_once_at_the_end(library_db, db_path: Path) -> None:
    import time

    from lora_manager_gui.db import database

    database.pause_checkpoints()
    library_db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # start from an empty WAL
    before = db_path.stat().st_size
    with library_db.atomic():
        for i in range(3000):
            Adapter.create(name=f"A{i:05d}", version="v1", description="x" * 200)
    assert db_path.stat().st_size == before  # the new pages are all in the WAL: no checkpoint ran
    background = database.BackgroundCheckpoints(db_path, interval=0.01)
    try:
        deadline = time.monotonic() + 10
        while db_path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        background.stop()
    assert db_path.stat().st_size > before  # copied into the database file by the other connection
    database.resume_checkpoints()
    assert library_db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == database.WAL_AUTOCHECKPOINT_PAGES
    assert Adapter.select().count() == 3000


def test_the_last_checkpoint_of_a_bulk_write_runs_on_its_thread_after_the_writes(library_db, db_path: Path) -> None:
    from lora_manager_gui.db import database

    database.pause_checkpoints()
    library_db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    background = database.BackgroundCheckpoints(db_path, interval=3600)  # no round during the writes
    before = db_path.stat().st_size
    with library_db.atomic():
        for i in range(2000):
            Adapter.create(name=f"B{i:05d}", version="v1", description="y" * 200)
    database.resume_checkpoints(checkpoint_now=False)
    assert db_path.stat().st_size == before  # nothing copied yet: the writer did not checkpoint
    background.finish()  # returns at once; the copy happens on the checkpoint thread
    database.wait_for_checkpoints(timeout=30)
    assert db_path.stat().st_size > before
    assert not database._finishing  # a finished thread leaves nothing to wait for
    assert library_db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == database.WAL_AUTOCHECKPOINT_PAGES
    assert Adapter.select().count() == 2000


def test_checkpoints_that_cannot_connect_leave_the_last_checkpoint_to_the_writer(tmp_path: Path) -> None:
    """Without a connection of its own the checkpoint thread can run nothing: the import sees that
    and copies the WAL into the database itself at the end of its writes."""
    import asyncio

    from lora_manager_gui.db import database
    from lora_manager_gui.services.executors import DatabaseExecutor
    from lora_manager_gui.services.importer import run_import
    from tests.conftest import LibraryTree

    broken = database.BackgroundCheckpoints(tmp_path / "no" / "such" / "dir" / "x.sqlite3", interval=0.01)
    broken.join(timeout=10)
    assert not broken.connected.is_set()
    broken.finish()  # returns at once, nothing to wait for
    database.wait_for_checkpoints(timeout=10)

    class Unconnected(database.BackgroundCheckpoints):
        def __init__(self, path, interval=0.25):
            super().__init__(tmp_path / "no" / "such" / "dir" / "y.sqlite3", interval)

    tree = LibraryTree(tmp_path / "library")
    for i in range(30):
        tree.civitai_model(f"f/m{i:02d}.json", f"M{i:02d}")
        tree.model(f"f/m{i:02d}.safetensors")
    db_file = tmp_path / "lib.sqlite3"
    executor = DatabaseExecutor(db_file)
    try:
        original = database.BackgroundCheckpoints
        database.BackgroundCheckpoints = Unconnected  # type: ignore[misc]
        try:
            report = asyncio.run(run_import(executor, [tree.root]))
        finally:
            database.BackgroundCheckpoints = original  # type: ignore[misc]
        assert report.imported == 30
        pages, page_size = executor.call_sync(lambda: (
            Adapter._meta.database.execute_sql("PRAGMA page_count").fetchone()[0],
            Adapter._meta.database.execute_sql("PRAGMA page_size").fetchone()[0],
        ))
        assert db_file.stat().st_size == pages * page_size  # every page is in the database file itself
    finally:
        executor.close()
