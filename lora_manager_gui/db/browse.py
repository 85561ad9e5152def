"""Read-only queries behind the window's views: counts and pages computed in SQLite.

Every function here runs on the database thread (through DatabaseExecutor) and returns plain
dataclasses. Sorting, filtering and search happen in SQL so a view over 100,000 adapters only ever
holds the pages it shows. Tables written by other layers (library files, hash cache, CivitAI
answers) are used when the schema has them; `LibrarySchema` finds out once per connection.
"""
from __future__ import annotations

import json
import os
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
    """Which optional tables and columns the open library has."""

    tables: frozenset[str]
    columns: dict[str, frozenset[str]]

    def has(self, table: str, *columns: str) -> bool:
        return table in self.tables and all(c in self.columns.get(table, ()) for c in columns)


def read_schema(db: Database | None = None) -> LibrarySchema:
    db = db or database_proxy
    names = [r[0] for r in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()]
    columns = {
        name: frozenset(r[1] for r in db.execute_sql(f'PRAGMA table_info("{name}")').fetchall())
        for name in names if not name.startswith("sqlite_")
    }
    return LibrarySchema(frozenset(columns), columns)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _identified_sql(schema: LibrarySchema) -> str:
    """Identified: the adapter carries a CivitAI model id, or CivitAI answered 'found' for its hash."""
    if schema.has("adapter", "civitai_model_id"):  # the importer fills it from every CivitAI sidecar
        parts = ["a.civitai_model_id IS NOT NULL"]
    else:
        parts = ["json_extract(a.extra, '$.modelId') IS NOT NULL",
                 "json_extract(a.extra, '$.civitai.modelId') IS NOT NULL"]
    if schema.has("civitai_lookup", "sha256", "status"):
        parts.append("(a.primary_file_sha256 IS NOT NULL AND EXISTS (SELECT 1 FROM civitai_lookup c "
                     "WHERE c.sha256 IN (lower(a.primary_file_sha256), upper(a.primary_file_sha256)) "
                     "AND c.status = 'found'))")
    return "(" + " OR ".join(parts) + ")"


def _missing_sql(schema: LibrarySchema) -> str:
    """The model file is missing: no path recorded, or the latest import did not find it."""
    if schema.has("adapter", "file_missing"):
        return "(a.file_path IS NULL OR a.file_path = '' OR a.file_missing != 0)"
    return "(a.file_path IS NULL OR a.file_path = '')"


def _base_model_sql(schema: LibrarySchema) -> str:
    if schema.has("adapter", "base_model"):
        return "COALESCE(NULLIF(a.base_model, ''), a.sd_version)"
    return "a.sd_version"


def _size_sql(schema: LibrarySchema) -> str:
    if schema.has("adapter", "file_size_bytes"):
        return "COALESCE(a.file_size_bytes, CAST(a.primary_file_size_kb * 1024 AS INTEGER))"
    return "CAST(a.primary_file_size_kb * 1024 AS INTEGER)"


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


def _column_sql(schema: LibrarySchema) -> dict[str, str]:
    """The SQL expression of every column by name, for the open library's schema."""
    ids = schema.has("adapter", "civitai_model_id", "civitai_version_id")
    return {
        "id": "a.id", "name": "a.name", "version": "a.version", "creator": "a.author_username",
        "base_model": _base_model_sql(schema), "nsfw_level": "a.nsfw_level", "file_name": "a.primary_file_name",
        "file_path": "a.file_path", "json_file_path": "a.json_file_path", "size_bytes": _size_sql(schema),
        "sha256": "a.primary_file_sha256", "identified": _identified_sql(schema), "missing": _missing_sql(schema),
        "description": "a.description", "tags": "a.tags", "trained_words": "a.trained_words",
        "activation_text": "a.activation_text", "weight": "a.weight", "stats": "a.stats",
        "published_at": "a.published_at", "extra": "a.extra",
        "model_id": "a.civitai_model_id" if ids else "NULL", "version_id": "a.civitai_version_id" if ids else "NULL",
    }


def _select_columns(schema: LibrarySchema, names: tuple[str, ...] = ADAPTER_ROW_COLUMNS) -> str:
    sql = _column_sql(schema)
    return ", ".join(sql[name] for name in names)


