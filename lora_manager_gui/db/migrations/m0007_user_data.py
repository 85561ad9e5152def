"""Version 7: the user's own data and the file operations' log (issue 17).

- `user_data`: one row per adapter the user edited: rating (0-5), favourite, notes, user tags, the
  preferred weight, the user's trigger words (apart from CivitAI's trained words) and "exclude".
  Only the user's edits write here: an import or a CivitAI refresh never touches these tables.
- `collection` and `collection_member`: virtual folders; an adapter may be in many.
- `operation_log`: every file operation (move, rename, organize, trash) with the moves it made,
  so that undo and redo work after a restart.

Statements use IF NOT EXISTS: the tables are independent of the migrations numbered before this one.
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    """
    CREATE TABLE IF NOT EXISTS user_data (
        adapter_id INTEGER PRIMARY KEY NOT NULL REFERENCES adapter (id) ON DELETE CASCADE,
        rating INTEGER CHECK (rating IS NULL OR (rating BETWEEN 0 AND 5)),
        favorite INTEGER NOT NULL DEFAULT 0,
        notes TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        preferred_weight REAL,
        trigger_words TEXT NOT NULL DEFAULT '[]',
        exclude INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS user_data_favorite ON user_data (favorite)",
    """
    CREATE TABLE IF NOT EXISTS collection (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS collection_member (
        collection_id INTEGER NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
        adapter_id INTEGER NOT NULL REFERENCES adapter (id) ON DELETE CASCADE,
        added_at TEXT NOT NULL,
        PRIMARY KEY (collection_id, adapter_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS collection_member_adapter ON collection_member (adapter_id)",
    """
    CREATE TABLE IF NOT EXISTS operation_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        moves TEXT NOT NULL,
        created_at TEXT NOT NULL,
        changed_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS operation_log_state ON operation_log (state, id)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
