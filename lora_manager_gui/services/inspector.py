"""Stack inspection: read a stack, resolve each entry against the library, build lora_json.

Resolution order per entry: by path (a library file whose path relative to its root ends with the
entry's reference, or a known library file at that absolute path), then by hash (SHA-256 hints
through the adapters and the hash cache; AutoV2/AutoV3 hints confirm or choose among candidates),
then by name (file stem, then adapter name). Paths from metadata are never opened directly: only
files the library already knows are looked at, so `..` or an absolute path in a workflow cannot
reach outside the library roots. Database work runs on the DatabaseExecutor, hashing on the
HashService, file reads and stats on worker threads.
"""
from __future__ import annotations

import asyncio
import logging
import os
import stat as stat_module
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from lora_manager_gui.core.lora_json import (
    CivitaiData,
    ResolvedEntry,
    StackSummary,
    build_document,
    lora_info_for,
    summarize,
)
from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.core.stacks import StackEntry, StackReadResult, read_stack_bytes, read_stack_file
from lora_manager_gui.core.stacks.gcpause import paused_gc
from lora_manager_gui.core.stacks.model import SkippedEntry
from lora_manager_gui.db import civitai_store, hash_cache
from lora_manager_gui.services.identify import identify
from lora_manager_gui.services.stack_lookup import Lookup, is_absolute, library_data_blocking, lookup_all_blocking

log = logging.getLogger(__name__)


@dataclass
class Inspection:
    """A stack read and resolved: the typed entries (what views show), the LoRAs that do not run,
    and, built on first request (export, the CLI), the lora_json document and its lora_info text."""

    source: str
    format: str
    entries: list[ResolvedEntry]
    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)  # LoRAs of nodes that do not run
    fallback_name: str | None = None

    @cached_property
    def document(self) -> dict[str, Any]:
        with paused_gc():
            return build_document(self.entries, fallback_name=self.fallback_name)

    @cached_property
    def lora_info(self) -> str:
        with paused_gc():
            return lora_info_for(self.entries, self.fallback_name)

    @property
    def summary(self) -> StackSummary:
        return summarize(self.entries)

    def __repr__(self) -> str:  # short: asyncio reprs a task's result, and a stack may be huge
        return f"Inspection({self.source!r}, {self.format}, {len(self.entries)} entries)"


def _once_per_reference(warnings: list[str]) -> list[str]:
    """One "N library files match" note per reference, not per entry (a big stack repeats them)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for text in warnings:
        head, sep, rest = text.partition("): ")
        key = head.split(" (", 1)[-1] + sep + rest if head.startswith("entry ") and "library files match" in rest else None
        if key is None:
            out.append(text)
        elif key not in seen:
            seen[key] = len(out)
            out.append(text)
    return out


def _present_first(lookup: Lookup) -> list[tuple[LibraryFile, str]]:
    """A lookup's candidates to choose from: the present files, else all of them."""
    return [c for c in lookup.candidates if not c[0].missing] or lookup.candidates


def _first_candidate(entry: StackEntry, candidates: list[tuple[LibraryFile, str]],
                     warnings: list[str]) -> tuple[LibraryFile, str] | None:
    """The candidate an entry without hash hints resolves to: present files first, else the first."""
    if not candidates:
        return None
    if len(candidates) > 1:
        warnings.append(f"entry {entry.index + 1} ({entry.reference}): {len(candidates)} library files "
                        f"match; using {candidates[0][0].path}")
    return candidates[0]


def _stat_all(paths: list[str]) -> dict[str, tuple[int, datetime, int]]:
    """Size, mtime and mtime_ns of each path that is a file now (one worker-thread call for a stack)."""
    out: dict[str, tuple[int, datetime, int]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat_module.S_ISREG(st.st_mode):
            out[path] = (st.st_size, datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc), st.st_mtime_ns)
    return out


def _path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


