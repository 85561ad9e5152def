"""What the library holds for a whole batch of stack entries, read in a few batched queries, and the
lookups the inspector makes with it (by path, hash, name; then the library data of the results).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from peewee import fn

from lora_manager_gui.core.lora_json import ResolvedEntry
from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.core.stacks import StackEntry
from lora_manager_gui.core.stacks.gcpause import paused_gc
from lora_manager_gui.core.stacks.names import normalize_reference, split_reference
from lora_manager_gui.db import adapters, civitai_store, hash_cache, library_files
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


def is_absolute(ref: str) -> bool:
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
                if is_absolute(ref):
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
        self.stems_asked = stems  # a key asked here and not in by_stem: no file has that stem
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
                self.adapter_by_file[row.file_path] = adapters.to_record(row)
        self.names = names
        self.adapters_by_name: dict[str, list[Any]] = {}
        for chunk in chunks(sorted(names)):
            for row in Adapter.select().where(fn.LOWER(Adapter.name).in_(chunk)):
                self.adapters_by_name.setdefault(row.name.lower(), []).append(row)
        self.sha_checked: set[str] = set()
        self.adapter_by_sha: dict[str, AdapterRecord | None] = dict.fromkeys(shas)
        for chunk in chunks(sorted(shas)):
            for row in Adapter.select().where(Adapter.primary_file_sha256.in_(chunk)).order_by(Adapter.id.desc()):
                self.adapter_by_sha[row.primary_file_sha256] = adapters.to_record(row)

    # --- the questions the inspector asks ---------------------------------------------------------

    def get_by_path(self, path: str) -> LibraryFile | None:
        if path not in self.by_path:
            self.by_path[path] = library_files.get_by_path(path)
        return self.by_path[path]

    def find_by_stem(self, stem: str) -> list[LibraryFile]:
        key = _stem_key(stem)
        if key not in self.by_stem:
            return [] if key in self.stems_asked else library_files.find_by_stem(stem)
        rows = sorted(self.by_stem[key], key=lambda r: r.rel_path_lower)
        return [library_files._record(r) for r in rows]

    def find_by_rel_path(self, rel_path: str) -> list[LibraryFile]:
        query_path = library_files.normalize_rel_query(rel_path)
        if not query_path:
            return []
        key = _stem_key(query_path)
        if key not in self.by_stem:
            return [] if key in self.stems_asked else library_files.find_by_rel_path(rel_path)
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
            self.adapter_by_file[path] = adapters.find_by_file_path(path)
        return self.adapter_by_file[path]

    def adapter_for_sha(self, sha: str) -> AdapterRecord | None:
        key = sha.strip().upper()
        if self.adapter_by_sha.get(key) is not None or key in self.sha_checked:
            return self.adapter_by_sha.get(key)
        self.sha_checked.add(key)  # not stored upper-case: the repository's any-case query, once
        self.adapter_by_sha[key] = adapters.find_by_sha256(sha)
        return self.adapter_by_sha[key]

    def adapter_by_name(self, name: str) -> AdapterRecord | None:
        """`adapters.find_by_name`: exact name first, then any case; the newest version wins."""
        rows = self.adapters_by_name.get(name.lower())
        if rows is None:
            return None if name.lower() in self.names else adapters.find_by_name(name)
        order = sorted(rows, key=lambda r: (r.civitai_version_id is None, -(r.civitai_version_id or 0), -r.id))
        exact = [r for r in order if r.name == name]
        return adapters.to_record((exact or order)[0])


def reference_tails(ref: str) -> list[str]:
    """A foreign absolute path's tails, longest first: `/a/b/loras/x.safetensors` -> `b/loras/x...`."""
    parts = split_reference(ref)
    return ["/".join(parts[start:]) for start in range(1, len(parts) - 1)]


def lookup_key(entry: StackEntry) -> tuple[Any, ...]:
    return (entry.path, entry.name, tuple(sorted(entry.hashes.items())) if entry.hashes else ())


