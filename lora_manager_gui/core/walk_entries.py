"""What a walk of a library root finds (core/discovery.py walks): model files and sidecars as
`FileEntry` tuples, sidecars grouped by base name (`SidecarGroup`), self-contained folders'
fingerprints (`FolderPrint`), the whole `RootScan`; the matching of names against ignore
patterns, the grouping of a folder's sidecars, and names shown with undecodable bytes escaped.
Plain values: bulk entries are NamedTuples, which the garbage collector does not track.
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lora_manager_gui.core.records import reduce_named_tuple
from lora_manager_gui.core.sidecars.registry import parser_set_version
from lora_manager_gui.core.tasks import ItemProblem


class FileEntry(NamedTuple):
    """A model file or sidecar as walked. A tuple of plain values: the garbage collector stops
    tracking it, which matters when a walk holds 100,000 of them."""

    path: str  # absolute, under the root as walked
    name: str
    rel_path: str  # '/'-separated
    size: int
    mtime_ns: int
    external: bool = False

    def signature(self) -> str:
        return f"{self.name}\x1f{self.size}\x1f{self.mtime_ns}"

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_named_tuple(self)


@dataclass(slots=True)
class SidecarGroup:
    """The sidecars `<base>.*` of one folder, with the same-named model files beside them."""

    key: str  # folder path + '/' + base name
    root: str
    folder: str  # absolute folder path
    base: str
    sidecars: list[tuple[str, FileEntry]] = field(default_factory=list)  # (kind, entry), by name
    models: list[FileEntry] = field(default_factory=list)  # same base name, any model extension

    def sidecar_signature(self) -> str:
        """The files' (name, size, mtime_ns) and the parser set that read them (a new one re-reads)."""
        parts = [e.signature() for _, e in self.sidecars] + ["#" + parser_set_version()] + [m.signature() for m in self.models]
        return "\x1e".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # One call of the class with its fields, where a slots dataclass's default state is set
        # field by field in Python: the import sends a few thousand groups to each worker process.
        return (SidecarGroup, (self.key, self.root, self.folder, self.base, self.sidecars, self.models))


@dataclass
class RootScan:
    root: str
    groups: list[SidecarGroup] = field(default_factory=list)
    models: dict[str, FileEntry] = field(default_factory=dict)  # every model file, by path
    issues: list[ItemProblem] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # links followed out of the root
    skipped_links: list[str] = field(default_factory=list)  # links to what was already seen
    ignored: int = 0
    folders: int = 0
    cancelled: bool = False
    prints: dict[str, FolderPrint] = field(default_factory=dict)  # self-contained folders entered
    skipped: dict[str, str] = field(default_factory=dict)  # folder -> rel path: unchanged, not entered
    moved_folders: dict[str, str] = field(default_factory=dict)  # skipped folder -> the known folder it matches

    @property
    def files_seen(self) -> int:
        return len(self.models) + sum(len(g.sidecars) for g in self.groups)


class FolderPrint(NamedTuple):
    """A folder the walk found self-contained: no links, no problem entries, nothing seen twice.
    `fingerprint` digests the (name, size, mtime_ns) of its model files and sidecars."""

    path: str
    rel_path: str
    fingerprint: str
    files: int  # model files and sidecars, as RootScan.files_seen counts them
    models: int


_WILDCARDS = frozenset("*?[")


def _name_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """A test of a lower-cased name against fnmatch patterns, with the common shapes (exact name,
    'prefix*', '*suffix') answered by set and str methods instead of a regular expression."""
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    others: list[str] = []
    for raw in patterns:
        p = raw.lower()
        if not _WILDCARDS.intersection(p):
            exact.add(p)
        elif p.endswith("*") and not _WILDCARDS.intersection(p[:-1]):
            prefixes.append(p[:-1])
        elif p.startswith("*") and not _WILDCARDS.intersection(p[1:]):
            suffixes.append(p[1:])
        else:
            others.append(p)
    pre, suf = tuple(prefixes), tuple(suffixes)
    rest = re.compile("|".join(fnmatch.translate(p) for p in others)).match if others else None

    def matches(lower: str) -> bool:
        return (
            lower in exact
            or (bool(pre) and lower.startswith(pre))
            or (bool(suf) and lower.endswith(suf))
            or (rest is not None and rest(lower) is not None)
        )

    return matches


def _ignore_matcher(patterns: tuple[str, ...]) -> tuple[Callable[[str], bool], Callable[[str], bool] | None]:
    """(test of a lower-cased name, test of a lower-cased relative path or None when no pattern has a '/')."""
    by_name = [p for p in patterns if "/" not in p]
    by_path = [p.strip("/") for p in patterns if "/" in p]
    return _name_matcher(by_name), (_name_matcher(by_path) if by_path else None)


def shown_name(path: str) -> str:
    """A path as it can be printed and stored: undecodable bytes as backslash escapes (\xff)."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (a Windows name)
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


_FolderFiles = tuple[list[tuple[str, str, FileEntry]], list[FileEntry], str]  # (kind, base, sidecar), models, rel


def _folder_groups(root: str, folder: str, files: _FolderFiles) -> list[SidecarGroup]:
    sidecars, models, _rel = files
    by_stem: dict[str, list[FileEntry]] = {}
    for m in models:
        by_stem.setdefault(os.path.splitext(m.name)[0].lower(), []).append(m)
    groups: dict[str, SidecarGroup] = {}
    for kind, base, fe in sorted(sidecars, key=lambda s: s[2].name):
        low = base.lower()
        group = groups.get(low)
        if group is None:
            group = SidecarGroup(f"{folder}/{base}", root, folder, base, models=sorted(by_stem.get(low, []), key=lambda m: m.name))
            groups[low] = group
        group.sidecars.append((kind, fe))
    return list(groups.values())