def _where(query: BrowseQuery, schema: LibrarySchema) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for word in query.search.split():  # every word, as a substring of the stored search_text
        clauses.append("a.search_text LIKE ? ESCAPE '\\'")
        params.append(f"%{_like_escape(word)}%")
    if query.base_model is not None:
        clauses.append(f"COALESCE({_base_model_sql(schema)}, '') = ?")
        params.append(query.base_model)
    if query.max_nsfw is not None:
        clauses.append("a.nsfw_level <= ?")
        params.append(query.max_nsfw)
    if query.identified is not None:
        clauses.append(_identified_sql(schema) if query.identified else f"NOT {_identified_sql(schema)}")
    if query.missing_file is not None:
        clauses.append(_missing_sql(schema) if query.missing_file else f"NOT {_missing_sql(schema)}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count_adapters(query: BrowseQuery, schema: LibrarySchema | None = None) -> int:
    schema = schema or read_schema()
    where, params = _where(query, schema)
    return int(database_proxy.execute_sql(f"SELECT count(*) FROM adapter a{where}", params).fetchone()[0])


def fetch_adapters(query: BrowseQuery, offset: int, limit: int = PAGE_SIZE,
                   schema: LibrarySchema | None = None) -> list[AdapterRow]:
    """One page of rows in the query's order."""
    schema = schema or read_schema()
    where, params = _where(query, schema)
    order = SORT_EXPRESSIONS.get(query.sort_key, SORT_EXPRESSIONS["name"])
    if query.sort_key == "base_model":
        order = f"{_base_model_sql(schema)} COLLATE NOCASE"
    elif query.sort_key == "size":
        order = _size_sql(schema)
    direction = "DESC" if query.descending else "ASC"
    # With a search, one scan of search_text and a top-N sort beats walking a sort index and
    # testing every row in index order (165 ms at 100,000 rows when few rows match).
    source = "adapter a NOT INDEXED" if query.search.strip() else "adapter a"
    sql = (
        f"SELECT {_select_columns(schema)} FROM {source}{where} ORDER BY {order} {direction}, a.id {direction} LIMIT ? OFFSET ?"
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
    expr = _base_model_sql(schema or read_schema())
    rows = database_proxy.execute_sql(
        f"SELECT DISTINCT {expr} AS b FROM adapter a WHERE b IS NOT NULL AND b != '' "
        "ORDER BY b COLLATE NOCASE").fetchall()
    return [r[0] for r in rows]


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
    schema = schema or read_schema()
    sql = f"SELECT {_select_columns(schema, DETAIL_COLUMNS)} FROM adapter a WHERE a.id = ?"
    r = database_proxy.execute_sql(sql, [adapter_id]).fetchone()
    if r is None:
        return None
    row = _row(r)
    extra = _json(r[Col.extra], {}) or {}
    civitai = extra.get("civitai") if isinstance(extra.get("civitai"), dict) else {}
    model = extra.get("model") if isinstance(extra.get("model"), dict) else {}
    model_description = extra.get("modelDescription") or model.get("description") or (
        civitai.get("model", {}).get("description") if isinstance(civitai.get("model"), dict) else None)
    file_exists, size, mtime = _file_facts(row, schema)
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


def _file_facts(row: AdapterRow, schema: LibrarySchema) -> tuple[bool, int | None, int | None]:
    """Size and mtime of the model file, from the importer's file table when present, else stat()."""
    if schema.has("library_file", "adapter_id", "size_bytes", "mtime_ns"):
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
    schema = schema or read_schema()
    if not schema.has("library_file", "adapter_id", "path", "size_bytes", "mtime_ns"):
        return []
    has_hash = schema.has("hash_cache", "path", "sha256", "size_bytes", "mtime_ns")
    has_lookup = schema.has("civitai_lookup", "sha256", "status")
    sha = ("(SELECT h.sha256 FROM hash_cache h WHERE h.path = f.path AND h.size_bytes = f.size_bytes "
           "AND h.mtime_ns = f.mtime_ns)") if has_hash else "NULL"
    folder = "f.folder" if schema.has("library_file", "folder") else "''"
    missing = " AND f.missing = 0" if schema.has("library_file", "missing") else ""
    if schema.has("library_file", "problem"):  # a broken model file is an import problem, not an orphan
        missing += " AND f.problem IS NULL"
    if schema.has("import_source", "model_path", "status"):  # as its failed metadata is (library_files)
        missing += " AND " + NOT_FAILED_CLAIM
    rows = database_proxy.execute_sql(
        f"SELECT f.id, f.path, {folder}, f.size_bytes, f.mtime_ns, {sha} FROM library_file f "
        f"WHERE f.adapter_id IS NULL{missing} ORDER BY {folder}, f.path LIMIT ?", [limit]).fetchall()
    result = []
    for file_id, path, folder_name, size, mtime, sha in rows:
        status = None
        if has_lookup and sha:
            hit = database_proxy.execute_sql(
                "SELECT status FROM civitai_lookup WHERE sha256 IN (?, ?)", [sha.lower(), sha.upper()]).fetchone()
            status = hit[0] if hit else None
        result.append(OrphanRow(file_id, path, folder_name or os.path.dirname(path), int(size), int(mtime), sha, status))
    return result
