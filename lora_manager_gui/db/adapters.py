"""Repository of `adapter`: lookups returning AdapterRecord, and the importer's chunked upsert.

Upsert rules (on (name, version)): a value from the import replaces the stored one only when it is
not empty, so an empty value never erases a filled one; user state (weight, active, ordinal,
archetype) is written on insert only.
"""
from __future__ import annotations

import os
from dataclasses import fields
from enum import IntEnum
from typing import Any

from peewee import fn

from lora_manager_gui.core.records import AdapterRecord
from lora_manager_gui.db import library_files
from lora_manager_gui.db.bulk import BulkUpsert, keep_filled_json_list, keep_filled_nullable, keep_filled_text, take_new
from lora_manager_gui.db.fields import to_utc_text, utc_now
from lora_manager_gui.db.models import Adapter

CHUNK_ROWS = 300
_RECORD_FIELDS = tuple(f.name for f in fields(AdapterRecord))
# The columns the import writes, in the order of its row values (every record field but the id),
# and their positions by name: `row[AdapterColumn.created_at]`, never a bare number.
ADAPTER_COLUMNS: tuple[str, ...] = tuple(n for n in _RECORD_FIELDS if n != "id")
AdapterColumn = IntEnum("AdapterColumn", {name: i for i, name in enumerate(ADAPTER_COLUMNS)})

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
    return BulkUpsert(Adapter, ADAPTER_COLUMNS, ["name", "version"], update)


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


_CREATED_AT = AdapterColumn.created_at.value
_UPDATED_AT = AdapterColumn.updated_at.value
_INGESTED_AT = AdapterColumn.last_ingested_at.value


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


def insert_adapter(record: AdapterRecord) -> AdapterRecord:
    """Insert one adapter (the orphan 'import from header' action); returns it with its id."""
    row = Adapter.create(**_row_dict(record))
    return to_record(Adapter.get_by_id(row.id))
