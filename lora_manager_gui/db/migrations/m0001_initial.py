"""Version 1: the adapter table of the CivitAI JSON import."""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    """
    CREATE TABLE adapter (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version TEXT NOT NULL DEFAULT '',
        canonical_version_name TEXT,
        description TEXT,
        author_username TEXT,
        visibility TEXT NOT NULL DEFAULT 'Public',
        published_at TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        trained_words TEXT NOT NULL DEFAULT '[]',
        triggers TEXT NOT NULL DEFAULT '[]',
        file_path TEXT,
        weight REAL NOT NULL DEFAULT 1.0,
        active INTEGER NOT NULL DEFAULT 0,
        ordinal INTEGER,
        archetype TEXT,
        archetype_confidence REAL,
        primary_file_name TEXT,
        primary_file_size_kb REAL,
        primary_file_sha256 TEXT,
        primary_file_download_url TEXT,
        primary_file_local_path TEXT,
        supports_generation INTEGER,
        sd_version TEXT,
        nsfw_level INTEGER NOT NULL DEFAULT 0,
        activation_text TEXT,
        stats TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        json_file_path TEXT,
        json_file_mtime INTEGER,
        json_file_size INTEGER,
        last_ingested_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX adapter_name_version ON adapter (name, version)",
    "CREATE INDEX adapter_json_file_path ON adapter (json_file_path)",
    "CREATE INDEX adapter_file_path ON adapter (file_path)",
    "CREATE INDEX adapter_primary_file_sha256 ON adapter (primary_file_sha256)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