class StackResolver:
    """Resolves stack entries against one library (database + hash service)."""

    def __init__(self, db: Any, hasher: Any, *, online: bool = False, civitai: Any = None,
                 trust_paths: bool = False) -> None:
        """`trust_paths`: entries come from the library itself (export), so an absolute path the
        library does not list as a file may still be looked at. Never for stacks from files."""
        self.db = db
        self.trust_paths = trust_paths
        self.hasher = hasher
        self.online = online
        self.civitai = civitai

    async def resolve(self, entries: list[StackEntry]) -> tuple[list[ResolvedEntry], list[str]]:
        """Every entry resolved: one batched database read for all of them, one worker-thread call
        to stat every chosen file, then hashing and library data for the distinct files. The
        collector is held off throughout (it would rescan the stack's objects for each batch made),
        unless CivitAI is asked: that waits on the network for an unbounded time."""
        with nullcontext() if self.online else paused_gc():
            return await self._resolve(entries)

    async def _resolve(self, entries: list[StackEntry]) -> tuple[list[ResolvedEntry], list[str]]:
        warnings: list[str] = []
        lookups = await self.db.call(lookup_all_blocking, entries)
        chosen_files: list[tuple[LibraryFile, str] | None] = []
        present: dict[int, list[tuple[LibraryFile, str]]] = {}  # by lookup: entries share lookups
        for entry, lookup in zip(entries, lookups):
            if lookup.unsafe:
                warnings.append(f"entry {entry.index + 1} ({entry.reference}): the path leaves the library "
                                "folder ('..'); matched by name only")
            hashes = entry.hashes
            if hashes and (hashes.get("autov3") or hashes.get("autov2")) and self.hasher is not None:
                chosen_files.append(await self._choose(entry, lookup, warnings))
                continue
            candidates = present.get(id(lookup))
            if candidates is None:
                candidates = present[id(lookup)] = _present_first(lookup)
            chosen_files.append(_first_candidate(entry, candidates, warnings))
        warnings = _once_per_reference(warnings)
        wanted = {file.path for chosen in chosen_files if chosen for file in [chosen[0]]}
        if self.trust_paths:
            wanted.update(e.path for e, c in zip(entries, chosen_files) if c is None and e.path and is_absolute(e.path))
        stats = await asyncio.to_thread(_stat_all, sorted(wanted)) if wanted else {}
        resolved = self._resolved(entries, lookups, chosen_files, stats)
        await self._hash(resolved, warnings, stats)
        await self._attach_library_data(resolved, lookups, warnings)
        return resolved, warnings

    def _resolved(self, entries: list[StackEntry], lookups: list[Lookup],
                  chosen_files: list[tuple[LibraryFile, str] | None],
                  stats: dict[str, tuple[int, datetime, int]]) -> list[ResolvedEntry]:
        resolved: list[ResolvedEntry] = []
        for entry, lookup, chosen in zip(entries, lookups, chosen_files):
            item = ResolvedEntry(entry=entry, file_path=entry.reference or None)
            if chosen is not None:
                file, how = chosen
                item.file_path, item.match = file.path, how
                stat = stats.get(file.path)
                if stat is not None:
                    item.exists = True
                    item.size_bytes, item.modified_at = stat[0], stat[1]
            elif lookup.adapter is not None:
                item.match = lookup.adapter_match
                item.file_path = lookup.adapter.file_path or item.file_path
            if chosen is None and self.trust_paths and entry.path and is_absolute(entry.path):
                stat = stats.get(entry.path)
                if stat is not None:
                    item.file_path, item.exists, item.match = entry.path, True, "path"
                    item.size_bytes, item.modified_at = stat[0], stat[1]
            resolved.append(item)
        return resolved

    async def _choose(self, entry: StackEntry, lookup: Lookup, warnings: list[str]) -> tuple[LibraryFile, str] | None:
        candidates = [c for c in lookup.candidates if not c[0].missing] or lookup.candidates
        if not candidates:
            return None
        hint_v3 = entry.hashes.get("autov3")
        hint_v2 = entry.hashes.get("autov2")
        if (hint_v3 or hint_v2) and self.hasher is not None:
            for file, how in candidates:
                if hint_v3:
                    try:
                        value = await self.hasher.autov3(file.path)
                    except Exception as exc:  # an unreadable candidate is simply not confirmed
                        log.info("AutoV3 of %s failed: %s", file.path, exc)
                        value = None
                    if value and value.lower().startswith(hint_v3.lower()):
                        return file, "autov3"
                if hint_v2:
                    result = await self.hasher.hash_one(file.path)
                    if result.sha256 and result.sha256.lower().startswith(hint_v2.lower()):
                        return file, "autov2"
        if len(candidates) > 1:
            warnings.append(f"entry {entry.index + 1} ({entry.reference}): {len(candidates)} library files "
                            f"match; using {candidates[0][0].path}")
        return candidates[0]

    async def _hash(self, resolved: list[ResolvedEntry], warnings: list[str],
                    stats: dict[str, tuple[int, datetime, int]]) -> None:
        """SHA-256 of each distinct present file: from the hash cache in one batched read where it
        was made for the file's current size and mtime, the rest through the HashService."""
        paths = sorted({item.file_path for item in resolved if item.exists and item.file_path})
        if not paths or self.hasher is None:
            return
        cached = await self.db.call(hash_cache.get_many, paths)
        keys = {path: _path_key(path) for path in paths}  # once per distinct file, not per entry
        known: dict[str, str] = {}
        for path in paths:
            entry, stat = cached.get(path), stats.get(path)
            if entry is not None and stat is not None and entry.sha256 and (entry.size_bytes, entry.mtime_ns) == (stat[0], stat[2]):
                known[keys[path]] = entry.sha256.upper()
        rest = [p for p in paths if keys[p] not in known]
        results = await self.hasher.hash_paths(rest) if rest else []
        by_path = {_path_key(r.path): r for r in results}
        for item in resolved:
            if not item.exists or not item.file_path:
                continue
            key = keys.get(item.file_path) or _path_key(item.file_path)
            if key in known:
                item.sha256 = known[key]
                continue
            result = by_path.get(key)
            if result is None:
                continue
            if result.sha256:
                item.sha256 = result.sha256.upper()
            else:
                item.problem = result.error or "could not be hashed"
                warnings.append(item.problem)

    async def _attach_library_data(self, resolved: list[ResolvedEntry], lookups: list[Lookup],
                                   warnings: list[str]) -> None:
        found = await self.db.call(library_data_blocking, resolved, lookups)
        if self.online and self.civitai is not None:
            wanted = [i for i, (item, (adapter, info)) in enumerate(zip(resolved, found))
                      if info is None and item.sha256 and item.exists and item.file_path
                      and (adapter is None or civitai_from_adapter(adapter) is None)]
            if wanted:
                await self._identify_online([resolved[i] for i in wanted], warnings)
                infos = await self.db.call(
                    lambda: [civitai_store.info_for_sha256(resolved[i].sha256 or "") for i in wanted])
                for i, info in zip(wanted, infos):
                    found[i] = (found[i][0], info)
        for item, (adapter, info) in zip(resolved, found):
            if info is not None:
                item.civitai = CivitaiData.from_info(info, "civitai")
            if adapter is not None:
                item.adapter_id, item.library_name = adapter.id, adapter.name or None
                if item.civitai is None:
                    item.civitai = civitai_from_adapter(adapter)

    async def _identify_online(self, items: list[ResolvedEntry], warnings: list[str]) -> None:
        """Ask CivitAI about files the library has no answer for, through identify(): it stores every
        answer with its time, respects the rate limits and defers the rest on a 429 storm."""
        paths = list(dict.fromkeys(item.file_path for item in items if item.file_path))
        try:
            report = await identify(self.db, self.civitai, self.hasher, paths)
        except Exception as exc:  # the document stays local-only; the inspection still succeeds
            log.warning("CivitAI identification failed: %s", exc)
            warnings.append(f"CivitAI could not be asked ({exc}); CivitAI data is from the library only")
            return
        for outcome in report.items:
            if outcome.status in ("failed", "deferred"):
                reason = outcome.error or outcome.error_class or outcome.status
                warnings.append(f"CivitAI lookup of {os.path.basename(outcome.path)} {outcome.status}: {reason}")


