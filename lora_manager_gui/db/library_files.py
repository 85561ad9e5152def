"""Repository of `library_file`: every model file an import has seen, orphans included.

Resolution helpers (`find_by_rel_path`, `find_by_stem`) serve the stack inspector: a LoRA name from a
workflow is matched case-insensitively against the tail of each file's path relative to its root.
"""
from __future__ import annotations

from typing import NamedTuple

import os
from collections.abc import Iterable
from enum import IntEnum

import orjson
from peewee import chunked

from lora_manager_gui.core.records import LibraryFile
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.db.bulk import BulkUpsert, take_new
from lora_manager_gui.db.fields import to_utc_text, utc_now
from lora_manager_gui.db.import_folders import root_and_folders
from lora_manager_gui.db.models import Adapter
from lora_manager_gui.db.models import LibraryFile as LibraryFileRow

CHUNK_ROWS = 400


def _record(row: LibraryFileRow) -> LibraryFile:
    return LibraryFile(
        path=row.path,
        root=row.root,
        rel_path=row.rel_path,
        size_bytes=row.size_bytes,
        mtime_ns=row.mtime_ns,
        adapter_id=row.adapter_id,
        folder=row.folder,
        missing=bool(row.missing),
        problem=row.problem,
        external=bool(row.external),
        last_seen_at=row.last_seen_at,
    )


def _records(query: Iterable[LibraryFileRow]) -> list[LibraryFile]:
    return [_record(row) for row in query]


def split_rel_path(rel_path: str) -> tuple[str, str, str]:
    """(folder, lower-cased rel_path, lower-cased stem) of a '/'-separated relative path."""
    folder, _, name = rel_path.rpartition("/")
    stem, ext = os.path.splitext(name)
    return folder, rel_path.lower(), (stem if ext else name).lower()


def normalize_rel_query(text: str) -> str:
    """A user- or workflow-given relative path: '\\' or '/' separated, any case, no leading './'."""
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts).lower()


# --- reading ----------------------------------------------------------------------------------


def get_by_path(path: str | os.PathLike[str]) -> LibraryFile | None:
    row = LibraryFileRow.get_or_none(LibraryFileRow.path == os.fspath(path))
    return _record(row) if row else None


def all_files(root: str | None = None) -> list[LibraryFile]:
    query = LibraryFileRow.select().order_by(LibraryFileRow.root, LibraryFileRow.rel_path_lower)
    if root is not None:
        query = query.where(LibraryFileRow.root == root)
    return _records(query)


def list_orphans(root: str | None = None) -> list[LibraryFile]:
    """Present, readable model files that no adapter describes, sorted by root and path."""
    query = (
        LibraryFileRow.select()
        .where(
            LibraryFileRow.adapter.is_null(True),
            LibraryFileRow.missing == False,  # noqa: E712 (peewee expression)
            LibraryFileRow.problem.is_null(True),
        )
        .order_by(LibraryFileRow.root, LibraryFileRow.rel_path_lower)
    )
    if root is not None:
        query = query.where(LibraryFileRow.root == root)
    return _records(query)


def find_by_stem(stem: str) -> list[LibraryFile]:
    """Files whose name without extension equals `stem`, case-insensitively (a weak match)."""
    key = stem.replace("\\", "/").rsplit("/", 1)[-1].lower()
    lowered_ext = os.path.splitext(key)[1]
    if lowered_ext in MODEL_EXTENSIONS:
        key = key[: -len(lowered_ext)]
    query = LibraryFileRow.select().where(LibraryFileRow.stem_lower == key).order_by(LibraryFileRow.rel_path_lower)
    return _records(query)


