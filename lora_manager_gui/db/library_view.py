"""What the library knows about many files at once, in a few batched statements.

For each absolute path (with the size and mtime_ns the caller just stat'ed): its SHA-256 from the
hash cache when the entry is still valid, the adapter linked to that path (or with that SHA-256 as
its primary file), and the stored CivitAI answer. The same answers the one-file functions give
(`hash_cache.get`, `adapters.find_by_file_path`/`find_by_sha256`, `civitai_store.info_for_sha256`),
without a round of statements per file: a 50-LoRA ComfyUI stack is read in about ten. Read-only;
run on the database thread.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lora_manager_gui.core.civitai import CivitaiInfo, build_info
from lora_manager_gui.core.records import AdapterRecord
from lora_manager_gui.db import civitai_store, hash_cache
from lora_manager_gui.db.adapters import to_record
from lora_manager_gui.db.models import Adapter, CivitaiModelRecord
from lora_manager_gui.db.models import CivitaiVersion as CivitaiVersionRecord
from lora_manager_gui.db.models import LibraryFile as LibraryFileRow

CHUNK = 400
T = TypeVar("T")


@dataclass(frozen=True)
class FileView:
    path: str
    sha256: str | None  # upper case; None when the cache has no valid entry (hash it)
    adapter: AdapterRecord | None
    civitai: CivitaiInfo | None
    lookup: civitai_store.LookupState | None  # what CivitAI answered for this hash, if asked


def _chunks(values: Sequence[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _adapters_by_path(paths: list[str]) -> dict[str, AdapterRecord]:
    found: dict[str, AdapterRecord] = {}
    for chunk in _chunks(paths):
        for row in Adapter.select().where(Adapter.file_path.in_(chunk)):
            found.setdefault(row.file_path, to_record(row))
    linked: dict[str, int] = {}
    for chunk in _chunks([p for p in paths if p not in found]):  # copies linked through library_file
        query = LibraryFileRow.select(LibraryFileRow.path, LibraryFileRow.adapter_id).where(
            LibraryFileRow.path.in_(chunk) & LibraryFileRow.adapter_id.is_null(False))
        linked.update((row.path, row.adapter_id) for row in query)
    if linked:
        ids = sorted(set(linked.values()))
        rows = {row.id: row for chunk in _chunks(ids) for row in Adapter.select().where(Adapter.id.in_(chunk))}
        for path, adapter_id in linked.items():
            if adapter_id in rows:
                found[path] = to_record(rows[adapter_id])
    return found


def _adapters_by_sha(shas: list[str]) -> dict[str, AdapterRecord]:
    found: dict[str, AdapterRecord] = {}
    for chunk in _chunks(shas):
        for row in Adapter.select().where(Adapter.primary_file_sha256.in_(chunk)).order_by(Adapter.id):
            found.setdefault(row.primary_file_sha256, to_record(row))
    return found


def _infos(states: Mapping[str, civitai_store.LookupState]) -> dict[str, CivitaiInfo]:
    found = {sha: s for sha, s in states.items() if s.status == civitai_store.FOUND and s.version_id is not None}
    versions: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted({s.version_id for s in found.values() if s.version_id is not None})):
        versions.update((r.version_id, r.data) for r in
                        CivitaiVersionRecord.select().where(CivitaiVersionRecord.version_id.in_(chunk)))
    model_of = {sha: s.model_id or (versions.get(s.version_id or -1) or {}).get("modelId") for sha, s in found.items()}
    models: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted({int(m) for m in model_of.values() if m})):
        models.update((r.model_id, r.data) for r in
                      CivitaiModelRecord.select().where(CivitaiModelRecord.model_id.in_(chunk)))
    infos: dict[str, CivitaiInfo] = {}
    for sha, state in found.items():
        version = versions.get(state.version_id or -1)
        if version is None:
            continue
        model_id = model_of.get(sha)
        infos[sha] = build_info(version, models.get(int(model_id)) if model_id else None, state.fetched_at,
                                sha256=sha, matched_by=state.matched_by)
    return infos


def files_view(stats: Mapping[str, tuple[int, int]], extra_shas: Mapping[str, str] | None = None) -> dict[str, FileView]:
    """One FileView per path of `stats` ({path: (size_bytes, mtime_ns)}). `extra_shas` gives the
    SHA-256 of files just hashed (their cache rows are new, or were not written)."""
    paths = list(stats)
    cached = hash_cache.get_many(paths)
    sha_of: dict[str, str] = {}
    for path in paths:
        entry = cached.get(path)
        if entry is not None and (entry.size_bytes, entry.mtime_ns) == stats[path]:
            sha_of[path] = entry.sha256.upper()
    for path, sha in (extra_shas or {}).items():
        if path in stats and sha:
            sha_of[path] = sha.upper()
    shas = sorted(set(sha_of.values()))
    states = civitai_store.states_for(shas) if shas else {}
    infos = _infos(states)
    by_path = _adapters_by_path(paths)
    by_sha = _adapters_by_sha([sha_of[p] for p in paths if p not in by_path and p in sha_of])
    out: dict[str, FileView] = {}
    for path in paths:
        sha = sha_of.get(path)
        adapter = by_path.get(path) or (by_sha.get(sha) if sha else None)
        out[path] = FileView(path, sha, adapter, infos.get(sha) if sha else None, states.get(sha) if sha else None)
    return out
