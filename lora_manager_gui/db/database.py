"""Opening the library database: SQLite with WAL, foreign keys and a busy timeout, migrated."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from peewee import SqliteDatabase, _savepoint

from lora_manager_gui.core.errors import DatabaseError, SchemaTooNewError
from lora_manager_gui.db.errors import database_error
from lora_manager_gui.db.migrations import LATEST_VERSION, MIGRATIONS
from lora_manager_gui.db.models import database_proxy

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0
ENV_BUSY_TIMEOUT = "LORA_MANAGER_BUSY_TIMEOUT"  # seconds; for tests and scripts, like LORA_MANAGER_DB


def busy_timeout_s() -> float:
    """How long a connection waits for another one's write lock: BUSY_TIMEOUT_S, or the
    LORA_MANAGER_BUSY_TIMEOUT environment variable when it holds a number of seconds."""
    try:
        value = float(os.environ.get(ENV_BUSY_TIMEOUT, ""))
    except ValueError:
        return BUSY_TIMEOUT_S
    return value if value >= 0 else BUSY_TIMEOUT_S
PRAGMAS = {
    # New libraries only (an existing file keeps its page size): an adapter row is ~1.5 KB, so a
    # 4 KiB page holds two and wastes a third of itself; on 8 KiB pages a cold import of 10,000
    # sidecars writes ~12% fewer pages and SQLite spends ~20% less CPU on them. First, because
    # switching to WAL writes the file's header.
    "page_size": 8192,
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -32 * 1024,  # 32 MiB page cache
    "temp_store": "memory",
}


class LibraryDatabase(SqliteDatabase):
    """SqliteDatabase with the two transaction rules concurrent processes need.

    - Every transaction begins IMMEDIATE (takes the write lock at BEGIN, waiting up to the busy
      timeout). A deferred one that reads first and then writes asks SQLite to upgrade its read
      lock; when another connection holds the write lock (or wrote since the read), SQLite answers
      "database is locked" at once, without calling the busy handler (waiting could deadlock), so
      concurrent writers failed after their reads (~1 s into an import), not after 10 s.
    - A rollback after SQLite already rolled the transaction back itself (SQLITE_FULL, I/O errors)
      is skipped, so the original error ("database or disk is full") reaches the caller instead
      of "cannot rollback - no transaction is active".
    """

    def begin(self, lock_type: str | None = None) -> None:
        super().begin(lock_type or "IMMEDIATE")

    def _still_in_transaction(self) -> bool:
        return not self.is_closed() and self.connection().in_transaction

    def rollback(self) -> None:
        if self._still_in_transaction():
            super().rollback()

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self)


class _Savepoint(_savepoint):
    def rollback(self, begin: bool = True) -> None:
        if self.db._still_in_transaction():  # else SQLite rolled it all back: no savepoint left
            super().rollback(begin)


def make_database(path: Path | str) -> SqliteDatabase:
    """A peewee database for `path`, not yet connected. Connections are per thread."""
    return LibraryDatabase(
        str(path),
        pragmas=PRAGMAS,
        timeout=busy_timeout_s(),
        check_same_thread=False,
    )


def schema_version(db: SqliteDatabase) -> int:
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def migrate(db: SqliteDatabase, path: Path | None = None) -> int:
    """Bring the schema to LATEST_VERSION. Returns the version found before migrating."""
    found = schema_version(db)
    if found > LATEST_VERSION:
        raise SchemaTooNewError(
            f"{path or 'the library database'} has schema version {found}, but this version of "
            f"LoRA Manager knows only up to {LATEST_VERSION}; update the application"
        )
    if found < LATEST_VERSION and found > 0 and path is not None:
        _backup(db, path, found)
    for version in range(found, LATEST_VERSION):
        with db.atomic():
            MIGRATIONS[version](db)
            db.execute_sql(f"PRAGMA user_version = {version + 1}")
        log.info("migrated %s to schema version %d", path or "database", version + 1)
    return found


def _backup(db: SqliteDatabase, path: Path, version: int) -> None:
    """Keep a copy of an older library before migrating it, so a failed upgrade loses nothing."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    if target.exists():
        return
    with sqlite3.connect(str(target)) as dest:
        db.connection().backup(dest)
    log.info("backed up %s to %s before migrating", path, target)