# --- the lookups the inspector makes, per distinct reference (database thread) -----------------

@dataclass
class Lookup:
    """What the database offers for one entry (found on the database thread)."""

    candidates: list[tuple[LibraryFile, str]] = field(default_factory=list)  # (file, how it matched)
    adapter: AdapterRecord | None = None
    adapter_match: str | None = None
    unsafe: bool = False


def is_unsafe_reference(ref: str) -> bool:
    return any(part == ".." for part in split_reference(ref)) or "\0" in ref


def lookup_all_blocking(entries: list[StackEntry]) -> list[Lookup]:
    """Runs on the database thread: the library read once for the whole batch (`LibraryIndex`),
    then one lookup per distinct reference, shared by every entry that names it."""
    with paused_gc():
        return _lookup_all(entries)


def _lookup_all(entries: list[StackEntry]) -> list[Lookup]:
    distinct: dict[tuple[Any, ...], StackEntry] = {}
    keys = []
    for entry in entries:
        key = lookup_key(entry)
        keys.append(key)
        distinct.setdefault(key, entry)
    index = LibraryIndex(distinct.values())
    memo = {key: _lookup_blocking(entry, index) for key, entry in distinct.items()}
    return [memo[key] for key in keys]


def _lookup_blocking(entry: StackEntry, index: LibraryIndex) -> Lookup:
    """Runs on the database thread."""
    found = Lookup()
    seen: set[str] = set()

    def add(files: list[LibraryFile], how: str) -> None:
        for item in files:
            if item.path not in seen:
                seen.add(item.path)
                found.candidates.append((item, how))

    def by_path(path: str | None) -> list[LibraryFile]:
        known = index.get_by_path(path) if path else None
        return [known] if known else []

    ref = entry.path or ""
    if ref and is_unsafe_reference(ref):
        found.unsafe = True
        ref = ""
    if ref:
        if is_absolute(ref):
            add(by_path(ref), "path")
            if not found.candidates:
                adapter = index.adapter_for_file(ref)
                if adapter and adapter.file_path:
                    add(by_path(adapter.file_path), "path")
        add(index.find_by_rel_path(normalize_reference(ref)), "path")
        if not found.candidates and is_absolute(ref):
            # A path from another machine: its tail may be the library's relative path.
            for tail in reference_tails(ref):
                add(index.find_by_rel_path(tail), "path")
                if found.candidates:
                    break
    if not found.candidates and entry.name and "/" in normalize_reference(entry.name):
        add(index.find_by_rel_path(normalize_reference(entry.name)), "path")  # WanVideo "wan/foo"
    sha = entry.hashes.get("sha256")
    if sha:
        adapter = index.adapter_for_sha(sha)
        if adapter is not None:
            found.adapter, found.adapter_match = adapter, "sha256"
            if adapter.file_path and not found.candidates:
                add(by_path(adapter.file_path), "sha256")
        if not found.candidates:
            add([f for p in hash_cache.paths_for_sha256(sha) for f in by_path(p)], "sha256")
    if not found.candidates:
        _add_short_hash_matches(entry.hashes, found, add)
    stem = entry.stem
    if stem and not found.candidates:
        add(index.find_by_stem(stem), "name")
    if not found.candidates and found.adapter is None and (entry.name or stem):
        adapter = index.adapter_by_name(entry.name or stem) or (index.adapter_by_name(stem) if stem else None)
        if adapter is not None:
            found.adapter, found.adapter_match = adapter, "name"
            if adapter.file_path:
                add(by_path(adapter.file_path), "name")
    return found


MIN_HINT_LENGTH = 8  # hex digits: a shorter AutoV2/AutoV3 prefix would match too much


def _current_files(paths: list[str]) -> list[LibraryFile]:
    """Library files at `paths` whose hash cache entry was made for the size and mtime the library
    records: a cached hash of an older version of a file is not a match."""
    cached = hash_cache.get_many(paths)
    files = []
    for path in paths:
        file, entry = library_files.get_by_path(path), cached.get(path)
        if file and entry and (entry.size_bytes, entry.mtime_ns) == (file.size_bytes, file.mtime_ns):
            files.append(file)
    return files