def find_by_rel_path(rel_path: str) -> list[LibraryFile]:
    """Files whose path relative to their root ends with `rel_path` (case-insensitive, '/' or '\\').

    "WanVideo\\Lightx2v\\x.safetensors" matches "loras/WanVideo/Lightx2v/x.safetensors". A query
    without a model extension ("wan/foo", as WanVideo nodes name LoRAs) matches any extension.
    """
    query_path = normalize_rel_query(rel_path)
    if not query_path:
        return []
    name = query_path.rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(name)
    with_ext = ext in MODEL_EXTENSIONS
    candidates = LibraryFileRow.select().where(LibraryFileRow.stem_lower == (stem if with_ext else name))
    out: list[LibraryFileRow] = []
    for row in candidates:
        target = row.rel_path_lower if with_ext else os.path.splitext(row.rel_path_lower)[0]
        if target == query_path or target.endswith("/" + query_path):
            out.append(row)
    out.sort(key=lambda r: (r.missing, r.rel_path_lower))
    return [_record(r) for r in out]


# --- the importer's bookkeeping ---------------------------------------------------------------


class StoredFileState(NamedTuple):
    size_bytes: int
    mtime_ns: int
    missing: bool
    adapter_id: int | None
    problem: str | None


def load_file_states(root: str, folders: list[str] | None = None) -> dict[str, StoredFileState]:
    """Everything the importer compares against, for one root or its `folders` only (relative to
    root, '/'-separated), in one query (raw rows)."""
    query = root_and_folders(
        "SELECT path, size_bytes, mtime_ns, missing, adapter_id, problem FROM library_file WHERE root = ?", root, folders
    )
    if query is None:
        return {}
    cursor = LibraryFileRow._meta.database.execute_sql(*query)
    return {p: StoredFileState(s, m, bool(miss), a, prob) for p, s, m, miss, a, prob in cursor}


def stored_folders(root: str) -> list[str]:
    """The folders (relative to root) of `root` that have stored model files (from the index alone)."""
    cursor = LibraryFileRow._meta.database.execute_sql("SELECT DISTINCT folder FROM library_file WHERE root = ?", (root,))
    return [folder for (folder,) in cursor]


