"""The LoRAInfoExtractor pipeline, run on the runtime loop (runtime.py).

1. read: the socket's value made plain and walked (inputs.py); every LoRA of the chain, deduplicated
   on (path, name); an empty stack gives the fallback name and an `error`;
2. resolve: inside ComfyUI each name becomes the file `folder_paths` finds; then the library's
   StackResolver (the code `inspect` runs) matches it, stats it (a missing file stays, with
   `exists: false`) and hashes it through the persistent hash cache (a hash failure skips the hash);
3. CivitAI: files with a hash but no stored answer are identified through services/identify.py
   (answers stored per hash, 429s deferred); the node waits at most `budget_s`, then returns with
   local data while the lookup finishes in the background for the next run;
4. the lora_json document and lora_info text (core/lora_json.py), as `inspect --json` builds them.

`fingerprint` is what IS_CHANGED returns: the files' size and mtime and their CivitAI state, so
ComfyUI re-runs the node when a file or its CivitAI data changed.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_manager_gui.comfyui.inputs import comfy_entry, comfy_folder_paths, read_lora_input
from lora_manager_gui.comfyui.resolve import resolve_comfy_entries
from lora_manager_gui.comfyui.runtime import RATE_LIMIT_COOLDOWN_S, LookupTask, NodeRuntime, library_path, node_settings
from lora_manager_gui.core.lora_json import ResolvedEntry, build_document, lora_info_text
from lora_manager_gui.core.stacks import StackEntry, StackReadError
from lora_manager_gui.db import civitai_store, hash_cache
from lora_manager_gui.services.identify import DEFAULT_RECHECK_NOT_FOUND_DAYS, IdentifyReport, ItemStatus, identify
from lora_manager_gui.services.inspector import StackResolver
from lora_manager_gui.services.library import Library

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 3.0


@dataclass(frozen=True)
class ExtractRequest:
    """One node run's inputs, as plain values."""

    lora: Any
    library: str | None = None  # the database file; None or "": LORA_MANAGER_DB, else the app's default
    api_key: str | None = field(default=None, repr=False)
    fallback_name: str | None = None
    budget_s: float = DEFAULT_BUDGET_S
    online: bool = True
    node_id: str | None = None

    @property
    def db_path(self) -> Path:
        return library_path(self.library)


@dataclass
class Extraction:
    document: dict[str, Any]
    lora_info: str
    db_path: Path
    warnings: list[str] = field(default_factory=list)
    lookup_pending: bool = False  # a CivitAI lookup outlived the budget and goes on in the background
    files_hashed: int = 0  # files read to hash them in this run (0 when the cache knew them all)


def _error_document(request: ExtractRequest, error: str) -> Extraction:
    document = build_document([], fallback_name=request.fallback_name, error=error)
    return Extraction(document, lora_info_text(document), request.db_path, [error])


async def extract(runtime: NodeRuntime, request: ExtractRequest) -> Extraction:
    """Run on the runtime loop (runtime.submit). Never raises for bad input or CivitAI trouble."""
    try:
        read = read_lora_input(request.lora)
    except StackReadError as exc:
        log.warning("LoRAInfoExtractor: %s", exc)
        return _error_document(request, f"{exc.reason} [{exc.kind}]")
    db_path = request.db_path
    try:
        library = await runtime.library(db_path, node_settings(request.api_key))
    except Exception as exc:  # noqa: BLE001 - not there, not a library, too new: the node says so
        log.warning("LoRAInfoExtractor: cannot open the library: %s", exc)
        return _error_document(request, f"the LoRA Manager library cannot be opened: {exc}")
    folder_paths = comfy_folder_paths()
    originals = read.entries
    work = [comfy_entry(e, folder_paths) for e in originals] if folder_paths is not None else originals
    pending = False
    async with library.use_hasher() as hasher:
        before = hasher.files_hashed
        resolved, warnings = await _resolve(library, hasher, work, in_comfy=folder_paths is not None)
        wanted = await _needing_lookup(library, resolved) if request.online else []
        if wanted:
            finished, notes = await _lookup_within_budget(runtime, library, wanted, request.budget_s)
            pending = not finished
            if finished:  # warm now: the stored answers attach
                resolved, warnings = await _resolve(library, hasher, work, in_comfy=folder_paths is not None)
            warnings.extend(notes)
        files_hashed = hasher.files_hashed - before
    for item, original in zip(resolved, originals):
        item.entry = original  # the document's `original` block says what the socket carried
    if request.node_id is not None:
        runtime.last_files[request.node_id] = (db_path, _paths_of(resolved))
    document = build_document(resolved, fallback_name=request.fallback_name)
    for warning in read.warnings + warnings:
        log.info("LoRAInfoExtractor: %s", warning)
    return Extraction(document, lora_info_text(document), db_path, read.warnings + warnings, pending, files_hashed)


async def _resolve(library: Library, hasher: Any, work: list[StackEntry], *, in_comfy: bool
                   ) -> tuple[list[ResolvedEntry], list[str]]:
    """Inside ComfyUI: the files it resolved in batched reads (resolve.py), the rest through the
    library. Outside: exactly what `inspect` does (StackResolver, paths from the library only)."""
    if in_comfy:
        return await resolve_comfy_entries(library, hasher, work)
    return await StackResolver(library.db, hasher).resolve(work)


def _paths_of(resolved: list[ResolvedEntry]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(os.path.abspath(i.file_path) for i in resolved if i.file_path and os.path.isabs(i.file_path)))


