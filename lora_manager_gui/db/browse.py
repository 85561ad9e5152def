"""Read-only queries behind the window's views: counts and pages computed in SQLite.

Every function here runs on the database thread (through DatabaseExecutor) and returns plain
dataclasses. Sorting, filtering and search happen in SQL so a view over 100,000 adapters only ever
holds the pages it shows. Tables written by other layers (library files, hash cache, CivitAI
answers) are joined in; every library has them (the migrations create them).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from peewee import Database

from lora_manager_gui.db.library_files import NOT_FAILED_CLAIM
from lora_manager_gui.db.models import database_proxy

PAGE_SIZE = 200

# Sortable columns: the view's column key -> the SQL expression it sorts by.
SORT_EXPRESSIONS: dict[str, str] = {
    "name": "a.name COLLATE NOCASE",
    "version": "a.version COLLATE NOCASE",
    "creator": "a.author_username COLLATE NOCASE",
    "base_model": "a.sd_version COLLATE NOCASE",
    "nsfw": "a.nsfw_level",
    "size": "a.primary_file_size_kb",
    "file": "a.primary_file_name COLLATE NOCASE",
    "updated": "a.updated_at",
    "added": "a.created_at",
    "modified": "a.file_mtime_ns",
}

# The free-text box matches each word as a substring of adapter.search_text, a stored generated
# column (m0001) over name, version, tags, trained words, creator, file name and path.


@dataclass(frozen=True)
class BrowseQuery:
    """What the adapters view asks for: search text, filters and sort order."""

    search: str = ""
    base_model: str | None = None  # exact sd_version / base model, None = any
    max_nsfw: int | None = None  # show adapters whose nsfw_level <= this, None = any
    identified: bool | None = None  # True: identified on CivitAI, False: not, None: both
    missing_file: bool | None = None  # True: the model file is missing, False: present
    folder: str | None = None  # only adapters whose model file lies under this folder (any depth)
    tags: tuple[str, ...] = ()  # every one of these tags (AND), compared without case
    base_models: tuple[str, ...] = ()  # any of these base models (OR); combines with base_model
    creators: tuple[str, ...] = ()  # any of these creators (OR)
    sort_key: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class AdapterRow:
    """One line of the adapters table or gallery."""

    id: int
    name: str
    version: str
    creator: str | None
    base_model: str | None
    nsfw_level: int
    file_name: str | None
    file_path: str | None
    json_file_path: str | None
    size_bytes: int | None
    sha256: str | None
    identified: bool
    missing: bool


@dataclass(frozen=True)
class AdapterDetails:
    """Everything the details pane shows for one adapter."""

    row: AdapterRow
    description_html: str | None
    model_description_html: str | None
    tags: list[str]
    trained_words: list[str]
    activation_text: str | None
    weight: float
    stats: dict[str, Any]
    published_at: str | None
    model_id: int | None
    version_id: int | None
    file_exists: bool
    file_size: int | None
    file_mtime_ns: int | None
    autov2: str | None
    autov3: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def civitai_url(self) -> str | None:
        if self.model_id is None:
            return None
        url = f"https://civitai.com/models/{self.model_id}"
        return f"{url}?modelVersionId={self.version_id}" if self.version_id else url


@dataclass(frozen=True)
class LibrarySchema:
    """The open library's schema version. Every query here works on the latest schema, which
    every open library has; callers may still pass one (the `schema` arguments are ignored)."""

    version: int


def read_schema(db: Database | None = None) -> LibrarySchema:
    db = db or database_proxy
    return LibrarySchema(int(db.execute_sql("PRAGMA user_version").fetchone()[0]))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Identified: the adapter carries a CivitAI model id (the importer fills it from every CivitAI
# sidecar), or CivitAI answered 'found' for its hash.
IDENTIFIED_SQL = (
    "(a.civitai_model_id IS NOT NULL OR (a.primary_file_sha256 IS NOT NULL AND EXISTS (SELECT 1 FROM "
    "civitai_lookup c WHERE c.sha256 IN (lower(a.primary_file_sha256), upper(a.primary_file_sha256)) "
    "AND c.status = 'found')))"
)
# The model file is missing: no path recorded, or the latest import did not find it.
MISSING_SQL = "(a.file_path IS NULL OR a.file_path = '' OR a.file_missing != 0)"
BASE_MODEL_SQL = "COALESCE(NULLIF(a.base_model, ''), a.sd_version)"
SIZE_SQL = "COALESCE(a.file_size_bytes, CAST(a.primary_file_size_kb * 1024 AS INTEGER))"


# The columns of an AdapterRow, then those the details pane adds, in the order they are selected;
# rows are read by these names (`r[Col.sha256]`), never by bare position.
ADAPTER_ROW_COLUMNS: tuple[str, ...] = (
    "id", "name", "version", "creator", "base_model", "nsfw_level", "file_name", "file_path", "json_file_path",
    "size_bytes", "sha256", "identified", "missing",
)
DETAIL_COLUMNS: tuple[str, ...] = ADAPTER_ROW_COLUMNS + (
    "description", "tags", "trained_words", "activation_text", "weight", "stats", "published_at", "extra",
    "model_id", "version_id",
)
Col = IntEnum("Col", {name: i for i, name in enumerate(DETAIL_COLUMNS)})


# The SQL expression of every column by name.
COLUMN_SQL: dict[str, str] = {
    "id": "a.id", "name": "a.name", "version": "a.version", "creator": "a.author_username",
    "base_model": BASE_MODEL_SQL, "nsfw_level": "a.nsfw_level", "file_name": "a.primary_file_name",
    "file_path": "a.file_path", "json_file_path": "a.json_file_path", "size_bytes": SIZE_SQL,
    "sha256": "a.primary_file_sha256", "identified": IDENTIFIED_SQL, "missing": MISSING_SQL,
    "description": "a.description", "tags": "a.tags", "trained_words": "a.trained_words",
    "activation_text": "a.activation_text", "weight": "a.weight", "stats": "a.stats",
    "published_at": "a.published_at", "extra": "a.extra",
    "model_id": "a.civitai_model_id", "version_id": "a.civitai_version_id",
}
ROW_SELECT = ", ".join(COLUMN_SQL[name] for name in ADAPTER_ROW_COLUMNS)
DETAIL_SELECT = ", ".join(COLUMN_SQL[name] for name in DETAIL_COLUMNS)


def _where(query: BrowseQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for word in query.search.split():  # every word, as a substring of the stored search_text
        clauses.append("a.search_text LIKE ? ESCAPE '\\'")
        params.append(f"%{_like_escape(word)}%")
    if query.base_model is not None:
        clauses.append(f"COALESCE({BASE_MODEL_SQL}, '') = ?")
        params.append(query.base_model)
    if query.max_nsfw is not None:
        clauses.append("a.nsfw_level <= ?")
        params.append(query.max_nsfw)
    if query.identified is not None:
        clauses.append(IDENTIFIED_SQL if query.identified else f"NOT {IDENTIFIED_SQL}")
    if query.missing_file is not None:
        clauses.append(MISSING_SQL if query.missing_file else f"NOT {MISSING_SQL}")
    if query.folder:
        # a range over the file_path index: every path that starts with "<folder>/"
        low = query.folder.rstrip("/\\") + os.sep
        clauses.append("a.file_path >= ? AND a.file_path < ?")
        params += [low, low[:-1] + chr(ord(os.sep) + 1)]
    for tag in query.tags:
        if tag.isascii():  # a cheap LIKE on the JSON text first (non-ASCII is \u-escaped there)
            clauses.append("a.tags LIKE ? ESCAPE '\\'")
            params.append(f"%{_like_escape(tag)}%")
        clauses.append("EXISTS (SELECT 1 FROM json_each(a.tags) t WHERE lower(t.value) = lower(?))")
        params.append(tag)
    if query.base_models:
        clauses.append(f"{BASE_MODEL_SQL} IN ({', '.join('?' * len(query.base_models))})")
        params += list(query.base_models)
    if query.creators:
        clauses.append(f"a.author_username COLLATE NOCASE IN ({', '.join('?' * len(query.creators))})")
        params += list(query.creators)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count_adapters(query: BrowseQuery, schema: LibrarySchema | None = None) -> int:
    where, params = _where(query)
    return int(database_proxy.execute_sql(f"SELECT count(*) FROM adapter a{where}", params).fetchone()[0])


def fetch_adapters(query: BrowseQuery, offset: int, limit: int = PAGE_SIZE,
                   schema: LibrarySchema | None = None) -> list[AdapterRow]:
    """One page of rows in the query's order."""
    where, params = _where(query)
    order = SORT_EXPRESSIONS.get(query.sort_key, SORT_EXPRESSIONS["name"])
    if query.sort_key == "base_model":
        order = f"{BASE_MODEL_SQL} COLLATE NOCASE"
    elif query.sort_key == "size":
        order = SIZE_SQL
    direction = "DESC" if query.descending else "ASC"
    # With a search, one scan of search_text and a top-N sort beats walking a sort index and
    # testing every row in index order (165 ms at 100,000 rows when few rows match).
    source = "adapter a NOT INDEXED" if query.search.strip() else "adapter a"
    sql = (
        f"SELECT {ROW_SELECT} FROM {source}{where} ORDER BY {order} {direction}, a.id {direction} LIMIT ? OFFSET ?"
    )
    rows = database_proxy.execute_sql(sql, [*params, limit, offset]).fetchall()
    return [_row(r) for r in rows]


