"""The import's parse step: changed sidecar groups in, the items the database stores out.

It imports only `core/`, so it also runs in worker processes (services/import_workers.py), which
start in ~0.1 s: parsing holds the GIL, so on more than one core only processes run it in parallel
with the database writes.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, SidecarGroup
from lora_manager_gui.core.records import STATUS_NOT_A_SIDECAR, ImportItem, LibraryFile
from lora_manager_gui.core.tasks import ItemProblem
from lora_manager_gui.core.sidecars.group import ModelIndexMissError, parse_one


class FolderModels(dict[str, FileEntry]):
    """The model files of some folders, by path: what a worker process needs of a root's walk.
    Asking for a path in another folder raises ModelIndexMissError instead of answering 'absent'."""

    def __init__(self, entries: Mapping[str, FileEntry], folders: set[str]) -> None:
        super().__init__(entries)
        self.folders = folders

    def get(self, key: str, default: FileEntry | None = None) -> FileEntry | None:  # type: ignore[override]
        found = dict.get(self, key)
        if found is None and os.path.dirname(key) not in self.folders:
            raise ModelIndexMissError(key)
        return found if found is not None else default


@dataclass
class ImportTally:
    """What a piece of an import adds to the report (counted off the loop, absorbed on it)."""

    claimed: set[str] = field(default_factory=set)  # model files that belong to a sidecar group
    errors: list[ItemProblem] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    unchanged: int = 0
    sidecar_groups: int = 0
    not_sidecars: int = 0
    not_on_civitai: int = 0


@dataclass
class PreparedChunk(ImportTally):
    """One chunk of changed groups parsed and turned into the items the database stores."""

    items: list[ImportItem] = field(default_factory=list)
    needs_full_index: list[str] = field(default_factory=list)  # group keys to parse again in-process


def model_signature(model_path: str | None, models: Mapping[str, FileEntry]) -> str:
    if not model_path:
        return ""
    entry = models.get(model_path)
    return entry.signature() if entry else "absent:" + model_path


def group_signature(group: SidecarGroup, model_path: str | None, models: Mapping[str, FileEntry]) -> str:
    """Sidecars + same-named model files + the model file the metadata named, when it is another."""
    same = {m.path for m in group.models}
    extra = "" if model_path in same else model_signature(model_path, models)
    return group.sidecar_signature() + "\x1d" + extra


def library_file(entry: FileEntry, root: str, problem: str | None = None) -> LibraryFile:
    return LibraryFile(
        path=entry.path, root=root, rel_path=entry.rel_path, size_bytes=entry.size, mtime_ns=entry.mtime_ns,
        folder=entry.rel_path.rpartition("/")[0], problem=problem, external=entry.external,
    )


def prepare_chunk(root: str, groups: list[SidecarGroup], models: Mapping[str, FileEntry],
                  folders: Mapping[str, frozenset[str]], stored_ids: Mapping[str, int | None],
                  options: ImportOptions) -> PreparedChunk:
    """Parse a chunk of groups and build their ImportItems (a worker thread or process).
    `stored_ids` maps a group's key to the adapter its earlier import made."""
    out = PreparedChunk()
    for group in groups:
        try:
            parsed = parse_one(group, models, folders, options)
            model_path = parsed.model.path if parsed.model else parsed.expected_model_path
            signature = group_signature(group, model_path, models)
        except ModelIndexMissError:
            out.needs_full_index.append(group.key)
            continue
        out.errors.extend(parsed.issues)
        if parsed.model is not None:
            out.claimed.add(parsed.model.path)
        if parsed.status == STATUS_NOT_A_SIDECAR:
            out.not_sidecars += 1
        else:
            out.sidecar_groups += 1
        if parsed.not_on_civitai and parsed.model is not None:
            out.not_on_civitai += 1
            out.orphans.append(parsed.model.path)
        out.items.append(ImportItem(
            key=group.key,
            root=root,
            signature=signature,
            status=parsed.status,
            record=parsed.record,
            model_file=library_file(parsed.model, root, parsed.model_problem) if parsed.model else None,
            issues=parsed.issues,
            previous_adapter_id=stored_ids.get(group.key),
            file_sha256=parsed.file_sha256,
        ))
    return out


def merge_chunks(first: PreparedChunk, second: PreparedChunk) -> PreparedChunk:
    """`first` with the groups of `second` (parsed again with the whole index) added."""
    first.items.extend(second.items)
    first.claimed.update(second.claimed)
    first.errors.extend(second.errors)
    first.orphans.extend(second.orphans)
    first.sidecar_groups += second.sidecar_groups
    first.not_sidecars += second.not_sidecars
    first.not_on_civitai += second.not_on_civitai
    first.needs_full_index = [k for k in first.needs_full_index if k not in {i.key for i in second.items}]
    return first