async def _needing_lookup(library: Library, resolved: list[ResolvedEntry]) -> list[str]:
    """Files with a hash and no CivitAI data whose hash CivitAI has not answered (or should be asked again)."""
    candidates = {item.sha256: item.file_path for item in resolved
                  if item.exists and item.sha256 and item.file_path and item.civitai is None}
    if not candidates:
        return []
    states = await library.db.call(civitai_store.states_for, list(candidates))
    return [path for sha, path in candidates.items() if path and civitai_store.needs_lookup(
        states.get(sha.upper()) or states.get(sha), recheck_not_found_days=DEFAULT_RECHECK_NOT_FOUND_DAYS)]


async def _lookup_within_budget(runtime: NodeRuntime, library: Library, paths: list[str],
                                budget_s: float) -> tuple[bool, list[str]]:
    """Start (or join) the lookups of `paths` and wait at most `budget_s`. (finished, notes)."""
    db_path = library.db_path.resolve()
    running = runtime.running_lookups(db_path)
    wanted = set(paths)
    tasks = [t.task for t in running if t.paths & wanted]
    covered = set().union(*(t.paths for t in running)) if running else set()
    missing = [p for p in paths if p not in covered]
    notes: list[str] = []
    if missing and runtime.cooling_down(db_path):
        notes.append("CivitAI was rate limiting or unreachable a moment ago; the lookup is retried later "
                     "(CivitAI data is from the library only)")
    elif missing:
        task = asyncio.get_running_loop().create_task(_identify(runtime, library, db_path, missing))
        runtime.lookups.setdefault(db_path, []).append(LookupTask(frozenset(missing), task))
        tasks.append(task)
    if not tasks:
        return not missing, notes
    done, _ = await asyncio.wait(tasks, timeout=max(0.0, budget_s))
    if len(done) < len(tasks):
        notes.append(f"the CivitAI lookup takes longer than {budget_s:g} s; it goes on in the background and "
                     "the next run has its answers (local data used now)")
        return False, notes
    for task in done:
        report = task.result()
        if report is not None:
            notes.extend(_report_notes(report))
    return True, notes


async def _identify(runtime: NodeRuntime, library: Library, db_path: Path, paths: list[str]) -> IdentifyReport | None:
    """One background lookup: every answer stored as it comes; errors logged, never raised."""
    try:
        async with library.use_civitai() as client, library.use_hasher() as hasher:
            report = await identify(library.db, client, hasher, paths)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the node keeps its local data
        log.warning("LoRAInfoExtractor: CivitAI lookup failed: %s", exc)
        runtime.cooldown_until[db_path] = time.monotonic() + RATE_LIMIT_COOLDOWN_S
        return None
    if report.deferred or report.failed:
        runtime.cooldown_until[db_path] = time.monotonic() + RATE_LIMIT_COOLDOWN_S
    for note in _report_notes(report):
        log.warning("LoRAInfoExtractor: %s", note)
    return report


def _report_notes(report: IdentifyReport) -> list[str]:
    return [f"CivitAI lookup of {os.path.basename(item.path)} {item.status}: {item.error or item.error_class or item.status}"
            for item in report.items if item.status in (ItemStatus.FAILED, ItemStatus.DEFERRED)]


# -- IS_CHANGED ---------------------------------------------------------------------------------


def _stat_key(path: str) -> tuple[str, int, int] | tuple[str, None, None]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, None, None)
    return (path, st.st_size, st.st_mtime_ns)


def _fingerprint_blocking(paths: list[str]) -> list[Any]:
    """On the database thread: each file's stat, its valid cached hash, that hash's CivitAI state."""
    stats = [_stat_key(p) for p in paths]
    cached = hash_cache.get_many(paths)
    shas = {}
    for path, size, mtime in stats:
        entry = cached.get(path)
        if entry is not None and (entry.size_bytes, entry.mtime_ns) == (size, mtime):
            shas[path] = entry.sha256.upper()
    states = civitai_store.states_for(list(shas.values())) if shas else {}
    out: list[Any] = []
    for path, size, mtime in stats:
        state = states.get(shas.get(path, ""))
        out.append((path, size, mtime, shas.get(path),
                    (str(state.status), state.checked_at.isoformat(), state.version_id) if state else None))
    return out


def _input_paths(lora: Any) -> list[str]:
    """The files a socket value names, as ComfyUI resolves them (absolute paths only)."""
    if lora is None:
        return []
    try:
        entries: list[StackEntry] = read_lora_input(lora).entries
    except StackReadError:
        return []
    folder_paths = comfy_folder_paths()
    if folder_paths is not None:
        entries = [comfy_entry(e, folder_paths) for e in entries]
    return [os.path.abspath(e.path) for e in entries if e.path and os.path.isabs(e.path)]


async def fingerprint(runtime: NodeRuntime, request: ExtractRequest) -> str:
    """Changes when a LoRA file (size, mtime) or its CivitAI answer changes, or a lookup finishes.
    ComfyUI hands IS_CHANGED a linked input as None: the files of the node's last run count then."""
    db_path = request.db_path
    paths = _input_paths(request.lora)
    if request.node_id is not None and request.node_id in runtime.last_files:
        last_db, last_paths = runtime.last_files[request.node_id]
        if last_db == db_path:
            paths.extend(last_paths)
    paths = list(dict.fromkeys(paths))
    library = await runtime.library(db_path, node_settings(request.api_key))
    rows = await library.db.call(_fingerprint_blocking, paths)
    pending = bool(runtime.running_lookups(db_path.resolve()))
    text = repr((str(db_path), request.fallback_name, rows, pending))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
