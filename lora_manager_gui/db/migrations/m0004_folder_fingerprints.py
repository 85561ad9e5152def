"""Version 4: per-folder fingerprints, so an unchanged re-import skips unchanged folders whole.

`import_folder` keeps, for each folder an import walked and found self-contained, a digest of the
(name, size, mtime_ns) of its model files and sidecars and the counts the report needs. The import
then builds no entries, groups or signatures for a folder whose digest still matches; its share of
the report is read back from `import_source` and `library_file`, which gain what those queries need:
the folder of each group (filled in here from its key, `<folder>/<base name>`), an index on
(root, folder) in place of the one on root, and one on model_path (claims).
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    """
    CREATE TABLE import_folder (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        root TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        files INTEGER NOT NULL,
        models INTEGER NOT NULL,
        checked_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX import_folder_root ON import_folder (root)",
    "ALTER TABLE import_source ADD COLUMN folder TEXT NOT NULL DEFAULT ''",
)

INDEXES = (
    "CREATE INDEX import_source_root_folder ON import_source (root, folder)",
    "DROP INDEX import_source_root",  # the index above serves every lookup by root
    "CREATE INDEX import_source_model_path ON import_source (model_path)",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
    rows = db.execute_sql("SELECT id, key FROM import_source").fetchall()
    cursor = db.cursor()
    cursor.executemany(
        "UPDATE import_source SET folder = ? WHERE id = ?", [(key.rpartition("/")[0], rid) for rid, key in rows]
    )
    for statement in INDEXES:
        db.execute_sql(statement)
