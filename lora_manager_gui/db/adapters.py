"""Repository of `adapter`: lookups returning AdapterRecord, and the importer's chunked upsert.

Upsert rules (on (name, version)): a value from the import replaces the stored one only when it is
not empty, so an empty value never erases a filled one; user state (weight, active, ordinal,
archetype) is written on insert only.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from peewee import chunked, fn

from lora_manager_gui.core.records import (
    STATUS_DUPLICATE,
    AdapterRecord,
    DuplicateClaim,
    ImportItem,
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
_JSON_LIST_KEEP_FILLED = ("tags", "trained_words", "triggers", "sources")
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


def _row_dict(record: AdapterRecord) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data.pop("id")
    now = to_utc_text(utc_now())
    data["created_at"] = data["created_at"] or now
    data["updated_at"] = now
    data["last_ingested_at"] = data["last_ingested_at"] or now
    return data


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
    written: list[AdapterRecord] = field(default_factory=list)  # records imported or updated (as imported)


AdapterKeys = dict[tuple[str, str], tuple[int, "str | None"]]


def load_adapter_keys() -> AdapterKeys:
    """(name, version) -> (id, file_path) of every adapter, in one query (the importer's run cache)."""
    cursor = Adapter._meta.database.execute_sql("SELECT name, version, id, file_path FROM adapter")
    return {(name, version): (aid, path) for name, version, aid, path in cursor}


def store_import_chunk(
    items: list[ImportItem],
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
    db = Adapter._meta.database
    outcome = ChunkOutcome()
    keyed = [i for i in items if i.record is not None]
    if existing is None:
        existing = _keys_for_names(sorted({i.record.name for i in keyed}))  # type: ignore[union-attr]
    with db.atomic():
        max_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM adapter").fetchone()[0]
        to_write: list[ImportItem] = []
        final: dict[str, tuple[int | None, str]] = {}
        for item in keyed:
            rec = item.record
            assert rec is not None
            key = (rec.name, rec.version)
            model_path = item.model_file.path if item.model_file else rec.file_path or ""
            earlier = claims.get(key)
            stored = existing.get(key)
            kept = None
            if earlier is not None and earlier != model_path:
                kept = earlier
            elif stored is not None and stored[1] and stored[1] != model_path and present(stored[1]):
                kept = stored[1]
            if kept is not None:
                outcome.duplicates.append(DuplicateClaim(rec.name, rec.version, kept, model_path, rec.json_file_path))
                final[item.key] = (stored[0] if stored else None, STATUS_DUPLICATE)
                continue
            claims[key] = model_path
            if stored is None and item.previous_adapter_id is not None:
                _rename_previous(item.previous_adapter_id, rec, existing)
            to_write.append(item)
        _UPSERT.execute([_row_dict(i.record) for i in to_write])  # type: ignore[arg-type]
        # AUTOINCREMENT ids only grow and this thread is the only writer: new rows are those above max_id.
        new_ids = {
            (name, version): aid
            for aid, name, version in db.execute_sql("SELECT id, name, version FROM adapter WHERE id > ?", (max_id,))
        }
        for item in to_write:
            rec = item.record
            assert rec is not None
            key = (rec.name, rec.version)
            stored = existing.get(key)
            if stored is not None and key not in new_ids:
                rec.id = stored[0]
                outcome.updated += 1
            else:
                rec.id = new_ids.get(key)
                outcome.imported += 1
            existing[key] = (rec.id or 0, rec.file_path)
            final[item.key] = (rec.id, item.status)
            outcome.written.append(rec)
        linked, unlinked = [], []
        for item in items:
            if item.model_file is None:
                continue
            adapter_id, _status = final.get(item.key, (None, item.status))
            if adapter_id is not None:
                item.model_file.adapter_id = adapter_id
                linked.append(item.model_file)
            else:
                unlinked.append(item.model_file)
        library_files.upsert_files(linked, link=True)
        library_files.upsert_files(unlinked, link=False)
        import_sources.upsert_sources(
            (i, final.get(i.key, (None, i.status))[0], final.get(i.key, (None, i.status))[1]) for i in items
        )
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


def _rename_previous(previous_id: int, rec: AdapterRecord, existing: dict[tuple[str, str], tuple[int, str | None]]) -> None:
    """The group's sidecars now name another (name, version): rename its row, keeping user state."""
    prev = Adapter.get_or_none(Adapter.id == previous_id)
    if prev is None:
        return
    Adapter.update(name=rec.name, version=rec.version).where(Adapter.id == previous_id).execute()
    existing[(rec.name, rec.version)] = (previous_id, prev.file_path)
    existing.pop((prev.name, prev.version), None)


def insert_adapter(record: AdapterRecord) -> AdapterRecord:
    """Insert one adapter (the orphan 'import from header' action); returns it with its id."""
    row = Adapter.create(**_row_dict(record))
    return to_record(Adapter.get_by_id(row.id))
