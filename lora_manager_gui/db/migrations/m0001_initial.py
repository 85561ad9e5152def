"""Version 1: the adapter table of the CivitAI JSON import, the model files an import has seen
(`library_file`) and the import's change-detection bookkeeping (`import_source`)."""
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
        updated_at TEXT NOT NULL,
        base_model TEXT,
        model_type TEXT,
        civitai_model_id INTEGER,
        civitai_version_id INTEGER,
        notes TEXT,
        sources TEXT NOT NULL DEFAULT '[]',
        file_size_bytes INTEGER,
        file_mtime_ns INTEGER,
        file_missing INTEGER NOT NULL DEFAULT 0,
        -- What the search box matches (substrings, ASCII case-insensitive through LIKE). Computed by
        -- SQLite on every write, so no writer can forget it, and stored, so a search scans one column.
        search_text TEXT GENERATED ALWAYS AS (
            name || ' ' || version || ' ' || tags || ' ' || trained_words || ' ' ||
            COALESCE(author_username, '') || ' ' || COALESCE(primary_file_name, '') || ' ' || COALESCE(file_path, '')
        ) STORED
    )
    """,
    "CREATE UNIQUE INDEX adapter_name_version ON adapter (name, version)",
    "CREATE INDEX adapter_json_file_path ON adapter (json_file_path)",
    "CREATE INDEX adapter_file_path ON adapter (file_path)",
    "CREATE INDEX adapter_primary_file_sha256 ON adapter (primary_file_sha256)",
    "CREATE INDEX adapter_base_model ON adapter (base_model)",
    "CREATE INDEX adapter_civitai_version_id ON adapter (civitai_version_id)",
    # Every model file seen by an import; adapter_id NULL = orphan (no metadata beside it).
    """
    CREATE TABLE library_file (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        root TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        rel_path_lower TEXT NOT NULL,
        stem_lower TEXT NOT NULL,
        folder TEXT NOT NULL DEFAULT '',
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        adapter_id INTEGER REFERENCES adapter (id) ON DELETE SET NULL,
        missing INTEGER NOT NULL DEFAULT 0,
        problem TEXT,
        external INTEGER NOT NULL DEFAULT 0,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX library_file_root_folder ON library_file (root, folder)",
    "CREATE INDEX library_file_rel_path_lower ON library_file (rel_path_lower)",
    "CREATE INDEX library_file_stem_lower ON library_file (stem_lower)",
    "CREATE INDEX library_file_adapter_id ON library_file (adapter_id)",
    # One row per group of sidecars (<folder>/<base name>): what was ingested, for change detection.
    """
    CREATE TABLE import_source (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        root TEXT NOT NULL,
        signature TEXT NOT NULL,
        model_path TEXT,
        adapter_id INTEGER REFERENCES adapter (id) ON DELETE SET NULL,
        status TEXT NOT NULL,
        issues TEXT NOT NULL DEFAULT '[]',
        checked_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX import_source_root ON import_source (root)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
