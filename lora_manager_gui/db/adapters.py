"""Repository of `adapter`: lookups returning AdapterRecord, and the importer's chunked upsert.

Upsert rules (on (name, version)): a value from the import replaces the stored one only when it is
not empty, so an empty value never erases a filled one; user state (weight, active, ordinal,
archetype) is written on insert only.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import orjson
from peewee import chunked, fn

from lora_manager_gui.core.records import (
    STATUS_DUPLICATE,
    AdapterRecord,
    DuplicateClaim,
    ImportItem,
    coverage_mask,
    reduce_named_tuple,
)
from lora_manager_gui.db import import_sources, library_files
from lora_manager_gui.db.bulk import BulkUpsert, keep_filled_json_list, keep_filled_nullable, keep_filled_text, take_new
from lora_manager_gui.db.fields import to_utc_text, utc_now
from lora_manager_gui.db.models import Adapter

CHUNK_ROWS = 300
_RECORD_FIELDS = tuple(f.name for f in fields(AdapterRecord))

# Update policy on conflict, per column.
_TEXT_KEEP_FILLED = (
    "canonical_version_name", "description", "author_username", "published_at", "primary_file_name",
    "primary_file_sha256", "primary_file_download_url", "sd_version", "activation_text", "base_model",
    "model_type", "notes", "visibility",
)
_JSON_LIST_KEEP_FILLED = ("tags", "trained_words", "triggers", "sources", "preview_images")
_NULLABLE_KEEP_FILLED = (
    "primary_file_size_kb", "supports_generation", "stats", "civitai_model_id", "civitai_version_id",
)
_ALWAYS = (
    "file_path", "primary_file_local_path", "json_file_path", "json_file_mtime", "json_file_size",
    "file_size_bytes", "file_mtime_ns", "file_missing", "last_ingested_at", "updated_at",
)


def _upsert_statement() -> BulkUpsert:
    update: dict[str, str] = {}
    for name in _TEXT_KEEP_FILLED:
        update[name] = keep_filled_text("adapter", name)
    for name in _JSON_LIST_KEEP_FILLED:
        update[name] = keep_filled_json_list("adapter", name)
    for name in _NULLABLE_KEEP_FILLED:
        update[name] = keep_filled_nullable("adapter", name)
    update["nsfw_level"] = 'COALESCE(NULLIF(excluded."nsfw_level", 0), "adapter"."nsfw_level")'
    # extra: keys from the new import win, keys only the stored row has are kept.
    update["extra"] = 'json_patch("adapter"."extra", excluded."extra")'
    for name in _ALWAYS:
        update[name] = take_new(name)
    columns = [n for n in _RECORD_FIELDS if n != "id"]
    return BulkUpsert(Adapter, columns, ["name", "version"], update)


_UPSERT = _upsert_statement()


def to_record(row: Adapter) -> AdapterRecord:
    return AdapterRecord(**{name: getattr(row, name) for name in _RECORD_FIELDS})


def _row_dict(record: AdapterRecord, now: str | None = None) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data.pop("id")
    now = now or to_utc_text(utc_now())
    data["created_at"] = data["created_at"] or now
    data["updated_at"] = now
    data["last_ingested_at"] = data["last_ingested_at"] or now
    return data


_CREATED_AT = _UPSERT.names.index("created_at")
_UPDATED_AT = _UPSERT.names.index("updated_at")
_INGESTED_AT = _UPSERT.names.index("last_ingested_at")


def _adapter_rows(records: list[AdapterRecord], now: str) -> list[list[Any]]:
    """_UPSERT.rows([_row_dict(r, now) ...]) without a dict per record (the import's hot path)."""

    def fill(values: list[Any]) -> None:
        values[_CREATED_AT] = values[_CREATED_AT] or now
        values[_UPDATED_AT] = now
        values[_INGESTED_AT] = values[_INGESTED_AT] or now

    return _UPSERT.object_rows(records, fill)


# --- lookups ----------------------------------------------------------------------------------


def get_adapter(adapter_id: int) -> AdapterRecord | None:
    row = Adapter.get_or_none(Adapter.id == adapter_id)
    return to_record(row) if row else None


def find_by_file_path(path: str | os.PathLike[str]) -> AdapterRecord | None:
    row = Adapter.get_or_none(Adapter.file_path == os.fspath(path))
    if row is None:  # the file may be one of several copies linked through library_file
        linked = library_files.get_by_path(path)
        if linked and linked.adapter_id is not None:
            return get_adapter(linked.adapter_id)
    return to_record(row) if row else None


def find_by_sha256(sha256: str) -> AdapterRecord | None:
    """By the primary file's SHA-256, any hex case (stored upper-case)."""
    value = sha256.strip().upper()
    if not value:
        return None
    row = Adapter.select().where(Adapter.primary_file_sha256 == value).order_by(Adapter.id).first()
    if row is None:  # rows written by other tools may carry lower case
        row = Adapter.select().where(fn.UPPER(Adapter.primary_file_sha256) == value).order_by(Adapter.id).first()
    return to_record(row) if row else None


def find_by_sha256_prefix(prefix: str, limit: int = 20) -> list[AdapterRecord]:
    """Adapters whose primary file's SHA-256 starts with `prefix` (an AutoV2 is the first 10 hex),
    any hex case; nothing for a prefix that is not hex."""
    value = prefix.strip().upper()
    if not value or any(c not in "0123456789ABCDEF" for c in value):
        return []
    query = Adapter.select().where(Adapter.primary_file_sha256.startswith(value))
    return [to_record(row) for row in query.order_by(Adapter.id).limit(limit)]


def find_by_name(name: str) -> AdapterRecord | None:
    """Exact name first, then case-insensitive; the newest version (highest civitai id) wins."""
    order = (Adapter.civitai_version_id.desc(nulls="LAST"), Adapter.id.desc())
    row = Adapter.select().where(Adapter.name == name).order_by(*order).first()
    if row is None:
        row = Adapter.select().where(fn.LOWER(Adapter.name) == name.lower()).order_by(*order).first()
    return to_record(row) if row else None


def search_adapters(text: str | None = None, *, limit: int | None = None) -> list[AdapterRecord]:
    """Adapters whose name, version, author, base model, tags or trained words contain `text`."""
    query = Adapter.select().order_by(fn.LOWER(Adapter.name), Adapter.version)
    if text and text.strip():
        needle = text.strip()
        cols = (Adapter.name, Adapter.version, Adapter.author_username, Adapter.base_model, Adapter.tags, Adapter.trained_words)
        cond = None
        for col in cols:
            term = col.contains(needle)  # case-insensitive LIKE with wildcards escaped
            cond = term if cond is None else (cond | term)
        query = query.where(cond)
    if limit:
        query = query.limit(limit)
    return [to_record(r) for r in query]


def count_adapters() -> int:
    return Adapter.select().count()


# --- the importer's chunk write ---------------------------------------------------------------


@dataclass
class ChunkOutcome:
    imported: int = 0
    updated: int = 0
    duplicates: list[DuplicateClaim] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)  # coverage_mask of each row imported or updated