def _row(r: tuple[Any, ...]) -> AdapterRow:
    file_path = r[Col.file_path]
    size = r[Col.size_bytes]
    return AdapterRow(
        id=r[Col.id], name=r[Col.name], version=r[Col.version] or "", creator=r[Col.creator],
        base_model=r[Col.base_model], nsfw_level=int(r[Col.nsfw_level] or 0),
        file_name=r[Col.file_name] or (os.path.basename(file_path) if file_path else None),
        file_path=file_path, json_file_path=r[Col.json_file_path],
        size_bytes=int(size) if size is not None else None,
        sha256=r[Col.sha256], identified=bool(r[Col.identified]), missing=bool(r[Col.missing]),
    )


def base_models(schema: LibrarySchema | None = None) -> list[str]:
    """Distinct base models present, for the filter box."""
    rows = database_proxy.execute_sql(
        f"SELECT DISTINCT {BASE_MODEL_SQL} AS b FROM adapter a WHERE b IS NOT NULL AND b != '' "
        "ORDER BY b COLLATE NOCASE").fetchall()
    return [r[0] for r in rows]


def creators(limit: int = 500) -> list[str]:
    """The creators with the most adapters, for the creator filter."""
    rows = database_proxy.execute_sql(
        "SELECT author_username FROM adapter WHERE author_username IS NOT NULL AND author_username != '' "
        "GROUP BY author_username ORDER BY count(*) DESC, author_username COLLATE NOCASE LIMIT ?", [limit]).fetchall()
    return sorted((r[0] for r in rows), key=str.lower)


