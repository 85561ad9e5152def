"""Walking a library root once: model files, sidecars grouped by base name, and problem entries.

One iterative `os.scandir` walk per root (no recursion limit). Only model files and sidecars are
stat'ed; previews and everything else are passed over by name. Symlinks:

- Folders and files the user symlinked into the library are followed, wherever they point; each
  real folder and file is visited once (tracked by (st_dev, st_ino)), so loops never hang and a file
  reachable twice is counted once. Real entries are walked before symlinked ones, so a link to
  something already inside the root is the one skipped, never the original.
- Entries reached through a link that points outside the root are followed and flagged `external`.
- A dangling link or a FIFO/socket named like a model file or sidecar is reported as `unreadable`
  and never opened.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

from lora_manager_gui.core.records import UNREADABLE, ImportIssue, reduce_named_tuple
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.core.sidecars import SIDECAR_SUFFIXES, sidecar_kind
from lora_manager_gui.core.sidecars.registry import parser_set_version
from lora_manager_gui.core.sidecars.base import DEFAULT_MAX_SIDECAR_BYTES

# Cheap first test of a lower-cased file name: can it be a sidecar at all?
_SIDECAR_ENDINGS = tuple({suffix.rsplit('.', 1)[-1].join(('.', '')) for suffix, _ in SIDECAR_SUFFIXES})

DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = (
    ".*",  # hidden folders and files: .git, .Trash-1000, macOS ._AppleDouble and .DS_Store
    "__pycache__",
    "node_modules",
    "@eaDir",  # Synology thumbnails
    "#recycle",
    "#snapshot",
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    "*.part",
    "*.crdownload",
)


@dataclass(frozen=True)
class ImportOptions:
    """How an import walks and what it accepts. Patterns match a name (fnmatch, any case), or the
    '/'-separated path relative to the root when they contain a '/'."""

    ignore_patterns: tuple[str, ...] = DEFAULT_IGNORE_PATTERNS
    follow_symlinks: bool = True
    min_model_bytes: int = 1
    max_model_bytes: int | None = None
    max_sidecar_bytes: int = DEFAULT_MAX_SIDECAR_BYTES
    check_safetensors: bool = True  # read each new or changed safetensors header
    # Sidecar groups per parse task and database transaction. Cold imports of 10,000 groups on 2
    # cores, interleaved pairs: 512 beat 256 by 60-70 ms in two comparisons of 10 and 16 runs (tied
    # in a third); 128 lost to 256 by 100 ms, 1024 to 512 by 90 ms (fewer tasks, a longer tail).
    chunk_size: int = 512
    parse_processes: int | None = None  # worker processes for parsing; None: by size and cores, 0: never


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
    issues: list[ImportIssue] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # links followed out of the root
    skipped_links: list[str] = field(default_factory=list)  # links to what was already seen
    ignored: int = 0
    folders: int = 0
    cancelled: bool = False
    prints: dict[str, FolderPrint] = field(default_factory=dict)  # self-contained folders entered
    skipped: dict[str, str] = field(default_factory=dict)  # folder -> rel path: unchanged, not entered

    @property
    def files_seen(self) -> int:
        return len(self.models) + sum(len(g.sidecars) for g in self.groups)


def is_model_name(name: str) -> bool:
    return name.lower().endswith(MODEL_EXTENSIONS)


def model_stem(name: str) -> str:
    return os.path.splitext(name)[0]


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


def _inside(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


class FolderPrint(NamedTuple):
    """A folder the walk found self-contained: no links, no problem entries, nothing seen twice.
    `fingerprint` digests the (name, size, mtime_ns) of its model files and sidecars."""

    path: str
    rel_path: str
    fingerprint: str
    files: int  # model files and sidecars, as RootScan.files_seen counts them
    models: int


_RELEVANT_ENDINGS = _SIDECAR_ENDINGS + tuple(MODEL_EXTENSIONS)
_by_name = attrgetter("name")


def options_key(options: ImportOptions) -> bytes:
    """A digest of what in the options changes a folder's meaning: a fingerprint taken under other
    options, or by another parser set (core/sidecars/registry.py), never matches."""
    salt = repr((options.ignore_patterns, options.follow_symlinks, options.min_model_bytes, options.max_model_bytes,
                 options.max_sidecar_bytes, options.check_safetensors, parser_set_version()))
    return hashlib.blake2b(salt.encode("utf-8", "surrogateescape"), digest_size=32).digest()


def _fingerprint(key: bytes, parts: list[str]) -> str:
    parts.sort()
    data = "\x1e".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16, person=b"lm-folder-v1", key=key).hexdigest()


def scan_root(
    root: str,
    options: ImportOptions = ImportOptions(),
    *,
    seen_dirs: set[tuple[int, int]] | None = None,
    seen_files: set[tuple[int, int]] | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    known: Mapping[str, str] | None = None,
    on_many: tuple[int, Callable[[], None]] | None = None,
    on_folder: Callable[[list[SidecarGroup], dict[str, FileEntry]], None] | None = None,
) -> RootScan:
    """Walk `root` (absolute). `seen_*` are shared between the roots of one import so overlapping
    roots count each file once. `progress(folders, files)` is called at most ~4 times a second.

    `known` maps folders to the fingerprints an earlier import stored; a folder whose fingerprint
    still matches is only stat'ed: it goes to `skipped`, with no entries or groups. Every other
    self-contained folder walked is in `prints`. `on_many` = (n, callback): the callback runs once,
    on the walking thread, as soon as n files outside skipped folders are found.

    `on_folder(groups, models)` (on the walking thread) gets each entered folder's sidecar groups
    and model files as soon as they are final: right after the folder, or at the end for a folder
    holding links (links are resolved last). Groups then come in walk order, not sorted by path."""
    scan = RootScan(root=root)
    seen_dirs = set() if seen_dirs is None else seen_dirs
    seen_files = set() if seen_files is None else seen_files
    known = known or {}
    salt = options_key(options)
    root_real = os.path.realpath(root)
    ignore_name, ignore_rel = _ignore_matcher(options.ignore_patterns)
    # (path, rel, external, via a link); real folders first, then symlinked ones.
    pending: list[tuple[str, str, bool, bool]] = [(root, "", False, False)]
    linked: list[tuple[str, str, bool, bool]] = []
    linked_files: list[tuple[os.DirEntry[str], str, str, bool]] = []
    per_folder: dict[str, tuple[list[tuple[str, str, FileEntry]], list[FileEntry], str]] = {}
    last_report = time.monotonic()
    files_found = 0
    is_regular = stat.S_ISREG
    many_at, on_many_call = on_many if on_many is not None else (0, None)
    entered = 0

    def file_problem(entry: os.DirEntry[str], is_link: bool) -> os.stat_result | None:
        """The file's stat, or None after reporting why it cannot be read (sidecars and models only)."""
        try:
            st = entry.stat()  # follows symlinks
        except OSError as exc:
            if is_model_name(entry.name) or sidecar_kind(entry.name) is not None:
                what = "a symbolic link whose target does not exist" if is_link else (exc.strerror or str(exc))
                scan.issues.append(ImportIssue(entry.path, UNREADABLE, f"cannot read the file: {what}"))
            return None
        if not is_regular(st.st_mode):
            if is_model_name(entry.name) or sidecar_kind(entry.name) is not None:
                scan.issues.append(ImportIssue(entry.path, UNREADABLE, "not a regular file (a folder, FIFO or device named like a model or metadata file)"))
            return None
        return st

    def add_file(entry: os.DirEntry[str], name: str, st: os.stat_result, folder: str, rel: str, external: bool) -> bool:
        """Record a model file or sidecar; False for a name that is neither."""
        nonlocal files_found, entered, on_many_call
        lower = name.lower()
        if lower.endswith(_SIDECAR_ENDINGS):
            kind = sidecar_kind(name)
            if kind is None:
                return False
        else:
            kind = None
        fe = FileEntry(entry.path, name, f"{rel}/{name}" if rel else name, st.st_size, st.st_mtime_ns, external)
        sidecars, models, _ = per_folder.setdefault(folder, ([], [], rel))
        files_found += 1
        entered += 1
        if on_many_call is not None and entered >= many_at:
            on_many_call()
            on_many_call = None
        if kind is not None:
            sidecars.append((kind[0], kind[1], fe))
        else:
            models.append(fe)
            scan.models[fe.path] = fe
        return True

    def add_linked_file(entry: os.DirEntry[str], folder: str, rel: str, external: bool) -> None:
        if not is_model_name(entry.name) and sidecar_kind(entry.name) is None:
            return
        st = file_problem(entry, True)
        if st is None:
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_files:
            scan.skipped_links.append(entry.path)
            return
        ext_flag = external or not _inside(entry.path, root_real)
        if add_file(entry, entry.name, st, folder, rel, ext_flag):
            seen_files.add(ident)
            if ext_flag and not external:
                scan.external.append(entry.path)

    while pending or linked:
        if cancel is not None and cancel.is_set():
            scan.cancelled = True
            return scan
        folder, rel, external, via_link = pending.pop() if pending else linked.pop(0)
        try:
            st = os.stat(folder)
        except OSError as exc:
            scan.issues.append(ImportIssue(folder, UNREADABLE, f"cannot open the folder: {exc.strerror or exc}"))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            if folder != root:
                scan.skipped_links.append(folder)
            continue
        seen_dirs.add(ident)
        scan.folders += 1
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_by_name)
        except OSError as exc:
            scan.issues.append(ImportIssue(folder, UNREADABLE, f"cannot list the folder: {exc.strerror or exc}"))
            continue
        subdirs: list[tuple[str, str, bool, bool]] = []
        found: list[tuple[os.DirEntry[str], str, os.stat_result]] = []
        parts: list[str] = []
        holds_linked_files = False
        # A folder reached through a link, or holding links or problem entries, is walked in full
        # every time: what it holds depends on more than its own files.
        self_contained = not (external or via_link)
        for entry in entries:  # the loop every file of every re-import goes through: kept lean
            name = entry.name
            lower = name.lower()
            if ignore_name(lower) or (ignore_rel is not None and ignore_rel((f"{rel}/{name}" if rel else name).lower())):
                scan.ignored += 1
                continue
            if entry.is_symlink():
                if not options.follow_symlinks:
                    scan.ignored += 1
                    continue
                self_contained = False
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    child_external = external or not _inside(entry.path, root_real)
                    if child_external and not external:
                        scan.external.append(entry.path)
                    linked.append((entry.path, f"{rel}/{name}" if rel else name, child_external, True))
                elif lower.endswith(_RELEVANT_ENDINGS):
                    linked_files.append((entry, folder, rel, external))
                    holds_linked_files = True
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append((entry.path, f"{rel}/{name}" if rel else name, external, via_link))
                continue
            if not lower.endswith(_RELEVANT_ENDINGS):
                continue
            try:
                fst = entry.stat()
            except OSError:
                fst = None
            if fst is None or not is_regular(fst.st_mode):
                file_problem(entry, False)  # reports it, if it is named like a model file or sidecar
                self_contained = False
                continue
            ident = (fst.st_dev, fst.st_ino)
            if ident in seen_files:
                self_contained = False
                if is_model_name(name) or sidecar_kind(name) is not None:
                    scan.skipped_links.append(entry.path)
                continue
            seen_files.add(ident)
            found.append((entry, name, fst))
            parts.append(f"{name}\x1f{fst.st_size}\x1f{fst.st_mtime_ns}")
        pending.extend(reversed(subdirs))
        fingerprint = _fingerprint(salt, parts) if self_contained else None
        if fingerprint is not None and known.get(folder) == fingerprint:
            scan.skipped[folder] = rel
            files_found += len(found)
        else:
            files = models = 0
            for entry, name, fst in found:
                if add_file(entry, name, fst, folder, rel, external):
                    files += 1
                    models += name.lower().endswith(MODEL_EXTENSIONS)
            if fingerprint is not None:
                scan.prints[folder] = FolderPrint(folder, rel, fingerprint, files, models)
            if on_folder is not None and not holds_linked_files and folder in per_folder:
                _emit_folder(scan, folder, per_folder.pop(folder), on_folder)
        if progress is not None and time.monotonic() - last_report >= 0.25:
            last_report = time.monotonic()
            progress(scan.folders, files_found)
    for entry, f_folder, f_rel, f_ext in linked_files:  # after every real file: originals win
        add_linked_file(entry, f_folder, f_rel, f_ext)
    if on_folder is not None:
        for folder in sorted(per_folder):
            _emit_folder(scan, folder, per_folder[folder], on_folder)
    else:
        _build_groups(scan, per_folder)
    return scan