def _add_short_hash_matches(hashes: dict[str, str], found: Lookup,
                            add: Callable[[list[LibraryFile], str], None]) -> None:
    """By AutoV3 (hash cache, computed values only) then AutoV2 (hash cache and adapters), so a
    renamed file still resolves. A file whose AutoV3 was never computed cannot match here: the
    library is not hashed because of a drop; the name step then confirms candidates by AutoV3."""
    autov3, autov2 = hashes.get("autov3") or "", hashes.get("autov2") or ""
    if len(autov3) >= MIN_HINT_LENGTH:
        add(_current_files(hash_cache.paths_for_autov3(autov3)), "autov3")
    if not found.candidates and len(autov2) >= MIN_HINT_LENGTH:
        add(_current_files(hash_cache.paths_for_sha256_prefix(autov2)), "autov2")
        for adapter in adapters.find_by_sha256_prefix(autov2):
            if found.adapter is None:
                found.adapter, found.adapter_match = adapter, "autov2"
            if adapter.file_path:
                add([f for f in [library_files.get_by_path(adapter.file_path)] if f], "autov2")


def library_data_blocking(resolved: list[ResolvedEntry], lookups: list[Lookup]) -> list[tuple[AdapterRecord | None, Any]]:
    """The adapter and stored CivitAI answer of each entry, asked once per distinct file and hash
    (the adapters of the files in batched queries). Runs on the database thread."""
    with paused_gc():
        return _library_data(resolved, lookups)


def _library_data(resolved: list[ResolvedEntry], lookups: list[Lookup]) -> list[tuple[AdapterRecord | None, Any]]:
    files = sorted({item.file_path for item in resolved if item.exists and item.file_path})
    by_file: dict[str, AdapterRecord | None] = dict.fromkeys(files)
    linked: dict[str, int] = {}
    for chunk in chunks(files):
        for row in Adapter.select().where(Adapter.file_path.in_(chunk)):
            by_file[row.file_path] = adapters.to_record(row)
        for row in LibraryFileRow.select(LibraryFileRow.path, LibraryFileRow.adapter).where(
                LibraryFileRow.path.in_(chunk), LibraryFileRow.adapter.is_null(False)):
            linked[row.path] = row.adapter_id
    copies = {adapter_id for path, adapter_id in linked.items() if by_file.get(path) is None}
    by_id: dict[int, AdapterRecord] = {}
    for chunk in chunks(sorted(copies)):
        for row in Adapter.select().where(Adapter.id.in_(chunk)):
            by_id[row.id] = adapters.to_record(row)
    for path, adapter_id in linked.items():
        if by_file.get(path) is None:
            by_file[path] = by_id.get(adapter_id)
    shas = sorted({item.sha256.upper() for item in resolved if item.sha256})
    by_sha: dict[str, AdapterRecord | None] = {}
    for chunk in chunks(shas):
        for row in Adapter.select().where(Adapter.primary_file_sha256.in_(chunk)).order_by(Adapter.id.desc()):
            by_sha[row.primary_file_sha256] = adapters.to_record(row)  # the lowest id wins, as find_by_sha256
    found = {sha for sha, state in civitai_store.states_for(shas).items() if state.status == civitai_store.FOUND}
    infos: dict[str, Any] = {}
    out: list[tuple[AdapterRecord | None, Any]] = []
    for item, lookup in zip(resolved, lookups):
        adapter = by_file.get(item.file_path) if item.exists and item.file_path else None
        sha = item.sha256.upper() if item.sha256 else None
        if adapter is None and sha:
            adapter = by_sha.get(sha)
        adapter = adapter or lookup.adapter
        info = None
        if sha in found:
            if sha not in infos:
                infos[sha] = civitai_store.info_for_sha256(sha)
            info = infos[sha]
        out.append((adapter, info))
    return out