def _row_dict(f: LibraryFile, now: object) -> dict[str, object]:
    folder, rel_lower, stem_lower = split_rel_path(f.rel_path)
    return {
        "path": f.path,
        "root": f.root,
        "rel_path": f.rel_path,
        "rel_path_lower": rel_lower,
        "stem_lower": stem_lower,
        "folder": folder,
        "size_bytes": f.size_bytes,
        "mtime_ns": f.mtime_ns,
        "adapter": f.adapter_id,
        "missing": False,
        "problem": f.problem,
        "external": f.external,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def upsert_files(files: list[LibraryFile], *, link: bool) -> None:
    """Insert or refresh rows by path. With `link`, adapter_id is written too; without it an
    existing link is kept (an orphan scan never unlinks what an earlier import or the user linked).
    Call inside the caller's transaction."""
    upsert_file_rows(file_rows(files), link=link)


def file_rows(files: list[LibraryFile], now: str | None = None) -> list[list[object]]:
    """The column values upsert_file_rows stores for `files` (pure: may run in a worker process):
    _UPSERT_LINK.rows([_row_dict(f, now) ...]) written out, without a dict per file (the import's
    hot path; tests/db/test_import_rows.py compares both)."""
    now = now or to_utc_text(utc_now())
    out: list[list[object]] = []
    for f in files:
        folder, rel_lower, stem_lower = split_rel_path(f.rel_path)
        out.append([
            f.path, f.root, f.rel_path, rel_lower, stem_lower, folder, f.size_bytes, f.mtime_ns, f.adapter_id,
            0, f.problem, 1 if f.external else 0, now, now,
        ])
    return out


def upsert_file_rows(rows: list[list[object]], *, link: bool) -> None:
    """upsert_files for values from file_rows (the adapter id at ADAPTER_AT)."""
    if rows:
        (_UPSERT_LINK if link else _UPSERT_KEEP_LINK).run(rows)


_FILE_COLUMNS = (
    "path", "root", "rel_path", "rel_path_lower", "stem_lower", "folder", "size_bytes", "mtime_ns", "adapter",
    "missing", "problem", "external", "first_seen_at", "last_seen_at",
)
_FILE_UPDATE = {
    col: take_new(col)
    for col in ("root", "rel_path", "rel_path_lower", "stem_lower", "folder", "size_bytes", "mtime_ns", "missing",
                "problem", "external", "last_seen_at")
}
_UPSERT_KEEP_LINK = BulkUpsert(LibraryFileRow, _FILE_COLUMNS, ["path"], _FILE_UPDATE)
_UPSERT_LINK = BulkUpsert(LibraryFileRow, _FILE_COLUMNS, ["path"], {**_FILE_UPDATE, "adapter_id": take_new("adapter_id")})
FileColumn = IntEnum("FileColumn", {name: i for i, name in enumerate(_FILE_COLUMNS)})
ADAPTER_AT = FileColumn.adapter.value


def link_file(path: str, adapter_id: int | None) -> None:
    LibraryFileRow.update(adapter=adapter_id).where(LibraryFileRow.path == path).execute()


def mark_missing(paths: list[str]) -> None:
    """Flag files an import no longer found (never delete: the drive may only be offline), and the
    adapters whose model file they were. Call inside the caller's transaction."""
    for batch in chunked(paths, CHUNK_ROWS):
        LibraryFileRow.update(missing=True).where(LibraryFileRow.path.in_(batch)).execute()
        Adapter.update(file_missing=True).where(Adapter.file_path.in_(batch)).execute()




# A model file whose group of sidecars failed to parse is that group's problem, not an orphan.
NOT_FAILED_CLAIM = "NOT EXISTS (SELECT 1 FROM import_source s WHERE s.model_path = f.path AND s.status = 'failed')"


def orphan_paths(roots: list[str]) -> list[str]:
    """The orphans of `roots` by path, as the window lists them (browse.list_orphans): present,
    readable model files that no adapter describes and whose metadata did not fail to parse (that
    is an import problem of the file, reported as such). One row (a JSON array), not a row per file."""
    (page,) = LibraryFileRow._meta.database.execute_sql(
        "SELECT json_group_array(path) FROM (SELECT f.path FROM library_file f WHERE f.adapter_id IS NULL"
        " AND f.missing = 0 AND f.problem IS NULL AND f.root IN (SELECT value FROM json_each(?))"
        f" AND {NOT_FAILED_CLAIM} ORDER BY f.path)",
        (orjson.dumps(list(roots)).decode(),),
    ).fetchone()
    return orjson.loads(page)


# --- roots offline, files moved outside the app (m0009) ----------------------------------------


def recorded_present(root: str) -> int:
    """How many model files of `root` the library holds as there: present, or offline (found
    again when the root comes back); not those flagged missing."""
    (count,) = LibraryFileRow._meta.database.execute_sql(
        "SELECT COUNT(*) FROM library_file WHERE root = ? AND (missing = 0 OR offline = 1)", (root,)).fetchone()
    return int(count)


def mark_offline(root: str) -> int:
    """Flag every present file of `root` offline (and missing: it cannot be used now), with the
    adapters whose model file it is. Nothing else is touched: the groups' signatures and the
    folders' fingerprints stay, so the root's return is an unchanged re-import. Returns how many
    files were flagged. Call inside the caller's transaction."""
    db = LibraryFileRow._meta.database
    cursor = db.execute_sql("UPDATE library_file SET missing = 1, offline = 1 WHERE root = ? AND missing = 0", (root,))
    db.execute_sql("UPDATE adapter SET file_missing = 1 WHERE file_path IN "
                   "(SELECT path FROM library_file WHERE root = ? AND offline = 1)", (root,))
    return cursor.rowcount


def bring_online(root: str) -> int:
    """The root is back: its offline files are present again (the walk that follows flags those
    really gone as missing). One statement on a partial index: free when nothing is offline."""
    db = LibraryFileRow._meta.database
    if db.execute_sql("SELECT 1 FROM library_file WHERE root = ? AND offline = 1 LIMIT 1", (root,)).fetchone() is None:
        return 0
    with db.atomic():
        db.execute_sql("UPDATE adapter SET file_missing = 0 WHERE file_path IN "
                       "(SELECT path FROM library_file WHERE root = ? AND offline = 1)", (root,))
        cursor = db.execute_sql("UPDATE library_file SET missing = 0, offline = 0 WHERE root = ? AND offline = 1", (root,))
    return cursor.rowcount


def offline_paths(root: str | None = None) -> list[str]:
    """The files flagged offline (for views that show them apart from missing), by path."""
    sql = "SELECT path FROM library_file WHERE offline = 1"
    args: tuple[str, ...] = ()
    if root is not None:
        sql, args = sql + " AND root = ?", (root,)
    return [p for (p,) in LibraryFileRow._meta.database.execute_sql(sql + " ORDER BY path", args)]


def fingerprints_for(paths: list[str]) -> dict[str, str]:
    """The stored content fingerprints among `paths`."""
    out: dict[str, str] = {}
    db = LibraryFileRow._meta.database
    for batch in chunked(paths, CHUNK_ROWS):
        marks = ",".join("?" * len(batch))
        for path, fp in db.execute_sql(
                f"SELECT path, fingerprint FROM library_file WHERE fingerprint IS NOT NULL AND path IN ({marks})", batch):
            out[path] = fp
    return out


def save_fingerprints(prints: dict[str, str]) -> None:
    """Keep computed fingerprints on the rows of their files (rows that exist)."""
    if prints:
        LibraryFileRow._meta.database.cursor().executemany(
            "UPDATE library_file SET fingerprint = ? WHERE path = ?", [(fp, p) for p, fp in prints.items()])


def folder_move_rows(root: str, folders: list[tuple[str, str]]) -> tuple[list[object], list[tuple[str, str]]]:
    """file_rows.RowMove values for whole folders (old, new) of `root` moved elsewhere: every model
    file stored in the old folder, and the metadata files adapters were read from there; with the
    model files' (from, to). Two queries for all the folders, each answered as one JSON page."""
    from lora_manager_gui.db.file_rows import RowMove  # file_rows imports this module

    db = LibraryFileRow._meta.database
    by_rel = {os.path.relpath(old, root).replace(os.sep, "/"): (old, new) for old, new in folders}
    by_old = dict(folders)
    rows: list[object] = []
    models: list[tuple[str, str]] = []
    (page,) = db.execute_sql(
        "SELECT json_group_array(json_array(path, folder)) FROM library_file WHERE root = ? AND folder IN "
        "(SELECT value FROM json_each(?))", (root, orjson.dumps(list(by_rel)).decode())).fetchone()
    for path, rel in orjson.loads(page):
        old, new = by_rel[rel]
        if path.startswith(old + os.sep) and os.sep not in path[len(old) + 1:]:
            dst = new + path[len(old):]
            rows.append(RowMove(path, dst, is_model=True, missing=False))
            models.append((path, dst))
    (page,) = db.execute_sql(
        "SELECT json_group_array(json_array(a.json_file_path, s.folder)) FROM import_source s JOIN adapter a "
        "ON a.id = s.adapter_id WHERE s.root = ? AND s.folder IN (SELECT value FROM json_each(?)) "
        "AND a.json_file_path IS NOT NULL", (root, orjson.dumps(list(by_old)).decode())).fetchone()
    for path, folder in dict(orjson.loads(page)).items():  # each metadata file once
        if os.path.dirname(path) == folder:
            rows.append(RowMove(path, by_old[folder] + path[len(folder):], is_model=False))
    models.sort()
    return rows, models
