"""Rows that follow a file when the app moves it: library_file, adapter paths, the hash cache and
the import's bookkeeping. Nothing is hashed again: a hash cache row is re-keyed to the new path and
stays valid because a rename (or a verified copy with its mtime kept) keeps size and mtime_ns.
CivitAI answers are keyed by SHA-256 and need nothing. Run on the database thread, inside the
caller's transaction (services/file_ops.py stores one operation's rows in one).
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from peewee import chunked

from lora_manager_gui.db.library_files import split_rel_path
from lora_manager_gui.db.models import HashCacheEntry, ImportFolder, LibraryFile, database_proxy


@dataclass(frozen=True, slots=True)
class RowMove:
    """One file's move as the rows see it. `missing`: set the file's missing flag (True when it
    went to the trash, False when it came back); None leaves it."""

    src: str
    dst: str
    is_model: bool
    missing: bool | None = None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def known_roots() -> list[str]:
    """The library roots the imports walked, longest first."""
    roots = {r.root for r in LibraryFile.select(LibraryFile.root).distinct()}
    return sorted(roots, key=len, reverse=True)


def root_for(path: str, roots: Sequence[str]) -> str | None:
    return next((r for r in roots if _under(path, r)), None)


def _group_key(path: str) -> tuple[str, str]:
    """(folder, base name) of a model file, as discovery keys its sidecar group."""
    folder, name = os.path.split(path)
    return folder, os.path.splitext(name)[0]


# UPDATE ... FROM needs SQLite 3.33; older libraries re-key row by row.
SET_BASED = sqlite3.sqlite_version_info >= (3, 33, 0)
_MOVES_TABLE = "CREATE TEMP TABLE IF NOT EXISTS moved_rows (src TEXT PRIMARY KEY, dst TEXT NOT NULL, is_model INTEGER NOT NULL, missing INTEGER)"


def apply_moves(moves: Iterable[RowMove]) -> None:
    """Re-key every row of the moved files (an organize of 10,000 files, or an import that found
    them moved outside the app, moves ~30,000 rows). The moves go into a temporary table in a few
    multi-row statements and each table is re-keyed by one UPDATE ... FROM: run statement by
    statement with executemany, 20,000 moves cost ~2 s (sqlite3 gives up the GIL at every step)."""
    moves = list(moves)
    if not moves:
        return
    if not SET_BASED or len({m.src for m in moves}) != len(moves):
        _apply_moves_rowwise(moves)
        return
    roots = known_roots()
    db = database_proxy
    db.execute_sql(_MOVES_TABLE)
    db.execute_sql("DELETE FROM moved_rows")
    for batch in chunked([(m.src, m.dst, int(m.is_model), None if m.missing is None else int(m.missing)) for m in moves], 200):
        db.execute_sql("INSERT INTO moved_rows (src, dst, is_model, missing) VALUES " + ",".join(["(?,?,?,?)"] * len(batch)),
                       [v for row in batch for v in row])
    try:
        _move_library_files_set(moves, roots)
        models = "(SELECT src, dst, missing FROM moved_rows WHERE is_model = 1)"
        # One rewrite of each adapter row (they are ~1.5 KB): its path, the primary file's local
        # path when it was the same file, and the missing flag when the move says.
        db.execute_sql("UPDATE adapter SET file_path = m.dst, file_missing = COALESCE(m.missing, adapter.file_missing), "
                       "primary_file_local_path = CASE WHEN adapter.primary_file_local_path = m.src THEN m.dst "
                       "ELSE adapter.primary_file_local_path END FROM " + models + " m WHERE adapter.file_path = m.src")
        db.execute_sql("UPDATE adapter SET json_file_path = m.dst FROM (SELECT src, dst FROM moved_rows WHERE is_model = 0) m "
                       "WHERE adapter.json_file_path = m.src")
        # The hash cache: a stale entry at the destination (a file that vanished) gives way.
        db.execute_sql("DELETE FROM hash_cache WHERE path IN (SELECT m.dst FROM moved_rows m "
                       "JOIN hash_cache h ON h.path = m.src)")
        db.execute_sql("UPDATE hash_cache SET path = m.dst FROM moved_rows m WHERE hash_cache.path = m.src")
        _move_import_sources_set([m for m in moves if m.is_model], roots)
        _forget_folders(moves)
    finally:
        db.execute_sql("DELETE FROM moved_rows")


def _forget_folders(moves: Sequence[RowMove]) -> None:
    folders = sorted({os.path.dirname(p) for m in moves for p in (m.src, m.dst)})
    for batch in chunked(folders, 400):
        # The folders changed: their fingerprints no longer say anything (the next import walks them).
        database_proxy.execute_sql(f"DELETE FROM import_folder WHERE path IN ({','.join('?' * len(batch))})", batch)


def _move_import_sources_set(models: Sequence[RowMove], roots: Sequence[str]) -> None:
    """_move_import_sources through moved_rows and a temporary table of the re-keyed groups."""
    db = database_proxy
    db.execute_sql("UPDATE import_source SET model_path = m.dst FROM (SELECT src, dst FROM moved_rows WHERE is_model = 1) m "
                   "WHERE import_source.model_path = m.src")
    rekeys: dict[str, tuple[str, str, str, str]] = {}
    for move in models:
        old_folder, old_base = _group_key(move.src)
        new_folder, new_base = _group_key(move.dst)
        old_key, new_key = f"{old_folder}/{old_base}", f"{new_folder}/{new_base}"
        if old_key != new_key:
            root = root_for(move.dst, roots) or new_folder
            rekeys.setdefault(old_key, (old_key, new_key, new_folder, root))
    if not rekeys:
        return
    if len({r[1] for r in rekeys.values()}) != len(rekeys):  # two groups into one key: in order, as before
        _move_import_sources(db.cursor(), models, roots)
        return
    db.execute_sql("CREATE TEMP TABLE IF NOT EXISTS moved_groups (old_key TEXT PRIMARY KEY, new_key TEXT NOT NULL, "
                   "folder TEXT NOT NULL, root TEXT NOT NULL)")
    db.execute_sql("DELETE FROM moved_groups")
    for batch in chunked(list(rekeys.values()), 200):
        db.execute_sql("INSERT INTO moved_groups VALUES " + ",".join(["(?,?,?,?)"] * len(batch)),
                       [v for row in batch for v in row])
    db.execute_sql("DELETE FROM import_source WHERE key IN (SELECT g.new_key FROM moved_groups g "
                   "JOIN import_source s ON s.key = g.old_key)")
    db.execute_sql("UPDATE import_source SET key = g.new_key, folder = g.folder, root = g.root FROM moved_groups g "
                   "WHERE import_source.key = g.old_key")
    db.execute_sql("DELETE FROM moved_groups")


def _move_library_files_set(moves: Sequence[RowMove], roots: Sequence[str]) -> None:
    """_move_library_files through a temporary table of the new column values."""
    db = database_proxy
    rows = _library_file_updates(moves, roots)
    db.execute_sql("CREATE TEMP TABLE IF NOT EXISTS moved_files (src TEXT PRIMARY KEY, dst TEXT NOT NULL, root TEXT, "
                   "rel_path TEXT, rel_path_lower TEXT, stem_lower TEXT, folder TEXT, missing INTEGER)")
    db.execute_sql("DELETE FROM moved_files")
    for batch in chunked(rows, 120):
        db.execute_sql("INSERT INTO moved_files VALUES " + ",".join(["(?,?,?,?,?,?,?,?)"] * len(batch)),
                       [v for row in batch for v in row])
    db.execute_sql("DELETE FROM library_file WHERE path IN (SELECT dst FROM moved_files)")
    db.execute_sql("UPDATE library_file SET path = m.dst, root = m.root, rel_path = m.rel_path, "
                   "rel_path_lower = m.rel_path_lower, stem_lower = m.stem_lower, folder = m.folder, "
                   "missing = COALESCE(m.missing, library_file.missing) FROM moved_files m WHERE library_file.path = m.src")
    db.execute_sql("DELETE FROM moved_files")


def _library_file_updates(moves: Sequence[RowMove], roots: Sequence[str]) -> list[tuple[object, ...]]:
    """(src, dst, root, rel_path, rel_path_lower, stem_lower, folder, missing) of the moves whose
    source has a library_file row."""
    # The roots of the moved rows in one JSON page (moved_rows holds the moves): not a row per file.
    (page,) = database_proxy.execute_sql(
        "SELECT json_group_object(f.path, f.root) FROM moved_rows m JOIN library_file f ON f.path = m.src").fetchone()
    row_roots: dict[str, str] = orjson.loads(page)
    out: list[tuple[object, ...]] = []
    for move in moves:
        root = row_roots.get(move.src)
        if root is None:
            continue
        if not _under(move.dst, root):
            root = root_for(move.dst, roots) or os.path.dirname(move.dst)
        prefix = root.rstrip(os.sep) + os.sep
        rel = (move.dst[len(prefix):] if move.dst.startswith(prefix) else os.path.relpath(move.dst, root)).replace(os.sep, "/")
        folder, rel_lower, stem_lower = split_rel_path(rel)
        out.append((move.src, move.dst, root, rel, rel_lower, stem_lower, folder,
                    None if move.missing is None else int(move.missing)))
    return out


def _apply_moves_rowwise(moves: list[RowMove]) -> None:
    """apply_moves statement by statement (SQLite before 3.33, or a source moved twice)."""
    roots = known_roots()
    cursor = database_proxy.cursor()
    _move_library_files(cursor, moves, roots)
    models = [m for m in moves if m.is_model]
    sidecars = [m for m in moves if not m.is_model]
    cursor.executemany(
        "UPDATE adapter SET primary_file_local_path = ? WHERE file_path = ? AND primary_file_local_path = ?",
        [(m.dst, m.src, m.src) for m in models])
    cursor.executemany("UPDATE adapter SET file_path = ? WHERE file_path = ?", [(m.dst, m.src) for m in models])
    flagged = [(int(m.missing), m.dst) for m in models if m.missing is not None]
    cursor.executemany("UPDATE adapter SET file_missing = ? WHERE file_path = ?", flagged)
    cursor.executemany("UPDATE adapter SET json_file_path = ? WHERE json_file_path = ?",
                       [(m.dst, m.src) for m in sidecars])
    # The hash cache: a stale entry at the destination (a file that vanished) gives way.
    cursor.executemany("DELETE FROM hash_cache WHERE path = ? AND EXISTS "
                       "(SELECT 1 FROM hash_cache h WHERE h.path = ?)", [(m.dst, m.src) for m in moves])
    cursor.executemany("UPDATE hash_cache SET path = ? WHERE path = ?", [(m.dst, m.src) for m in moves])
    _move_import_sources(cursor, models, roots)
    folders = sorted({os.path.dirname(p) for m in moves for p in (m.src, m.dst)})
    for batch in chunked(folders, 400):
        # The folders changed: their fingerprints no longer say anything (the next import walks them).
        ImportFolder.delete().where(ImportFolder.path.in_(batch)).execute()


def _move_library_files(cursor: object, moves: Sequence[RowMove], roots: Sequence[str]) -> None:
    row_roots: dict[str, str] = {}
    for batch in chunked([m.src for m in moves], 400):
        for path, root in LibraryFile.select(LibraryFile.path, LibraryFile.root).where(LibraryFile.path.in_(batch)).tuples():
            row_roots[path] = root
    updates, flags, stale = [], [], []
    for move in moves:
        root = row_roots.get(move.src)
        if root is None:
            continue
        if not _under(move.dst, root):
            root = root_for(move.dst, roots) or os.path.dirname(move.dst)
        rel = os.path.relpath(move.dst, root).replace(os.sep, "/")
        folder, rel_lower, stem_lower = split_rel_path(rel)
        stale.append((move.dst,))
        updates.append((move.dst, root, rel, rel_lower, stem_lower, folder, move.src))
        if move.missing is not None:
            flags.append((int(move.missing), move.dst))
    cursor.executemany("DELETE FROM library_file WHERE path = ?", stale)  # type: ignore[attr-defined]
    cursor.executemany(  # type: ignore[attr-defined]
        "UPDATE library_file SET path = ?, root = ?, rel_path = ?, rel_path_lower = ?, stem_lower = ?, "
        "folder = ? WHERE path = ?", updates)
    cursor.executemany("UPDATE library_file SET missing = ? WHERE path = ?", flags)  # type: ignore[attr-defined]


def _move_import_sources(cursor: object, models: Sequence[RowMove], roots: Sequence[str]) -> None:
    cursor.executemany("UPDATE import_source SET model_path = ? WHERE model_path = ?",  # type: ignore[attr-defined]
                       [(m.dst, m.src) for m in models])
    rekeys = []
    for move in models:
        old_folder, old_base = _group_key(move.src)
        new_folder, new_base = _group_key(move.dst)
        old_key, new_key = f"{old_folder}/{old_base}", f"{new_folder}/{new_base}"
        if old_key != new_key:
            rekeys.append((old_key, new_key, new_folder, root_for(move.dst, roots) or new_folder))
    cursor.executemany("DELETE FROM import_source WHERE key = ? AND EXISTS "  # type: ignore[attr-defined]
                       "(SELECT 1 FROM import_source s WHERE s.key = ?)", [(r[1], r[0]) for r in rekeys])
    cursor.executemany("UPDATE import_source SET key = ?, folder = ?, root = ? WHERE key = ?",  # type: ignore[attr-defined]
                       [(r[1], r[2], r[3], r[0]) for r in rekeys])


def hashes_for(paths: Iterable[str]) -> dict[str, str]:
    """SHA-256 (upper-case hex) of the cached paths among `paths` (unvalidated)."""
    out: dict[str, str] = {}
    for batch in chunked(list(paths), 400):
        for row in HashCacheEntry.select(HashCacheEntry.path, HashCacheEntry.sha256).where(HashCacheEntry.path.in_(batch)):
            out[row.path] = row.sha256
    return out


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a template may use for one present model file (orphans have only the file name)."""

    path: str
    root: str
    adapter_id: int | None
    name: str | None
    version: str | None
    base_model: str | None
    creator: str | None
    model_type: str | None
    model_id: int | None
    version_id: int | None

    def template_values(self) -> dict[str, object]:
        stem = os.path.splitext(os.path.basename(self.path))[0]
        return {"name": self.name or stem, "version": self.version, "base_model": self.base_model,
                "creator": self.creator, "model_type": self.model_type, "file_name": stem,
                "model_id": self.model_id, "version_id": self.version_id}


def file_facts(paths: Sequence[str] | None = None) -> list[FileFacts]:
    """Facts of the present model files (all of them, or those of `paths`)."""
    sql = ("SELECT f.path, f.root, a.id, a.name, a.version, COALESCE(NULLIF(a.base_model, ''), a.sd_version), "
           "a.author_username, a.model_type, a.civitai_model_id, a.civitai_version_id "
           "FROM library_file f LEFT JOIN adapter a ON a.id = f.adapter_id WHERE f.missing = 0")
    if paths is None:
        rows = database_proxy.execute_sql(sql + " ORDER BY f.path").fetchall()
    else:
        rows = []
        for batch in chunked(list(paths), 400):
            marks = ",".join("?" * len(batch))
            rows += database_proxy.execute_sql(sql + f" AND f.path IN ({marks})", batch).fetchall()
    return [FileFacts(*r) for r in rows]


def adapter_file(adapter_id: int) -> str | None:
    row = database_proxy.execute_sql("SELECT file_path FROM adapter WHERE id = ?", (adapter_id,)).fetchone()
    return row[0] if row and row[0] else None