def list_folder_models(folder: str, rel: str, options: ImportOptions = ImportOptions()) -> dict[str, FileEntry]:
    """The model files of one self-contained folder, as scan_root would have found them: for a
    lookup into a folder the walk skipped as unchanged (a metadata file elsewhere naming one)."""
    ignore_name, ignore_rel = _ignore_matcher(options.ignore_patterns)
    out: dict[str, FileEntry] = {}
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        name = entry.name
        lower = name.lower()
        rel_path = f"{rel}/{name}" if rel else name
        if not lower.endswith(MODEL_EXTENSIONS) or ignore_name(lower) or entry.is_symlink():
            continue
        if ignore_rel is not None and ignore_rel(rel_path.lower()):
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out[entry.path] = FileEntry(entry.path, name, rel_path, st.st_size, st.st_mtime_ns)
    return out


_FolderFiles = tuple[list[tuple[str, str, FileEntry]], list[FileEntry], str]  # (kind, base, sidecar), models, rel


def _build_groups(scan: RootScan, per_folder: dict[str, _FolderFiles]) -> None:
    for folder in sorted(per_folder):
        scan.groups.extend(_folder_groups(scan.root, folder, per_folder[folder]))


def _emit_folder(scan: RootScan, folder: str, files: _FolderFiles,
                 on_folder: Callable[[list[SidecarGroup], dict[str, FileEntry]], None]) -> None:
    groups = _folder_groups(scan.root, folder, files)
    scan.groups.extend(groups)
    on_folder(groups, {m.path: m for m in files[1]})


def _folder_groups(root: str, folder: str, files: _FolderFiles) -> list[SidecarGroup]:
    sidecars, models, _rel = files
    by_stem: dict[str, list[FileEntry]] = {}
    for m in models:
        by_stem.setdefault(model_stem(m.name).lower(), []).append(m)
    groups: dict[str, SidecarGroup] = {}
    for kind, base, fe in sorted(sidecars, key=lambda s: s[2].name):
        low = base.lower()
        group = groups.get(low)
        if group is None:
            group = SidecarGroup(f"{folder}/{base}", root, folder, base, models=sorted(by_stem.get(low, []), key=lambda m: m.name))
            groups[low] = group
        group.sidecars.append((kind, fe))
    return list(groups.values())