def civitai_from_adapter(adapter: AdapterRecord) -> CivitaiData | None:
    """CivitAI data imported from a sidecar (a .civitai.info or a CivitAI model JSON)."""
    if adapter.civitai_model_id is None and adapter.civitai_version_id is None:
        return None
    fetched = adapter.last_ingested_at or adapter.updated_at or adapter.created_at
    if fetched is None:
        return None
    return CivitaiData(
        model_name=adapter.name, version_name=adapter.version or adapter.canonical_version_name,
        creator=adapter.author_username, tags=list(adapter.tags or []), stats=dict(adapter.stats or {}),
        fetched_at=fetched, model_id=adapter.civitai_model_id, version_id=adapter.civitai_version_id,
        base_model=adapter.base_model, trained_words=list(adapter.trained_words or []),
        nsfw_level=adapter.nsfw_level, source="sidecar")


async def inspect_result(db: Any, hasher: Any, read: StackReadResult, *, online: bool = False,
                         civitai: Any = None, fallback_name: str | None = None) -> Inspection:
    resolver = StackResolver(db, hasher, online=online, civitai=civitai)
    resolved, warnings = await resolver.resolve(read.entries)
    return Inspection(source=read.source, format=read.format, entries=resolved,
                      warnings=read.warnings + warnings, skipped=list(read.skipped), fallback_name=fallback_name)


async def inspect_file(db: Any, hasher: Any, path: str | os.PathLike[str], *, online: bool = False,
                       civitai: Any = None, fallback_name: str | None = None) -> Inspection:
    """Read the stack file at `path` (raises StackReadError) and resolve it against the library."""
    read = await asyncio.to_thread(read_stack_file, path)
    return await inspect_result(db, hasher, read, online=online, civitai=civitai, fallback_name=fallback_name)


async def inspect_bytes(db: Any, hasher: Any, data: bytes, filename: str, *, online: bool = False,
                        civitai: Any = None, fallback_name: str | None = None) -> Inspection:
    """The same for dropped or pasted data."""
    read = await asyncio.to_thread(read_stack_bytes, data, filename)
    return await inspect_result(db, hasher, read, online=online, civitai=civitai, fallback_name=fallback_name)
