"""The orphan view's "import with what the safetensors header says": an adapter from the header.

`import_orphan_from_header` is synchronous (header read in the calling thread, database work on the
database thread through `call_sync`); call it from a worker, or await `import_orphan_from_header_async`.
"""
from __future__ import annotations

import os
from pathlib import Path

from lora_manager_gui.core.discovery import FileEntry
from lora_manager_gui.core.errors import InvalidModelFileError, LoraManagerError
from lora_manager_gui.core.records import AdapterRecord
from lora_manager_gui.core.safetensors import read_header
from lora_manager_gui.core.sidecars.group import build_record
from lora_manager_gui.core.sidecars.header import FORMAT, header_fields
from lora_manager_gui.db import adapters, library_files
from lora_manager_gui.db.models import Adapter
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool


class AdapterExistsError(LoraManagerError):
    """The header names an adapter that the library already holds for another file."""


def record_from_header(path: str | os.PathLike[str]) -> AdapterRecord:
    """Read the header of a safetensors file (never anything else: .pt/.ckpt/.bin are not opened)."""
    name = os.fspath(path)
    if not name.lower().endswith(".safetensors"):
        raise InvalidModelFileError(name, "only safetensors files carry a readable header; pickled formats are never opened")
    header = read_header(name)
    st = os.stat(name)
    entry = FileEntry(name, os.path.basename(name), os.path.basename(name), st.st_size, st.st_mtime_ns)
    fields = header_fields(name, header, full=True)
    record = build_record(fields, entry, entry, [FORMAT])
    record.json_file_path = record.json_file_mtime = record.json_file_size = None
    return record


def _store(record: AdapterRecord) -> AdapterRecord:
    db = Adapter._meta.database
    with db.atomic():
        stem = os.path.splitext(os.path.basename(record.file_path or ""))[0]
        for name in dict.fromkeys([record.name, stem]):
            row = Adapter.get_or_none(Adapter.name == name, Adapter.version == record.version)
            if row is None:
                record.name = name
                record.canonical_version_name = name
                stored = adapters.insert_adapter(record)
                break
            if row.file_path == record.file_path:
                stored = adapters.to_record(row)  # imported before: the same file, nothing to add
                break
        else:
            raise AdapterExistsError(
                f"{record.file_path}: the library already has an adapter named {record.name!r} for another file"
            )
        library_files.link_file(record.file_path or "", stored.id)
    return stored


def import_orphan_from_header(db: DatabaseExecutor, path: str | os.PathLike[str]) -> AdapterRecord:
    """Create (or return) the adapter of an orphan from its header: name from modelspec.title or
    ss_output_name (else the file name), base model from ss_base_model_version or
    modelspec.architecture, trained words from modelspec.trigger_phrase or the most frequent
    training tags (ss_tag_frequency). Links the file's library_file row to it."""
    record = record_from_header(path)
    return db.call_sync(_store, record)


async def import_orphan_from_header_async(db: DatabaseExecutor, path: str | Path, pool: WorkPool | None = None) -> AdapterRecord:
    import asyncio

    if pool is not None:
        record = await pool.call(record_from_header, path)
    else:
        record = await asyncio.get_running_loop().run_in_executor(None, record_from_header, path)
    return await db.call(_store, record)
