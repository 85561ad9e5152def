"""Version 6 (issue 18): the download queue, update checks and ignored versions.

`download` is the queue that survives a restart: what was asked for, the file chosen, where its
`.part` file is and how much of it is written, the validators (ETag, Last-Modified) a resume
sends in If-Range, and the status and classified problem of the last attempt.
`civitai_update` holds, per CivitAI model, the last update check (when, which host answered, the
newest version, whether it is early access only); `ignored_version` the versions the user said to
ignore. The tables are created IF NOT EXISTS, so the migration's place in the sequence (m0005 and
m0007 are other branches') does not matter.
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    """
    CREATE TABLE IF NOT EXISTS download (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ref TEXT NOT NULL,
        model_id INTEGER,
        version_id INTEGER NOT NULL,
        file_id INTEGER,
        file_name TEXT NOT NULL,
        model_name TEXT NOT NULL DEFAULT '',
        version_name TEXT NOT NULL DEFAULT '',
        base_model TEXT,
        dest_dir TEXT NOT NULL,
        dest_path TEXT,
        part_path TEXT NOT NULL,
        size_bytes INTEGER,
        sha256 TEXT,
        bytes_done INTEGER NOT NULL DEFAULT 0,
        etag TEXT,
        last_modified TEXT,
        status TEXT NOT NULL,
        problem TEXT,
        message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        info TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS download_status ON download (status)",
    "CREATE INDEX IF NOT EXISTS download_version ON download (version_id, file_id)",
    """
    CREATE TABLE IF NOT EXISTS civitai_update (
        model_id INTEGER PRIMARY KEY NOT NULL,
        status TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        host TEXT,
        owned_version_ids TEXT NOT NULL DEFAULT '[]',
        latest_version_id INTEGER,
        latest_version_name TEXT,
        latest_published_at TEXT,
        early_access INTEGER NOT NULL DEFAULT 0,
        error TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS civitai_update_status ON civitai_update (status)",
    """
    CREATE TABLE IF NOT EXISTS ignored_version (
        version_id INTEGER PRIMARY KEY NOT NULL,
        model_id INTEGER,
        ignored_at TEXT NOT NULL
    )
    """,
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
