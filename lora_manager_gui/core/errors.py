"""Typed errors. A user-facing error says what failed, on which file, and why."""
from __future__ import annotations


class LoraManagerError(Exception):
    """Base of every error this application raises on purpose."""


class DatabaseError(LoraManagerError):
    """The library database could not be opened, migrated or written."""

    error_class = "database_error"


class DatabaseLockedError(DatabaseError):
    """Another connection held the write lock for longer than the busy timeout."""

    error_class = "database_locked"


class DiskFullError(DatabaseError):
    """The disk (or quota) that holds the library database is full."""

    error_class = "disk_full"


class SchemaTooNewError(DatabaseError):
    """The database was written by a newer version of the application."""


class FileProblemError(LoraManagerError):
    """A problem with one file; `error_class` is the stable class name reported for it."""

    error_class = "unreadable"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class UnreadableFileError(FileProblemError):
    """The file could not be read (permissions, I/O error, vanished)."""

    error_class = "unreadable"


class InvalidModelFileError(FileProblemError):
    """A model file is empty, truncated or not what its extension says."""

    error_class = "invalid_model_file"
