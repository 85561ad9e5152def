"""Entries whose file ComfyUI resolved, matched against the library in a few batched statements.

Inside ComfyUI most entries name a file `folder_paths` found (an absolute path on disk). For those
the answer is the file itself: one stat each (one worker-thread hop for all), then one database
call (db/library_view.py) for the cached hashes, the linked adapters and the stored CivitAI
answers; only files the cache does not know are hashed (HashService, which stores them). The
result is what StackResolver builds for a trusted path (match "path", the adapter by path then by
hash, CivitAI data from the store, else from the adapter's sidecar). Every other entry (a missing
file, a name only the library knows) goes through StackResolver itself.
"""
from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from typing import Any

from lora_manager_gui.core.lora_json import CivitaiData, ResolvedEntry
from lora_manager_gui.core.stacks import StackEntry
from lora_manager_gui.db.library_view import FileView, files_view
from lora_manager_gui.services.inspector import StackResolver, civitai_from_adapter
from lora_manager_gui.services.library import Library


def _stat_many(paths: list[str]) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out[path] = None
            continue
        out[path] = (st.st_size, st.st_mtime_ns) if os.path.isfile(path) else None
    return out


def _item(entry: StackEntry, path: str, stat: tuple[int, int], view: FileView, problem: str | None) -> ResolvedEntry:
    size, mtime_ns = stat
    item = ResolvedEntry(entry=entry, file_path=path, exists=True, size_bytes=size,
                         modified_at=datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc), match="path")
    if view.sha256:
        item.sha256 = view.sha256.upper()
    elif problem:
        item.problem = problem
    if view.civitai is not None:
        item.civitai = CivitaiData.from_info(view.civitai, "civitai")
    if view.adapter is not None:
        item.adapter_id, item.library_name = view.adapter.id, view.adapter.name or None
        if item.civitai is None:
            item.civitai = civitai_from_adapter(view.adapter)
    return item


async def resolve_comfy_entries(library: Library, hasher: Any, work: list[StackEntry]
                                ) -> tuple[list[ResolvedEntry], list[str]]:
    """Resolve `work` (entries whose path ComfyUI made absolute where it could), in order."""
    direct = list(dict.fromkeys(e.path for e in work if e.path and os.path.isabs(e.path)))
    stats = await asyncio.to_thread(_stat_many, direct) if direct else {}
    present = {path: stat for path, stat in stats.items() if stat is not None}
    views = await library.db.call(files_view, present) if present else {}
    warnings: list[str] = []
    problems: dict[str, str] = {}
    misses = [path for path, view in views.items() if view.sha256 is None]
    if misses:
        report = await hasher.hash_paths(misses)
        hashed = {}
        for path, result in zip(misses, report):
            if result.sha256:
                hashed[path] = result.sha256
            else:
                problems[path] = result.error or "could not be hashed"
                warnings.append(problems[path])
        if hashed:
            views.update(await library.db.call(files_view, {p: present[p] for p in hashed}, hashed))
    rest = [e for e in work if not (e.path and e.path in present)]
    by_rest: dict[int, ResolvedEntry] = {}
    if rest:
        resolved, more = await StackResolver(library.db, hasher, trust_paths=True).resolve(rest)
        warnings.extend(more)
        by_rest = {id(entry): item for entry, item in zip(rest, resolved)}
    out: list[ResolvedEntry] = []
    for entry in work:
        if entry.path and entry.path in present:
            out.append(_item(entry, entry.path, present[entry.path], views[entry.path], problems.get(entry.path)))
        else:
            out.append(by_rest[id(entry)])
    return out, warnings