def top_tags(limit: int = 500) -> list[str]:
    """The most used tags (lower case), for the tag filter."""
    # counted here: a GROUP BY over json_each sorts every tag of the library (4x slower)
    counts = Counter(tag.lower() for (tag,) in database_proxy.execute_sql(
        "SELECT t.value FROM adapter a, json_each(a.tags) t WHERE t.type = 'text' AND t.value != ''"))
    return sorted(tag for tag, _n in counts.most_common(limit))


@dataclass(frozen=True)
class FolderCount:
    """A folder holding model files directly, and how many adapters' files lie in it."""

    path: str
    count: int


def folder_counts() -> list[FolderCount]:
    """Adapters per folder of their model file, grouped in SQL (the folder: the path up to its last
    separator; rtrim strips every character that is not one)."""
    sep = os.sep
    rows = database_proxy.execute_sql(
        "SELECT rtrim(a.file_path, replace(a.file_path, ?, '')) AS folder, count(*) FROM adapter a "
        "WHERE a.file_path IS NOT NULL AND a.file_path != '' GROUP BY folder ORDER BY folder", [sep]).fetchall()
    return [FolderCount(folder.rstrip(sep) or sep, int(n)) for folder, n in rows if folder]


def adapter_count() -> int:
    return int(database_proxy.execute_sql("SELECT count(*) FROM adapter").fetchone()[0])


