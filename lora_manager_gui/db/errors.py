"""SQLite failures as the application's typed errors, with a message that says what to do.

peewee re-raises sqlite3's exceptions as its own, with the original as the first argument;
Python 3.11's sqlite3 errors carry the SQLite result code (`sqlite_errorcode`), whose low byte
is the primary code. A full disk surfaces as SQLITE_FULL, or as SQLITE_IOERR when the write of
the WAL or a temporary file failed: then the free space of the disk decides.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

import peewee

from lora_manager_gui.core.errors import DatabaseError, DatabaseLockedError, DiskFullError

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 6, 8, 10, 11, 13, 26
LOW_SPACE_BYTES = 1024 * 1024  # an I/O error with less free space than this: the disk is full

# Errors of the code, not of the database file or its disk: never translated.
_PROGRAMMING = (peewee.IntegrityError, peewee.ProgrammingError, peewee.DataError, peewee.NotSupportedError,
                peewee.InterfaceError, sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def is_database_failure(exc: BaseException) -> bool:
    """An error of the database file, its lock or its disk (what `database_error` classifies)."""
    if isinstance(exc, _PROGRAMMING):
        return False
    return isinstance(exc, (peewee.DatabaseError, sqlite3.DatabaseError)) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            return current
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = inner or current.__cause__ or current.__context__
    return None


def _low_on_space(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < LOW_SPACE_BYTES
    except OSError:
        return False


def database_error(exc: BaseException, path: Path | str | None = None) -> DatabaseError:
    """`exc` (from peewee, sqlite3 or the OS) as a DatabaseError saying what failed and why."""
    if isinstance(exc, DatabaseError):
        return exc
    where = Path(path) if path is not None else None
    name = f"the library database {where}" if where is not None else "the library database"
    original = _sqlite_error(exc)
    code = getattr(original, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(original or exc)
    lowered = text.lower()
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or primary == SQLITE_FULL \
            or "database or disk is full" in lowered \
            or ((primary == SQLITE_IOERR or "disk i/o error" in lowered) and _low_on_space(where)):
        return DiskFullError(f"the disk holding {name} is full: nothing was written; free some space and try again")
    if primary in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in lowered or "database table is locked" in lowered:
        from lora_manager_gui.db.database import busy_timeout_s

        return DatabaseLockedError(
            f"{name} is busy: another process (another LoRA Manager?) held its write lock for over "
            f"{busy_timeout_s():g} s; try again when it has finished")
    if primary == SQLITE_READONLY or "readonly database" in lowered:
        return DatabaseError(f"{name} cannot be written (read-only file or folder): {text}")
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in lowered or "not a database" in lowered:
        return DatabaseError(f"{name} is damaged or not a library database: {text}")
    return DatabaseError(f"{name}: {text}")
