"""Version 2: the hash cache and what CivitAI answered (lookups by SHA-256, versions, models)."""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    """
    CREATE TABLE hash_cache (
        path TEXT PRIMARY KEY NOT NULL,
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        autov3 TEXT,
        hashed_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX hash_cache_sha256 ON hash_cache (sha256)",
    """
    CREATE TABLE civitai_lookup (
        sha256 TEXT PRIMARY KEY NOT NULL,
        status TEXT NOT NULL,
        version_id INTEGER,
        model_id INTEGER,
        matched_by TEXT,
        fetched_at TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        error_class TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX civitai_lookup_status ON civitai_lookup (status)",
    "CREATE INDEX civitai_lookup_version_id ON civitai_lookup (version_id)",
    """
    CREATE TABLE civitai_version (
        version_id INTEGER PRIMARY KEY NOT NULL,
        model_id INTEGER,
        data TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX civitai_version_model_id ON civitai_version (model_id)",
    """
    CREATE TABLE civitai_model (
        model_id INTEGER PRIMARY KEY NOT NULL,
        data TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    )
    """,
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
