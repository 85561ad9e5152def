"""The orphan view's "import with what the safetensors header says": an adapter from the header.

`import_orphan_from_header` is synchronous (header read in the calling thread, database work on the
database thread through `call_sync`); call it from a worker, or await `import_orphan_from_header_async`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from lora_manager_gui.core.discovery import FileEntry
from lora_manager_gui.core.errors import FileProblemError, InvalidModelFileError, LoraManagerError
from lora_manager_gui.core.hashing import model_files_under
from lora_manager_gui.core.records import AdapterRecord
from lora_manager_gui.core.safetensors import read_header
from lora_manager_gui.core.sidecars.group import build_record
from lora_manager_gui.core.sidecars.header import FORMAT, header_fields
from lora_manager_gui.core.tasks import (
    Changes,
    ItemProblem,
    ProblemKind,
    Progress,
    ProgressSink,
    ProgressThrottle,
    Stage,
    TaskOutcome,
)
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


# --- many files: `lora-manager import-headers PATH...` ------------------------------------------


class SkipReason(StrEnum):
    HAS_ADAPTER = "has_adapter"  # the file already has an adapter (from its sidecars or an earlier run)
    NAME_TAKEN = "name_taken"  # the header's name is another file's adapter
    NOT_SAFETENSORS = "not_safetensors"  # a pickled format found under a folder: never opened


@dataclass(frozen=True)
class HeaderSkip:
    path: str
    reason: SkipReason
    message: str = ""

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason.value, "message": self.message}


@dataclass
class HeaderImportReport:
    """What `import_headers` did, file by file."""

    imported: list[AdapterRecord] = field(default_factory=list)
    skipped: list[HeaderSkip] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # paths given that do not exist

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(
            done=len(self.imported), problems=len(self.problems) + len(self.missing), was_cancelled=cancelled,
            changes=Changes(adapters=bool(self.imported), files=bool(self.imported)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": [
                {"path": r.file_path, "id": r.id, "name": r.name, "version": r.version, "base_model": r.base_model,
                 "sd_version": r.sd_version, "trained_words": list(r.trained_words)}
                for r in self.imported
            ],
            "skipped": [s.to_json() for s in self.skipped],
            "errors": [p.to_json() for p in self.problems] + [
                {"path": p, "class": ProblemKind.UNREADABLE.value, "message": "no such file or folder"} for p in self.missing
            ],
            "counts": {"imported": len(self.imported), "skipped": len(self.skipped),
                       "errors": len(self.problems) + len(self.missing)},
            "outcome": self.outcome().status.value,
        }


def header_candidates(paths: list[str]) -> tuple[list[str], list[HeaderSkip], list[str]]:
    """(files to read, pickled files skipped under folders, paths that do not exist). A folder
    gives its model files (every level); a file given by name is read whatever it is called, so a
    pickled one gets its classified problem."""
    files: list[str] = []
    skipped: list[HeaderSkip] = []
    missing: list[str] = []
    for raw in paths:
        path = os.path.abspath(os.fspath(raw))
        if os.path.isdir(path):
            for found in model_files_under(path):
                if found.lower().endswith(".safetensors"):
                    files.append(found)
                else:
                    skipped.append(HeaderSkip(found, SkipReason.NOT_SAFETENSORS, "pickled formats are never opened"))
        elif os.path.exists(path):
            files.append(path)
        else:
            missing.append(os.fspath(raw))
    return list(dict.fromkeys(files)), skipped, missing


def _store_unless_known(record: AdapterRecord) -> AdapterRecord | HeaderSkip:
    known = adapters.find_by_file_path(record.file_path or "")
    if known is not None:
        return HeaderSkip(record.file_path or "", SkipReason.HAS_ADAPTER, f"already the adapter {known.name!r}")
    try:
        return _store(record)
    except AdapterExistsError as exc:
        return HeaderSkip(record.file_path or "", SkipReason.NAME_TAKEN, str(exc))


async def import_headers(
    db: DatabaseExecutor, paths: list[str], *, pool: WorkPool | None = None, progress: ProgressSink | None = None
) -> HeaderImportReport:
    """Make adapters from the headers of the orphans among `paths` (files, or folders to search).
    Files that already have an adapter are skipped; a bad file is one problem, never the end."""
    import asyncio

    report = HeaderImportReport()
    files, report.skipped, report.missing = header_candidates(paths)
    throttle = ProgressThrottle(progress)
    loop = asyncio.get_running_loop()
    for done, path in enumerate(files):
        throttle(Progress(Stage.PARSE, done, len(files), problems=len(report.problems), detail=path), force=done == 0)
        try:
            if pool is not None:
                record = await pool.call(record_from_header, path)
            else:
                record = await loop.run_in_executor(None, record_from_header, path)
        except FileProblemError as exc:
            report.problems.append(ItemProblem(path, ProblemKind.parse(exc.error_class), exc.message))
            continue
        except OSError as exc:  # the file went away between the listing and the read
            report.problems.append(ItemProblem(path, ProblemKind.UNREADABLE, f"cannot read the file: {exc.strerror or exc}"))
            continue
        stored = await db.call(_store_unless_known, record)
        if isinstance(stored, HeaderSkip):
            report.skipped.append(stored)
        else:
            report.imported.append(stored)
    throttle(Progress(Stage.DONE, len(files), len(files), problems=len(report.problems)), force=True)
    return report
