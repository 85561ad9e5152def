"""What the library holds for a whole batch of stack entries, read in a few batched queries.

The inspector used to ask the database per entry (path, stem, name, adapter...): a 100,000-node
prompt meant hundreds of thousands of queries. `LibraryIndex` reads, for all entries at once, the
library files whose stem any entry could match, the files and adapters at the absolute paths
named, and the adapters by name and by SHA-256, in chunks of `CHUNK` keys (one query per chunk),
then answers the same questions `db.library_files` / `db.adapters` answer, from memory, with the
same rules (`find_by_rel_path`: the relative path ends with the reference, any case, any
separator; a reference without a model extension matches any extension). Runs on the database
thread.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from peewee import fn

from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.core.stacks import StackEntry
from lora_manager_gui.core.stacks.names import split_reference
from lora_manager_gui.db import adapters as adapter_repo
from lora_manager_gui.db import library_files
from lora_manager_gui.db.models import Adapter
from lora_manager_gui.db.models import LibraryFile as LibraryFileRow

CHUNK = 400  # keys per IN (...) query, under SQLite's variable limit


def chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _stem_key(reference: str) -> str:
    """The `stem_lower` a reference's file would have (find_by_stem / find_by_rel_path's key)."""
    name = reference.replace("\\", "/").rsplit("/", 1)[-1].lower()
    stem, ext = os.path.splitext(name)
    return stem if ext in MODEL_EXTENSIONS else name


def _is_absolute(ref: str) -> bool:
    return ref.startswith(("/", "\\\\")) or (len(ref) > 2 and ref[1] == ":" and ref[2] in "\\/")


class LibraryIndex:
    def __init__(self, entries: Iterable[StackEntry]) -> None:
        stems: set[str] = set()
        paths: set[str] = set()
        names: set[str] = set()
        shas: set[str] = set()
        for entry in entries:
            ref = entry.path or ""
            if ref:
                stems.add(_stem_key(ref))
                if _is_absolute(ref):
                    paths.add(ref)
            if entry.name:
                stems.add(_stem_key(entry.name))
                names.add(entry.name.lower())
            if entry.stem:
                stems.add(entry.stem.lower())
                names.add(entry.stem.lower())
            sha = entry.hashes.get("sha256")
            if sha:
                shas.add(sha.strip().upper())
        stems.discard("")
        self.by_stem: dict[str, list[LibraryFileRow]] = {}
        for chunk in chunks(sorted(stems)):
            for row in LibraryFileRow.select().where(LibraryFileRow.stem_lower.in_(chunk)):
                self.by_stem.setdefault(row.stem_lower, []).append(row)
        self.by_path: dict[str, LibraryFile | None] = dict.fromkeys(paths)
        for rows in self.by_stem.values():
            for row in rows:
                self.by_path[row.path] = library_files._record(row)
        missing = [p for p in paths if self.by_path.get(p) is None]
        for chunk in chunks(missing):
            for row in LibraryFileRow.select().where(LibraryFileRow.path.in_(chunk)):
                self.by_path[row.path] = library_files._record(row)
        self.adapter_by_file: dict[str, AdapterRecord | None] = dict.fromkeys(paths)
        for chunk in chunks(sorted(paths)):
            for row in Adapter.select().where(Adapter.file_path.in_(chunk)):
                self.adapter_by_file[row.file_path] = adapter_repo.to_record(row)
        self.names = names
        self.adapters_by_name: dict[str, list[Any]] = {}
        for chunk in chunks(sorted(names)):
            for row in Adapter.select().where(fn.LOWER(Adapter.name).in_(chunk)):
                self.adapters_by_name.setdefault(row.name.lower(), []).append(row)
        self.sha_checked: set[str] = set()
        self.adapter_by_sha: dict[str, AdapterRecord | None] = dict.fromkeys(shas)
        for chunk in chunks(sorted(shas)):
            for row in Adapter.select().where(Adapter.primary_file_sha256.in_(chunk)).order_by(Adapter.id.desc()):
                self.adapter_by_sha[row.primary_file_sha256] = adapter_repo.to_record(row)

    # --- the questions the inspector asks ---------------------------------------------------------

    def get_by_path(self, path: str) -> LibraryFile | None:
        if path not in self.by_path:
            self.by_path[path] = library_files.get_by_path(path)
        return self.by_path[path]

    def find_by_stem(self, stem: str) -> list[LibraryFile]:
        key = _stem_key(stem)
        if key not in self.by_stem:
            return library_files.find_by_stem(stem)
        rows = sorted(self.by_stem[key], key=lambda r: r.rel_path_lower)
        return [library_files._record(r) for r in rows]

    def find_by_rel_path(self, rel_path: str) -> list[LibraryFile]:
        query_path = library_files.normalize_rel_query(rel_path)
        if not query_path:
            return []
        key = _stem_key(query_path)
        if key not in self.by_stem:
            return library_files.find_by_rel_path(rel_path)
        with_ext = os.path.splitext(query_path.rsplit("/", 1)[-1])[1] in MODEL_EXTENSIONS
        out = []
        for row in self.by_stem[key]:
            target = row.rel_path_lower if with_ext else os.path.splitext(row.rel_path_lower)[0]
            if target == query_path or target.endswith("/" + query_path):
                out.append(row)
        out.sort(key=lambda r: (r.missing, r.rel_path_lower))
        return [library_files._record(r) for r in out]

    def adapter_for_file(self, path: str) -> AdapterRecord | None:
        if path not in self.adapter_by_file:
            self.adapter_by_file[path] = adapter_repo.find_by_file_path(path)
        return self.adapter_by_file[path]

    def adapter_for_sha(self, sha: str) -> AdapterRecord | None:
        key = sha.strip().upper()
        if self.adapter_by_sha.get(key) is not None or key in self.sha_checked:
            return self.adapter_by_sha.get(key)
        self.sha_checked.add(key)  # not stored upper-case: the repository's any-case query, once
        self.adapter_by_sha[key] = adapter_repo.find_by_sha256(sha)
        return self.adapter_by_sha[key]

    def adapter_by_name(self, name: str) -> AdapterRecord | None:
        """`adapters.find_by_name`: exact name first, then any case; the newest version wins."""
        rows = self.adapters_by_name.get(name.lower())
        if rows is None:
            return None if name.lower() in self.names else adapter_repo.find_by_name(name)
        order = sorted(rows, key=lambda r: (r.civitai_version_id is None, -(r.civitai_version_id or 0), -r.id))
        exact = [r for r in order if r.name == name]
        return adapter_repo.to_record((exact or order)[0])


def reference_tails(ref: str) -> list[str]:
    """A foreign absolute path's tails, longest first: `/a/b/loras/x.safetensors` -> `b/loras/x...`."""
    parts = split_reference(ref)
    return ["/".join(parts[start:]) for start in range(1, len(parts) - 1)]


def lookup_key(entry: StackEntry) -> tuple[Any, ...]:
    return (entry.path, entry.name, tuple(sorted(entry.hashes.items())) if entry.hashes else ())
