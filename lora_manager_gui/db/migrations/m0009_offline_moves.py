"""Version 9 (issue 17, changes made outside the app): offline roots and recognised moves.

- `library_file.offline`: 1 when the file is flagged missing only because its library root was
  offline at the last import (root folder gone, unreadable, or empty while files are recorded
  under it). Such a file also has `missing = 1` (it cannot be used now), but it is not gone: the
  next import that finds the root again clears both flags without re-reading anything.
- `library_file.fingerprint`: the cheap content fingerprint (services/import_moves.py) when one
  was computed for the file (a candidate of a move); NULL otherwise.
- A partial index on the offline files of a root, so that the check an import makes for every
  root ("anything offline here to bring back?") costs nothing when there is none.
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = (
    "ALTER TABLE library_file ADD COLUMN offline INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE library_file ADD COLUMN fingerprint TEXT",
    "CREATE INDEX IF NOT EXISTS library_file_offline ON library_file (root) WHERE offline = 1",
)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
