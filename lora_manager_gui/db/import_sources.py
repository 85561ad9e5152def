"""Repository of `import_source`: per group of sidecars, the signature that was ingested.

The importer loads a root's signatures in one query and re-parses only groups whose signature
(name, size and mtime_ns of each sidecar and of the model file) changed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, NamedTuple

from peewee import chunked

from lora_manager_gui.core.records import ImportItem
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.db.bulk import BulkUpsert, take_new
from lora_manager_gui.db.fields import json_text, to_utc_text, utc_now
from lora_manager_gui.db.import_folders import root_and_folders
from lora_manager_gui.db.models import ImportSource

CHUNK_ROWS = 400


class StoredSource(NamedTuple):
    """One stored group (a tuple of plain values, which the garbage collector does not track)."""

    signature: str
    status: str
    model_path: str | None
    adapter_id: int | None
    issues: tuple[ItemProblem, ...]


def load_sources(root: str, folders: list[str] | None = None) -> dict[str, StoredSource]:
    """Every stored group of `root`, or of its `folders` (absolute paths) only, in one query (raw
    rows: this runs on every import)."""
    query = root_and_folders(
        "SELECT key, signature, status, model_path, adapter_id, issues FROM import_source WHERE root = ?", root, folders
    )
    if query is None:
        return {}
    cursor = ImportSource._meta.database.execute_sql(*query)
    out: dict[str, StoredSource] = {}
    for key, signature, status, model_path, adapter_id, issues in cursor:
        stored: tuple[ItemProblem, ...] = ()
        if issues and issues != "[]":
            stored = tuple(
                ItemProblem(i.get("path", ""), ProblemKind.parse(i.get("class", "unreadable")), i.get("message", ""))
                for i in json.loads(issues)
                if isinstance(i, dict)
            )
        out[key] = StoredSource(signature, status, model_path, adapter_id, stored)
    return out


def stored_folders(root: str) -> list[str]:
    """The folders of `root` that have stored groups (from the index alone)."""
    cursor = ImportSource._meta.database.execute_sql("SELECT DISTINCT folder FROM import_source WHERE root = ?", (root,))
    return [folder for (folder,) in cursor]


def upsert_sources(items: Iterable[tuple[ImportItem, int | None, str]]) -> None:
    """(item, final adapter id, final status) triples; call inside the caller's transaction."""
    triples = list(items)
    rows = source_rows([item for item, _a, _s in triples])
    for row, (_item, adapter_id, status) in zip(rows, triples):
        row[ADAPTER_AT], row[STATUS_AT] = adapter_id, status
    upsert_source_rows(rows)


def source_rows(items: list[ImportItem], now: str | None = None) -> list[list[Any]]:
    """The column values upsert_source_rows stores for `items`, with the adapter id (ADAPTER_AT)
    still empty and the status (STATUS_AT) as parsed (pure: may run in a worker process).
    _UPSERT.rows([_row_dict(item, now) ...]) written out (tests/db/test_import_rows.py compares)."""
    now = now or to_utc_text(utc_now())
    return [
        [
            item.key, item.root, item.key.rpartition("/")[0], item.signature,
            item.model_file.path if item.model_file else None, None, item.status,
            json_text([i.to_json() for i in item.issues]) if item.issues else "[]", now,
        ]
        for item in items
    ]


def _row_dict(item: ImportItem, now: str) -> dict[str, Any]:
    return {
        "key": item.key,
        "root": item.root,
        "folder": item.key.rpartition("/")[0],
        "signature": item.signature,
        "model_path": item.model_file.path if item.model_file else None,
        "adapter": None,
        "status": item.status,
        "issues": [i.to_json() for i in item.issues],
        "checked_at": now,
    }


def upsert_source_rows(rows: list[list[Any]]) -> None:
    if rows:
        _UPSERT.run(rows)


_SOURCE_COLUMNS = ("key", "root", "folder", "signature", "model_path", "adapter", "status", "issues", "checked_at")
_UPSERT = BulkUpsert(
    ImportSource,
    _SOURCE_COLUMNS,
    ["key"],
    {col: take_new(col) for col in ("root", "folder", "signature", "model_path", "adapter_id", "status", "issues", "checked_at")},
)
SourceColumn = IntEnum("SourceColumn", {name: i for i, name in enumerate(_SOURCE_COLUMNS)})
ADAPTER_AT = SourceColumn.adapter.value
STATUS_AT = SourceColumn.status.value


def forget_sources(keys: list[str]) -> None:
    """Drop the bookkeeping of sidecar groups that no longer exist (adapter rows stay)."""
    for batch in chunked(keys, CHUNK_ROWS):
        ImportSource.delete().where(ImportSource.key.in_(batch)).execute()
