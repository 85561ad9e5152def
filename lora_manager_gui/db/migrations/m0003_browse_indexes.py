"""Version 3: what the window needs to browse 100,000 adapters quickly.

Indexes for every sortable column in the collation the view sorts by, and `adapter_search`, an
FTS5 trigram index (substring search, case-insensitive) over the searched text, kept in step with
`adapter` by triggers. Words shorter than three characters fall back to LIKE (db/browse.py).
"""
from __future__ import annotations

from peewee import Database

SEARCH_TEXT = ("coalesce(new.name, '') || ' ' || coalesce(new.version, '') || ' ' || coalesce(new.tags, '') || ' ' || "
               "coalesce(new.trained_words, '') || ' ' || coalesce(new.author_username, '') || ' ' || "
               "coalesce(new.primary_file_name, '') || ' ' || coalesce(new.file_path, '')")

STATEMENTS = (
    "CREATE INDEX adapter_sort_name ON adapter (name COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_version ON adapter (version COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_creator ON adapter (author_username COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_base ON adapter (COALESCE(NULLIF(base_model, ''), sd_version) COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_nsfw ON adapter (nsfw_level, id)",
    "CREATE INDEX adapter_sort_size ON adapter (COALESCE(file_size_bytes, CAST(primary_file_size_kb * 1024 AS INTEGER)), id)",
    "CREATE INDEX adapter_sort_file ON adapter (primary_file_name COLLATE NOCASE, id)",
    "CREATE INDEX adapter_sort_updated ON adapter (updated_at, id)",
    "CREATE VIRTUAL TABLE adapter_search USING fts5(body, tokenize = 'trigram')",
    f"INSERT INTO adapter_search (rowid, body) SELECT id, {SEARCH_TEXT.replace('new.', '')} FROM adapter",
    f"""CREATE TRIGGER adapter_search_insert AFTER INSERT ON adapter BEGIN
        INSERT INTO adapter_search (rowid, body) VALUES (new.id, {SEARCH_TEXT});
    END""",
    f"""CREATE TRIGGER adapter_search_update AFTER UPDATE OF name, version, tags, trained_words, author_username,
        primary_file_name, file_path ON adapter BEGIN
        DELETE FROM adapter_search WHERE rowid = old.id;
        INSERT INTO adapter_search (rowid, body) VALUES (new.id, {SEARCH_TEXT});
    END""",
    """CREATE TRIGGER adapter_search_delete AFTER DELETE ON adapter BEGIN
        DELETE FROM adapter_search WHERE rowid = old.id;
    END""",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
