"""Export library adapters as a stack (each at its preferred weight) and write lora_json atomically."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.lora_json import build_document
from lora_manager_gui.core.records import AdapterRecord
from lora_manager_gui.core.stacks import StackEntry
from lora_manager_gui.db import adapters
from lora_manager_gui.services.inspector import StackResolver

EXPORT_FALLBACK_NAME = "Library export"


class ExportError(LoraManagerError):
    """The lora_json document could not be written."""


def _entries(records: list[AdapterRecord]) -> list[StackEntry]:
    entries: list[StackEntry] = []
    for record in records:
        entries.append(StackEntry(
            index=len(entries), name=record.name, path=record.file_path, strength=float(record.weight),
            clip_strength=None, node_type="library", node_id=str(record.id),
            raw={"adapter_id": record.id, "name": record.name, "version": record.version,
                 "weight": record.weight},
            hashes={"sha256": record.primary_file_sha256.lower()} if record.primary_file_sha256 else {}))
    return entries


async def export_adapters(db: Any, hasher: Any, adapter_ids: list[int] | None = None,
                          search: str | None = None, *, fallback_name: str | None = None) -> dict[str, Any]:
    """The lora_json document of the chosen adapters (by id, in the order given; else by search)."""

    def load() -> list[AdapterRecord]:
        if adapter_ids is not None:
            found = [adapters.get_adapter(i) for i in adapter_ids]
            return [record for record in found if record is not None]
        return adapters.search_adapters(search)

    records = await db.call(load)
    resolver = StackResolver(db, hasher, trust_paths=True)
    resolved, _warnings = await resolver.resolve(_entries(records))
    for item, record in zip(resolved, records):
        item.adapter_id = record.id
        item.library_name = record.name
        if item.match is not None:
            item.match = "library"
    return build_document(resolved, fallback_name=fallback_name or EXPORT_FALLBACK_NAME)


def write_document(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the document as UTF-8 JSON, atomically: a reader never sees half a file."""
    target = Path(path)
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
