"""Duplicates: present model files with the same SHA-256 (from the hash cache: nothing is hashed
here), in groups, with a safe clean-up that keeps one file by a rule and trashes the rest as one
undoable operation. Also "same model, other versions": adapters with the same CivitAI modelId
and different versionIds (not duplicates: shown, never cleaned up).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.db.models import database_proxy
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.file_ops import OperationResult, trash
from lora_manager_gui.services.file_ops_groups import FolderListing
from lora_manager_gui.services.file_ops_plan import OperationPlan, OpKind, inside
from lora_manager_gui.services.file_ops_trash import TrashMode


class KeepRule(StrEnum):
    NEWEST = "newest"  # the latest modified file
    PREFERRED_FOLDER = "preferred_folder"  # the one inside the preferred folder (then newest)
    MOST_METADATA = "most_metadata"  # the one with the most sidecars and previews, described by an adapter


@dataclass(frozen=True, slots=True)
class DuplicateFile:
    path: str
    size: int
    mtime_ns: int
    adapter_id: int | None


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    sha256: str
    files: tuple[DuplicateFile, ...]

    def to_json(self) -> dict[str, object]:
        return {"sha256": self.sha256, "size": self.files[0].size,
                "files": [{"path": f.path, "adapter_id": f.adapter_id, "mtime_ns": f.mtime_ns} for f in self.files]}


@dataclass(frozen=True, slots=True)
class VersionGroup:
    model_id: int
    adapters: tuple[tuple[int, int, str, str], ...]  # (adapter id, version id, name, version)

    def to_json(self) -> dict[str, object]:
        return {"model_id": self.model_id, "versions": [
            {"adapter_id": a, "version_id": v, "name": n, "version": ver} for a, v, n, ver in self.adapters]}


def find_duplicate_groups() -> list[DuplicateGroup]:
    """On the database thread: hash cache rows of present library files whose size and mtime still
    match the row (a stale entry says nothing), grouped by SHA-256."""
    rows = database_proxy.execute_sql(
        "SELECT h.sha256, f.path, f.size_bytes, f.mtime_ns, f.adapter_id FROM hash_cache h "
        "JOIN library_file f ON f.path = h.path "
        "WHERE f.missing = 0 AND h.size_bytes = f.size_bytes AND h.mtime_ns = f.mtime_ns "
        "AND h.sha256 IN (SELECT h2.sha256 FROM hash_cache h2 JOIN library_file f2 ON f2.path = h2.path "
        "WHERE f2.missing = 0 GROUP BY h2.sha256 HAVING COUNT(*) > 1) ORDER BY h.sha256, f.path").fetchall()
    groups: dict[str, list[DuplicateFile]] = {}
    for sha, path, size, mtime, adapter_id in rows:
        groups.setdefault(sha, []).append(DuplicateFile(path, size, mtime, adapter_id))
    return [DuplicateGroup(sha, tuple(files)) for sha, files in groups.items() if len(files) > 1]


def find_version_groups() -> list[VersionGroup]:
    rows = database_proxy.execute_sql(
        "SELECT civitai_model_id, id, civitai_version_id, name, version FROM adapter "
        "WHERE civitai_model_id IN (SELECT civitai_model_id FROM adapter WHERE civitai_model_id IS NOT NULL "
        "AND civitai_version_id IS NOT NULL GROUP BY civitai_model_id HAVING COUNT(DISTINCT civitai_version_id) > 1) "
        "AND civitai_version_id IS NOT NULL ORDER BY civitai_model_id, civitai_version_id, id").fetchall()
    groups: dict[int, list[tuple[int, int, str, str]]] = {}
    for model_id, adapter_id, version_id, name, version in rows:
        groups.setdefault(model_id, []).append((adapter_id, version_id, name, version or ""))
    return [VersionGroup(m, tuple(a)) for m, a in groups.items()]


def _metadata_score(f: DuplicateFile, listing: FolderListing) -> tuple[int, int, int]:
    group = listing.group(f.path)
    return (1 if f.adapter_id is not None else 0, len(group.companions), f.mtime_ns)


def choose_keeper(group: DuplicateGroup, rule: KeepRule, preferred_folder: str | None = None,
                  listing: FolderListing | None = None) -> DuplicateFile:
    """The file to keep (blocking for MOST_METADATA: it lists folders). Ties: the first path."""
    files = list(group.files)
    if rule is KeepRule.PREFERRED_FOLDER:
        if not preferred_folder:
            raise ValueError("the preferred_folder rule needs a folder")
        inside_pref = [f for f in files if inside(f.path, preferred_folder)]
        files = inside_pref or files
        return max(files, key=lambda f: (f.mtime_ns, [-ord(c) for c in f.path]))
    if rule is KeepRule.MOST_METADATA:
        listing = listing or FolderListing()
        return max(files, key=lambda f: (_metadata_score(f, listing), [-ord(c) for c in f.path]))
    return max(files, key=lambda f: (f.mtime_ns, [-ord(c) for c in f.path]))


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    keep: tuple[str, ...]
    remove: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"keep": list(self.keep), "trash": list(self.remove)}


def plan_cleanup(groups: Sequence[DuplicateGroup], rule: KeepRule, preferred_folder: str | None = None) -> CleanupPlan:
    listing = FolderListing()
    keep, remove = [], []
    for group in groups:
        keeper = choose_keeper(group, rule, preferred_folder, listing)
        keep.append(keeper.path)
        remove += [f.path for f in group.files if f.path != keeper.path]
    return CleanupPlan(tuple(keep), tuple(remove))


async def clean_up(db: DatabaseExecutor, pool: WorkPool, rule: KeepRule, *, preferred_folder: str | None = None,
                   mode: TrashMode = TrashMode.AUTO, dry_run: bool = False) -> tuple[CleanupPlan, OperationResult]:
    """Trash all but one file of each duplicate group, as one undoable operation."""
    groups = await db.call(find_duplicate_groups)
    plan = await pool.call(plan_cleanup, groups, rule, preferred_folder and os.path.abspath(preferred_folder))
    if not plan.remove:
        return plan, OperationResult(OperationPlan(OpKind.DUPLICATES, "remove duplicates"), dry_run=dry_run)
    missing = [p for p in plan.keep if not os.path.isfile(p)]
    if missing:  # never trash the others when a file to keep vanished meanwhile
        empty = OperationPlan(OpKind.DUPLICATES, "remove duplicates", problems=[
            ItemProblem(p, ProblemKind.MISSING_MODEL_FILE, "the file to keep is gone; nothing trashed") for p in missing])
        return plan, OperationResult(empty, dry_run=dry_run)
    result = await trash(db, pool, plan.remove, mode=mode, dry_run=dry_run, kind=OpKind.DUPLICATES)
    return plan, result
