"""Version 3: what the window needs to browse 100,000 adapters quickly.

Indexes for every sortable column in the collation the view sorts by. Search scans the stored
`adapter.search_text` column (m0001) with LIKE: ~35 ms over 100,000 rows. An FTS5 trigram index
was tried and dropped: its triggers cost ~370 µs per imported row, 3.7 s per 10,000.
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    "CREATE INDEX adapter_sort_name ON adapter (name COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_version ON adapter (version COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_creator ON adapter (author_username COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_base ON adapter (COALESCE(NULLIF(base_model, ''), sd_version) COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_nsfw ON adapter (nsfw_level, id)",
    "CREATE INDEX adapter_sort_size ON adapter (COALESCE(file_size_bytes, CAST(primary_file_size_kb * 1024 AS INTEGER)), id)",
    "CREATE INDEX adapter_sort_file ON adapter (primary_file_name COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_updated ON adapter (updated_at, id)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