AdapterKeys = dict[tuple[str, str], tuple[int, "str | None"]]


class StoreItem(NamedTuple):
    """One group of sidecars ready to store: its rows already converted to column values. Built
    where the group was parsed (store_items, in a worker process for large imports), so the
    database thread only decides duplicates and ids and runs the statements; a tuple of plain
    values is also far cheaper to send between processes than the records it comes from."""

    key: str
    signature: str
    status: str
    previous_adapter_id: int | None
    model_path: str | None  # the model file of the group, when there is one
    name: str | None  # name, version, file_path, json_file_path: of the adapter row, if any
    version: str | None
    file_path: str | None
    json_file_path: str | None
    adapter_row: list[Any] | None  # values for _UPSERT, or None when nothing could be imported
    file_row: list[Any] | None  # values for library_files' upsert (adapter id set at store time)
    source_row: list[Any]  # values for import_sources' upsert (adapter id and status set at store time)
    filled: int  # coverage_mask of the record

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_named_tuple(self)


def store_items(items: list[ImportItem]) -> list[StoreItem]:
    """Convert import items to the values the chunk write stores. Pure: no database access."""
    now = to_utc_text(utc_now())
    records = [i.record for i in items if i.record is not None]
    adapter_rows = iter(_adapter_rows(records, now))  # type: ignore[arg-type]
    files = [i.model_file for i in items if i.model_file is not None]
    file_rows = iter(library_files.file_rows(files, now))  # type: ignore[arg-type]
    source_rows = import_sources.source_rows(items, now)
    out: list[StoreItem] = []
    for item, source_row in zip(items, source_rows):
        rec = item.record
        out.append(StoreItem(
            key=item.key,
            signature=item.signature,
            status=item.status,
            previous_adapter_id=item.previous_adapter_id,
            model_path=item.model_file.path if item.model_file else None,
            name=rec.name if rec else None,
            version=rec.version if rec else None,
            file_path=rec.file_path if rec else None,
            json_file_path=rec.json_file_path if rec else None,
            adapter_row=next(adapter_rows) if rec else None,
            file_row=next(file_rows) if item.model_file else None,
            source_row=source_row,
            filled=coverage_mask(rec) if rec else 0,
        ))
    return out