def open_database(path: Path | str, *, bind: bool = True) -> SqliteDatabase:
    """Open (creating if needed) and migrate the library at `path`; bind the models to it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the folder for {path}: {exc.strerror or exc}") from exc
    db = make_database(path)
    try:
        db.connect(reuse_if_open=True)
        migrate(db, path)
    except SchemaTooNewError:
        db.close()
        raise
    except (sqlite3.Error, OSError, Exception) as exc:  # peewee wraps sqlite3 errors
        if not db.is_closed():
            db.close()
        if isinstance(exc, DatabaseError):
            raise
        classified = database_error(exc, path)
        if type(classified) is DatabaseError:  # nothing more specific to say: say what was tried
            raise DatabaseError(f"cannot open the library database {path}: {exc}") from exc
        raise classified from exc
    if bind:
        database_proxy.initialize(db)
    return db


def close_database(db: SqliteDatabase) -> None:
    if not db.is_closed():
        db.close()


# SQLite's default: a checkpoint each time the WAL passes 1,000 pages.
WAL_AUTOCHECKPOINT_PAGES = 1000


def pause_checkpoints() -> None:
    """For a bulk write (an import): no checkpoint after each commit. A checkpoint copies the pages
    the WAL holds back into the database and syncs both files; during a 10,000-row import that
    happened ~10 times and copied the same index pages again and again (~0.2 s of ~1.1 s)."""
    database_proxy.execute_sql("PRAGMA wal_autocheckpoint = 0")


def resume_checkpoints(*, checkpoint_now: bool = True) -> None:
    """After a bulk write: one checkpoint now (PASSIVE: it never waits for readers), unless
    BackgroundCheckpoints.finish() runs it, then back to SQLite's default."""
    if checkpoint_now:
        database_proxy.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    database_proxy.execute_sql(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")


class BackgroundCheckpoints:
    """During a bulk write: PASSIVE checkpoints every `interval` seconds on a connection of their
    own, on a thread of their own, so the copy into the database file and its sync overlap the
    writing instead of all waiting for its end. A PASSIVE checkpoint never blocks the writer or
    readers (WAL). finish() has the thread run the last one after the writes, while the app goes
    on: the run that wrote does not wait for it (~50 ms at the end of a 10,000-model import)."""

    def __init__(self, path: Path | str, interval: float = 0.25) -> None:
        self.path, self.interval = str(path), interval
        self._stop = threading.Event()
        self._final = False
        self.connected = threading.Event()  # its connection is open: it can run the last checkpoint
        self._thread = threading.Thread(target=self._run, name="lora-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s(), check_same_thread=False)
        except sqlite3.Error as exc:
            log.info("no background checkpoints for %s: %s", self.path, exc)
            return
        self.connected.set()
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(conn)
            if self._final:
                self._checkpoint(conn)
        finally:
            conn.close()
            with _finishing_lock:
                _finishing.discard(self)

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or locked: the next round, or the next commit's
            log.debug("background checkpoint skipped: %s", exc)

    def stop(self) -> None:
        """(Blocking: joins the thread; call it off the event loop.)"""
        self._stop.set()
        self._thread.join()

    def finish(self) -> None:
        """One last checkpoint on the thread, then it ends; not waited for (never blocks).
        wait_for_checkpoints() waits for it, as closing the library does."""
        with _finishing_lock:
            if self._thread.is_alive():
                _finishing.add(self)
        self._final = True
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


_finishing: set[BackgroundCheckpoints] = set()
_finishing_lock = threading.Lock()


def wait_for_checkpoints(timeout: float | None = None) -> None:
    """Wait for the last checkpoints that finish() handed to their threads (before closing)."""
    with _finishing_lock:
        pending = list(_finishing)
    for checkpoints in pending:
        checkpoints.join(timeout)
    with _finishing_lock:
        _finishing.difference_update(c for c in pending if not c._thread.is_alive())
