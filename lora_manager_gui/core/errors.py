"""Typed errors. A user-facing error says what failed, on which file, and why."""
from __future__ import annotations


class LoraManagerError(Exception):
    """Base of every error this application raises on purpose."""


class DatabaseError(LoraManagerError):
    """The library database could not be opened, migrated or written."""


class SchemaTooNewError(DatabaseError):
    """The database was written by a newer version of the application."""