def load_adapter_keys() -> AdapterKeys:
    """(name, version) -> (id, file_path) of every adapter, in one query (the importer's run cache)."""
    # A page of keys is one row (a JSON array): fetching row by row gives up the GIL at each row
    # and waits to get it back (see store_import_chunk). Pages, not one document: decoding 100,000
    # keys at once would hold the GIL (and so the UI) for ~0.1 s.
    db = Adapter._meta.database
    out: AdapterKeys = {}
    last = 0
    while True:
        (page,) = db.execute_sql(
            "SELECT json_group_array(json_array(name, version, id, file_path)) FROM"
            " (SELECT name, version, id, file_path FROM adapter WHERE id > ? ORDER BY id LIMIT ?)",
            (last, KEY_PAGE_ROWS),
        ).fetchone()
        rows = orjson.loads(page)
        for name, version, aid, path in rows:
            out[(name, version)] = (aid, path)
        if len(rows) < KEY_PAGE_ROWS:
            return out
        last = rows[-1][2]


KEY_PAGE_ROWS = 5000


def store_import_chunk(
    items: list[ImportItem] | list[StoreItem],
    *,
    present: Callable[[str], bool],
    claims: dict[tuple[str, str], str],
    existing: AdapterKeys | None = None,
) -> ChunkOutcome:
    """Write one chunk of import results in ONE transaction: adapters, their files, bookkeeping.

    `present(path)` tells whether a model file exists now (a stored row whose file is gone may be
    taken over by a moved file); `claims` maps (name, version) to the model file that claimed it
    earlier in this run, so a second file claiming the same key is a duplicate, never merged.
    `existing` is the run's cache of stored keys (load_adapter_keys), kept up to date here; without
    it the keys of this chunk are looked up.
    """
    plain = [i for i in items if not isinstance(i, StoreItem)]
    converted = iter(store_items(plain))  # type: ignore[arg-type]
    rows = [i if isinstance(i, StoreItem) else next(converted) for i in items]
    db = Adapter._meta.database
    outcome = ChunkOutcome()
    keyed = [r for r in rows if r.adapter_row is not None]
    if existing is None:
        existing = _keys_for_names(sorted({r.name for r in keyed}))  # type: ignore[misc]
    with db.atomic():
        max_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM adapter").fetchone()[0]
        to_write: list[StoreItem] = []
        final: dict[str, tuple[int | None, str]] = {}
        for item in keyed:
            key = (item.name, item.version)
            model_path = item.model_path or item.file_path or ""
            earlier = claims.get(key)  # type: ignore[arg-type]
            stored = existing.get(key)  # type: ignore[arg-type]
            kept = None
            if earlier is not None and earlier != model_path:
                kept = earlier
            elif stored is not None and stored[1] and stored[1] != model_path and present(stored[1]):
                kept = stored[1]
            if kept is not None:
                outcome.duplicates.append(DuplicateClaim(item.name, item.version, kept, model_path, item.json_file_path))  # type: ignore[arg-type]
                final[item.key] = (stored[0] if stored else None, STATUS_DUPLICATE)
                continue
            claims[key] = model_path  # type: ignore[index]
            if stored is None and item.previous_adapter_id is not None:
                _rename_previous(item.previous_adapter_id, item.name, item.version, existing)  # type: ignore[arg-type]
            to_write.append(item)
        if to_write:
            _UPSERT.run([item.adapter_row for item in to_write])
        # AUTOINCREMENT ids only grow and this thread is the only writer: new rows are those above max_id.
        # One row (a JSON array) rather than a row per adapter: each row fetched is a step that
        # gives up the GIL, and the walk's thread takes it every time (see db/bulk.py).
        (found,) = db.execute_sql(
            "SELECT json_group_array(json_array(id, name, version)) FROM adapter WHERE id > ?", (max_id,)
        ).fetchone()
        new_ids = {(name, version): aid for aid, name, version in orjson.loads(found)}
        for item in to_write:
            key = (item.name, item.version)
            stored = existing.get(key)  # type: ignore[arg-type]
            if stored is not None and key not in new_ids:
                adapter_id = stored[0]
                outcome.updated += 1
            else:
                adapter_id = new_ids.get(key)  # type: ignore[arg-type]
                outcome.imported += 1
            existing[key] = (adapter_id or 0, item.file_path)  # type: ignore[index]
            final[item.key] = (adapter_id, item.status)
            outcome.filled.append(item.filled)
        linked, unlinked = [], []
        sources = []
        for item in rows:
            adapter_id, status = final.get(item.key, (None, item.status))
            if item.file_row is not None:
                file_row = list(item.file_row)
                if adapter_id is not None:
                    file_row[library_files.ADAPTER_AT] = adapter_id
                    linked.append(file_row)
                else:
                    unlinked.append(file_row)
            source_row = list(item.source_row)
            source_row[import_sources.ADAPTER_AT] = adapter_id
            source_row[import_sources.STATUS_AT] = status
            sources.append(source_row)
        library_files.upsert_file_rows(linked, link=True)
        library_files.upsert_file_rows(unlinked, link=False)
        import_sources.upsert_source_rows(sources)
    return outcome


def _keys_for_names(names: list[str]) -> AdapterKeys:
    out: AdapterKeys = {}
    for batch in chunked(names, CHUNK_ROWS):
        for aid, name, version, path in (
            Adapter.select(Adapter.id, Adapter.name, Adapter.version, Adapter.file_path)
            .where(Adapter.name.in_(batch))
            .tuples()
        ):
            out[(name, version)] = (aid, path)
    return out


def _rename_previous(previous_id: int, name: str, version: str, existing: dict[tuple[str, str], tuple[int, str | None]]) -> None:
    """The group's sidecars now name another (name, version): rename its row, keeping user state."""
    prev = Adapter.get_or_none(Adapter.id == previous_id)
    if prev is None:
        return
    Adapter.update(name=name, version=version).where(Adapter.id == previous_id).execute()
    existing[(name, version)] = (previous_id, prev.file_path)
    existing.pop((prev.name, prev.version), None)


def insert_adapter(record: AdapterRecord) -> AdapterRecord:
    """Insert one adapter (the orphan 'import from header' action); returns it with its id."""
    row = Adapter.create(**_row_dict(record))
    return to_record(Adapter.get_by_id(row.id))
