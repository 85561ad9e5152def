"""The import's plan stage, as pure functions: which roots, which groups changed since they were
stored, which folders keep a fingerprint, which files are gone.

Nothing here touches the database or the event loop: the run (services/import_run.py) loads the
stored state, calls these on the work pool (comparing 10,000s of signatures is CPU work), and
stores what they decide.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lora_manager_gui.core.discovery import FileEntry, FolderPrint, ImportOptions, RootScan, SidecarGroup, list_folder_models
from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.records import STATUS_NOT_A_SIDECAR, STATUS_NOT_ON_CIVITAI
from lora_manager_gui.services.import_parse import ImportTally, group_signature


class ImportRunError(LoraManagerError):
    """The import could not run at all (no such root, database not writable)."""


def resolve_roots(roots: list[Path] | list[str]) -> list[str]:
    """Absolute, existing, readable folders, each once; ImportRunError names the first that is not."""
    found, unavailable = split_roots(roots)
    if unavailable:
        raise ImportRunError(unavailable[0][1])
    return found


def unavailable_reason(root: str | os.PathLike[str], path: str) -> str | None:
    """Why the folder `path` cannot be walked (missing, not a folder, unreadable), or None."""
    if not os.path.exists(path):
        return f"cannot import {os.fspath(root)}: no such folder"
    if not os.path.isdir(path):
        return f"cannot import {os.fspath(root)}: not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"cannot import {os.fspath(root)}: the folder cannot be read (permission denied)"
    return None


def is_empty_folder(path: str) -> bool:
    """The folder holds no entry at all (an empty mount point when its volume is not mounted);
    a folder that cannot be listed counts as empty."""
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return True


def split_roots(roots: list[Path] | list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Absolute paths of the roots, each once: those that can be walked, and (path, reason) of
    those that cannot (the run decides whether such a root is offline or an error). A name that
    is not UTF-8 raises ImportRunError."""
    out: list[str] = []
    unavailable: list[tuple[str, str]] = []
    for root in roots:
        path = os.path.abspath(os.path.expanduser(os.fspath(root)))
        reason = unavailable_reason(root, path)
        if reason is not None:
            if all(path != p for p, _r in unavailable):
                unavailable.append((path, reason))
            continue
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise ImportRunError(f"cannot import {shown}: the folder's name is not valid UTF-8") from None
        if path not in out:
            out.append(path)
    return out, unavailable


@dataclass
class FilesSeen:
    """What the run's walks found so far, for duplicate checks on the database thread: does a
    model file exist now?"""

    roots: list[str] = field(default_factory=list)
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)  # shared by the roots' walks
    seen_files: set[tuple[int, int]] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    skipped_folders: set[str] = field(default_factory=set)  # walked but not entered: unchanged since stored
    walking: bool = False  # a walk is running while its groups are stored (see import_walk)

    def present(self, path: str) -> bool:
        if path in self.models:
            return True
        if self.walking:  # the walk has not seen every file yet
            return os.path.isfile(path)
        if os.path.dirname(path) in self.skipped_folders:
            return os.path.isfile(path)  # a folder the walk skipped as unchanged
        if any(path.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
            return False  # under a scanned root and not found by the walk
        return os.path.isfile(path)


@dataclass
class RootPlan(ImportTally):
    """What a root's walk means against what was stored: the unchanged groups tallied, the rest to parse."""

    changed: list[SidecarGroup] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)  # folders of unchanged groups that name a model elsewhere


def named_model(signature: str, model_path: str | None) -> str | None:
    """The model file a group resolved to, or the one it expected and did not find (kept in its
    signature as 'absent:' + path; see import_parse.group_signature)."""
    if model_path:
        return model_path
    extra = signature.rpartition("\x1d")[2]
    return extra[len("absent:"):] if extra.startswith("absent:") else None