def _json(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def adapter_details(adapter_id: int, schema: LibrarySchema | None = None) -> AdapterDetails | None:
    sql = f"SELECT {DETAIL_SELECT} FROM adapter a WHERE a.id = ?"
    r = database_proxy.execute_sql(sql, [adapter_id]).fetchone()
    if r is None:
        return None
    row = _row(r)
    extra = _json(r[Col.extra], {}) or {}
    civitai = extra.get("civitai") if isinstance(extra.get("civitai"), dict) else {}
    model = extra.get("model") if isinstance(extra.get("model"), dict) else {}
    model_description = extra.get("modelDescription") or model.get("description") or (
        civitai.get("model", {}).get("description") if isinstance(civitai.get("model"), dict) else None)
    file_exists, size, mtime = _file_facts(row)
    hashes = _primary_hashes(extra, civitai)
    sha = (row.sha256 or hashes.get("SHA256") or "") or None
    return AdapterDetails(
        row=row,
        description_html=r[Col.description],
        model_description_html=model_description if isinstance(model_description, str) else None,
        tags=[str(t) for t in _json(r[Col.tags], []) or []],
        trained_words=[str(t) for t in _json(r[Col.trained_words], []) or []],
        activation_text=r[Col.activation_text],
        weight=float(r[Col.weight] if r[Col.weight] is not None else 1.0),
        stats=_json(r[Col.stats], {}) or {},
        published_at=r[Col.published_at],
        model_id=_int_or_none(r[Col.model_id] or extra.get("modelId") or civitai.get("modelId")),
        version_id=_int_or_none(r[Col.version_id] or extra.get("modelVersionId") or civitai.get("id")
                                or (extra.get("id") if extra.get("modelId") else None)),
        file_exists=file_exists, file_size=size, file_mtime_ns=mtime,
        autov2=(hashes.get("AutoV2") or (sha[:10] if sha else None)),
        autov3=hashes.get("AutoV3") or (extra.get("autov3") if isinstance(extra.get("autov3"), str) else None),
        extra=extra,
    )


def _primary_hashes(extra: dict[str, Any], civitai: dict[str, Any]) -> dict[str, str]:
    for source in (extra, civitai):
        files = source.get("files")
        if isinstance(files, list):
            for f in files:
                if isinstance(f, dict) and isinstance(f.get("hashes"), dict) and f.get("primary", True):
                    return {k: str(v) for k, v in f["hashes"].items()}
    return {}


def _file_facts(row: AdapterRow) -> tuple[bool, int | None, int | None]:
    """Size and mtime of the model file, from the importer's file table, else stat()."""
    hit = database_proxy.execute_sql(
        "SELECT size_bytes, mtime_ns FROM library_file WHERE adapter_id = ? LIMIT 1", [row.id]).fetchone()
    if hit is not None:
        return True, hit[0], hit[1]
    if row.file_path:
        try:
            st = os.stat(row.file_path)
        except OSError:
            return False, None, None
        return True, st.st_size, st.st_mtime_ns
    return False, None, None


@dataclass(frozen=True)
class OrphanRow:
    """A model file an import saw with no metadata beside it."""

    id: int
    path: str
    folder: str
    size_bytes: int
    mtime_ns: int
    sha256: str | None
    civitai_status: str | None  # 'found' | 'not_found' | 'failed' | None (never asked)


def list_orphans(limit: int = 100_000, schema: LibrarySchema | None = None) -> list[OrphanRow]:
    """Orphans by folder then path, with what hashing and CivitAI already know of each."""
    sha = ("(SELECT h.sha256 FROM hash_cache h WHERE h.path = f.path AND h.size_bytes = f.size_bytes "
           "AND h.mtime_ns = f.mtime_ns)")
    # a broken model file is an import problem, not an orphan, as its failed metadata is (library_files)
    rows = database_proxy.execute_sql(
        f"SELECT f.id, f.path, f.folder, f.size_bytes, f.mtime_ns, {sha} FROM library_file f "
        f"WHERE f.adapter_id IS NULL AND f.missing = 0 AND f.problem IS NULL AND {NOT_FAILED_CLAIM} "
        "ORDER BY f.folder, f.path LIMIT ?", [limit]).fetchall()
    result = []
    for file_id, path, folder_name, size, mtime, sha in rows:
        status = None
        if sha:
            hit = database_proxy.execute_sql(
                "SELECT status FROM civitai_lookup WHERE sha256 IN (?, ?)", [sha.lower(), sha.upper()]).fetchone()
            status = hit[0] if hit else None
        result.append(OrphanRow(file_id, path, folder_name or os.path.dirname(path), int(size), int(mtime), sha, status))
    return result
