"""Version 7: indexes for the sort menu's "date added" and "modified" orders (the gallery's sorts).

Like m0003's, each ends in `id`, the tie-breaker every page query orders by.
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    "CREATE INDEX IF NOT EXISTS adapter_sort_added ON adapter (created_at, id)",
    "CREATE INDEX IF NOT EXISTS adapter_sort_modified ON adapter (file_mtime_ns, id)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