def foreign_folders(groups: Iterable[tuple[str, str, str | None]]) -> set[str]:
    """The folders among (group key, signature, model path) triples whose group depends on a model
    file in another folder: found there, or expected there."""
    out: set[str] = set()
    for key, signature, model_path in groups:
        folder = key.rpartition("/")[0]
        if "\x1d" not in signature:  # not a signature this version wrote: count it as foreign, to be safe
            out.add(folder)
            continue
        if not signature.endswith("\x1d"):  # the metadata named a model file other than the same-named ones
            path = named_model(signature, model_path)
            if path is None or os.path.dirname(path) != folder:
                out.add(folder)
    return out


class SkippedFolderModels(dict[str, FileEntry]):
    """A root's walked model files, which also answers for the folders the walk skipped as unchanged
    (listing such a folder on first use): a changed metadata file may name a model file there."""

    def __init__(self, walked: dict[str, FileEntry], skipped: dict[str, str], options: ImportOptions) -> None:
        super().__init__(walked)
        self.skipped, self.options = skipped, options
        self.listed: dict[str, dict[str, FileEntry]] = {}

    def get(self, key: str, default: FileEntry | None = None) -> FileEntry | None:  # type: ignore[override]
        found = dict.get(self, key)
        if found is not None:
            return found
        folder = os.path.dirname(key)
        if folder not in self.skipped:
            return default
        if folder not in self.listed:
            self.listed[folder] = list_folder_models(folder, self.skipped[folder], self.options)
        return self.listed[folder].get(key, default)


def plan_root(scan: RootScan, stored_sources: Mapping[str, object], force: bool) -> RootPlan:
    """Split the groups into unchanged (same signature as ingested: never parsed) and changed.
    `stored_sources` maps group keys to import_sources.StoredSource."""
    plan = RootPlan()
    for group in scan.groups:
        stored = stored_sources.get(group.key)
        # A group still missing the model file it expects is unchanged too (its signature says so).
        named = named_model(stored.signature, stored.model_path) if stored else None  # type: ignore[attr-defined]
        if stored and not force and stored.signature == group_signature(group, named, scan.models):  # type: ignore[attr-defined]
            plan.unchanged += 1
            plan.foreign.update(foreign_folders([(group.key, stored.signature, stored.model_path)]))  # type: ignore[attr-defined]
            plan.errors.extend(stored.issues)  # type: ignore[attr-defined]
            if stored.model_path:  # type: ignore[attr-defined]
                plan.claimed.add(stored.model_path)  # type: ignore[attr-defined]
            if stored.status == STATUS_NOT_ON_CIVITAI and stored.model_path:  # type: ignore[attr-defined]
                plan.not_on_civitai += 1
                plan.orphans.append(stored.model_path)  # type: ignore[attr-defined]
            if stored.status == STATUS_NOT_A_SIDECAR:  # type: ignore[attr-defined]
                plan.not_sidecars += 1
            else:
                plan.sidecar_groups += 1
            continue
        plan.changed.append(group)
    return plan


@dataclass(frozen=True)
class RootEnd:
    """What a completed root's walk leaves to write: files gone, groups gone, fingerprints to keep
    and to drop."""

    gone_files: list[str]
    gone_keys: list[str]
    prints: list[FolderPrint]
    forget: list[str]

    @property
    def any(self) -> bool:
        return bool(self.gone_files or self.gone_keys or self.prints or self.forget)


def plan_root_end(scan: RootScan, stored_files: Iterable[str], stored_keys: Iterable[str], known: Iterable[str],
                  all_models: set[str], foreign: set[str]) -> RootEnd:
    """A folder keeps a fingerprint while it is self-contained: none of its groups depends on a
    model file elsewhere (whose change its own fingerprint would not show)."""
    skipped = scan.skipped
    group_keys = {g.key for g in scan.groups}
    return RootEnd(
        gone_files=sorted(p for p in stored_files if p not in scan.models and p not in all_models),
        gone_keys=[k for k in stored_keys if k not in group_keys],
        prints=[p for f, p in scan.prints.items() if f not in skipped and f not in foreign],
        forget=[f for f in known if (f not in scan.prints and f not in skipped) or f in foreign],
    )
