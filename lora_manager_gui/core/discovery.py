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

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from lora_manager_gui.core.records import UNREADABLE, UNREADABLE_NAME
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.core.sidecars import SIDECAR_SUFFIXES, sidecar_kind
from lora_manager_gui.core.sidecars.registry import parser_set_version
from lora_manager_gui.core.sidecars.base import DEFAULT_MAX_SIDECAR_BYTES
from lora_manager_gui.core.walk_entries import (
    FileEntry,
    FolderPrint,
    RootScan,
    SidecarGroup,
    _FolderFiles,
    _folder_groups,
    _ignore_matcher,
    _undecodable,
    shown_name,
)

__all__ = [
    "DEFAULT_IGNORE_PATTERNS", "FileEntry", "FolderPrint", "ImportOptions", "RootScan", "SidecarGroup", "WalkOptions",
    "is_model_name", "list_folder_models", "model_stem", "options_key", "scan_root", "shown_name",
]

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


def is_model_name(name: str) -> bool:
    return name.lower().endswith(MODEL_EXTENSIONS)


def model_stem(name: str) -> str:
    return os.path.splitext(name)[0]


def _inside(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


_RELEVANT_ENDINGS = _SIDECAR_ENDINGS + tuple(MODEL_EXTENSIONS)
_by_name = attrgetter("name")


def options_key(options: ImportOptions) -> bytes:
    """A digest of what in the options changes a folder's meaning: a fingerprint taken under other
    options, or by another parser set (core/sidecars/registry.py), never matches."""
    salt = repr((options.ignore_patterns, options.follow_symlinks, options.min_model_bytes, options.max_model_bytes,
                 options.max_sidecar_bytes, options.check_safetensors, parser_set_version()))
    return hashlib.blake2b(salt.encode("utf-8", "surrogateescape"), digest_size=32).digest()


def _fingerprint(key: bytes, data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16, person=b"lm-folder-v1", key=key).hexdigest()


FolderFound = Callable[[list["SidecarGroup"], dict[str, FileEntry]], None]


@dataclass
class WalkOptions:
    """How one walk runs, beside what it accepts (ImportOptions).

    - `seen_dirs`, `seen_files`: (st_dev, st_ino) shared between the roots of one import, so
      overlapping roots count each file once.
    - `progress(folders, files)`: called at most ~4 times a second.
    - `known`: folder -> fingerprint an earlier import stored; a folder whose fingerprint still
      matches is only stat'ed: it goes to `skipped`, with no entries or groups.
    - `moved_from`: fingerprint -> the known folder that alone has it. A folder not known at its
      path whose fingerprint is there is taken for that folder moved (by another tool): skipped
      too, and listed in `moved_folders`, when the old folder is gone (else it is a copy).
    - `on_many` = (n, callback): the callback runs once, on the walking thread, as soon as n files
      outside skipped folders are found (after the folder that reaches n).
    - `on_folder(groups, models)` (on the walking thread) gets each entered folder's sidecar groups
      and model files as soon as they are final: right after the folder, or at the end for a
      folder holding links (links are resolved last).
    """

    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    seen_files: set[tuple[int, int]] = field(default_factory=set)
    cancel: threading.Event | None = None
    progress: Callable[[int, int], None] | None = None
    known: Mapping[str, str] = field(default_factory=dict)
    moved_from: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> known folder it is unique to
    on_many: tuple[int, Callable[[], None]] | None = None
    on_folder: FolderFound | None = None


def scan_root(root: str, options: ImportOptions = ImportOptions(), walk: WalkOptions | None = None) -> RootScan:
    """Walk `root` (absolute) once; see WalkOptions. Every self-contained folder entered is in
    `prints`. Groups are sorted by folder path, or with `on_folder` come in walk order."""
    return _Walk(root, options, walk or WalkOptions()).run()


_NAME_PROBLEM = ("the file name is not valid UTF-8 (bytes the library cannot store as text); "
                 "rename the file to import it")


class _Walk:
    """The state of one scan_root call; `run()` walks the folders one by one."""

    def __init__(self, root: str, options: ImportOptions, walk: WalkOptions) -> None:
        self.root, self.options, self.walk = root, options, walk
        self.scan = RootScan(root=root)
        self.salt = options_key(options)
        self.root_real = os.path.realpath(root)
        self.ignore_name, self.ignore_rel = _ignore_matcher(options.ignore_patterns)
        # (path, rel, external, via a link); real folders first, then symlinked ones.
        self.pending: list[tuple[str, str, bool, bool]] = [(root, "", False, False)]
        self.linked: list[tuple[str, str, bool, bool]] = []
        self.linked_files: list[tuple[os.DirEntry[str], str, str, bool]] = []
        self.per_folder: dict[str, _FolderFiles] = {}
        self.files_found = 0
        self.entered = 0
        self.moved_olds: set[str] = set()  # known folders already taken for one moved here
        self.many_at, self.on_many = walk.on_many if walk.on_many is not None else (0, None)

    def run(self) -> RootScan:
        scan, walk = self.scan, self.walk
        cancel, progress = walk.cancel, walk.progress
        last_report = time.monotonic()
        while self.pending or self.linked:
            if cancel is not None and cancel.is_set():
                scan.cancelled = True
                return scan
            self._folder(*(self.pending.pop() if self.pending else self.linked.pop(0)))
            if self.on_many is not None and self.entered >= self.many_at:
                self.on_many()
                self.on_many = None
            if progress is not None and time.monotonic() - last_report >= 0.25:
                last_report = time.monotonic()
                progress(scan.folders, self.files_found)
        for entry, f_folder, f_rel, f_ext in self.linked_files:  # after every real file: originals win
            self._linked_file(entry, f_folder, f_rel, f_ext)
        if walk.on_folder is not None:  # folders holding links, once the links are resolved
            for folder in sorted(self.per_folder):
                self._emit(folder)
        else:
            for folder in sorted(self.per_folder):
                scan.groups.extend(_folder_groups(scan.root, folder, self.per_folder[folder]))
        return scan

    def _emit(self, folder: str) -> None:
        files = self.per_folder.pop(folder)
        groups = _folder_groups(self.scan.root, folder, files)
        self.scan.groups.extend(groups)
        self.walk.on_folder(groups, {m.path: m for m in files[1]})  # type: ignore[misc]

    def _problem(self, path: str, kind: ProblemKind, message: str) -> None:
        self.scan.issues.append(ItemProblem(shown_name(path), kind, message))

    def _file_problem(self, entry: os.DirEntry[str], is_link: bool) -> os.stat_result | None:
        """The file's stat, or None after reporting why it cannot be read (sidecars and models only)."""
        try:
            st = entry.stat()  # follows symlinks
        except OSError as exc:
            if is_model_name(entry.name) or sidecar_kind(entry.name) is not None:
                what = "a symbolic link whose target does not exist" if is_link else (exc.strerror or str(exc))
                self._problem(entry.path, UNREADABLE, f"cannot read the file: {what}")
            return None
        if not stat.S_ISREG(st.st_mode):
            if is_model_name(entry.name) or sidecar_kind(entry.name) is not None:
                self._problem(entry.path, UNREADABLE, "not a regular file (a folder, FIFO or device named like a model or metadata file)")
            return None
        return st

    def _folder(self, folder: str, rel: str, external: bool, via_link: bool) -> None:
        scan, walk = self.scan, self.walk
        try:
            st = os.stat(folder)
        except OSError as exc:
            self._problem(folder, UNREADABLE, f"cannot open the folder: {exc.strerror or exc}")
            return
        ident = (st.st_dev, st.st_ino)
        if ident in walk.seen_dirs:
            if folder != self.root:
                scan.skipped_links.append(shown_name(folder))
            return
        walk.seen_dirs.add(ident)
        scan.folders += 1
        if rel and not rel.isascii() and _undecodable(rel):  # nothing under it could be stored: reported once, not entered
            self._problem(folder, UNREADABLE_NAME, "the folder's name is not valid UTF-8 (bytes the library cannot "
                          "store as text); rename it to import what it holds")
            return
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_by_name)
        except OSError as exc:
            self._problem(folder, UNREADABLE, f"cannot list the folder: {exc.strerror or exc}")
            return
        ignore_name, ignore_rel = self.ignore_name, self.ignore_rel
        seen_files, is_regular = walk.seen_files, stat.S_ISREG
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
                if not self.options.follow_symlinks:
                    scan.ignored += 1
                    continue
                self_contained = False
                holds_linked_files = self._link(entry, folder, rel, external, lower) or holds_linked_files
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
                self._file_problem(entry, False)  # reports it, if it is named like a model file or sidecar
                self_contained = False
                continue
            ident = (fst.st_dev, fst.st_ino)
            if ident in seen_files:
                self_contained = False
                if is_model_name(name) or sidecar_kind(name) is not None:
                    scan.skipped_links.append(shown_name(entry.path))
                continue
            seen_files.add(ident)
            found.append((entry, name, fst))
            parts.append(f"{name}\x1f{fst.st_size}\x1f{fst.st_mtime_ns}")
        self.pending.extend(reversed(subdirs))
        self._close_folder(folder, rel, external, found, parts, self_contained, holds_linked_files)

    def _close_folder(self, folder: str, rel: str, external: bool, found: list[tuple[os.DirEntry[str], str, os.stat_result]],
                      parts: list[str], self_contained: bool, holds_linked_files: bool) -> None:
        """A folder's files listed: skipped when its fingerprint matches the stored one, else
        recorded (and handed over when `on_folder` is given and it holds no links)."""
        scan, walk = self.scan, self.walk
        parts.sort()
        data = "\x1e".join(parts)
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:  # a name that is not valid UTF-8: that file is reported, not imported
            found = self._decodable(found)
            self_contained = False
            raw = b""
        fingerprint = _fingerprint(self.salt, raw) if self_contained else None
        if fingerprint is not None:
            stored = walk.known.get(folder)
            if stored == fingerprint or (stored is None and self._moved_here(folder, fingerprint)):
                scan.skipped[folder] = rel
                self.files_found += len(found)
                return
        files, models = self._add_found(found, folder, rel, external)
        if fingerprint is not None:
            scan.prints[folder] = FolderPrint(folder, rel, fingerprint, files, models)
        if walk.on_folder is not None and not holds_linked_files and folder in self.per_folder:
            self._emit(folder)

    def _moved_here(self, folder: str, fingerprint: str) -> bool:
        """A folder new at this path is a known one moved when it alone had this fingerprint, is
        gone from where it was, and no other folder of this walk was taken for it."""
        old = self.walk.moved_from.get(fingerprint)
        if old is None or old in self.moved_olds or os.path.lexists(old):
            return False
        self.moved_olds.add(old)
        self.scan.moved_folders[folder] = old
        return True

    def _decodable(self, found: list[tuple[os.DirEntry[str], str, os.stat_result]]) -> list[tuple[os.DirEntry[str], str, os.stat_result]]:
        kept = []
        for item in found:
            if _undecodable(item[1]):
                self._problem(item[0].path, UNREADABLE_NAME, _NAME_PROBLEM)
            else:
                kept.append(item)
        return kept

    def _link(self, entry: os.DirEntry[str], folder: str, rel: str, external: bool, lower: str) -> bool:
        """A symlink in a folder: a linked folder is walked after the real ones; a linked model
        file or sidecar is resolved at the end (True)."""
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        name = entry.name
        if not name.isascii() and _undecodable(name):
            if is_dir or lower.endswith(_RELEVANT_ENDINGS):
                self._problem(entry.path, UNREADABLE_NAME, _NAME_PROBLEM)
            return False
        if is_dir:
            child_external = external or not _inside(entry.path, self.root_real)
            if child_external and not external:
                self.scan.external.append(entry.path)
            self.linked.append((entry.path, f"{rel}/{name}" if rel else name, child_external, True))
            return False
        if lower.endswith(_RELEVANT_ENDINGS):
            self.linked_files.append((entry, folder, rel, external))
            return True
        return False

    def _add_found(self, found: list[tuple[os.DirEntry[str], str, os.stat_result]], folder: str, rel: str,
                   external: bool) -> tuple[int, int]:
        """Record a folder's model files and sidecars: (files, model files) recorded."""
        scan_models = self.scan.models
        sidecars: list[tuple[str, str, FileEntry]] | None = None
        models_of: list[FileEntry] | None = None
        files = models = 0
        for entry, name, st in found:
            lower = name.lower()
            if lower.endswith(_SIDECAR_ENDINGS):
                kind = sidecar_kind(name)
                if kind is None:
                    continue
            else:
                kind = None
            if sidecars is None:
                sidecars, models_of, _ = self.per_folder.setdefault(folder, ([], [], rel))
            fe = FileEntry(entry.path, name, f"{rel}/{name}" if rel else name, st.st_size, st.st_mtime_ns, external)
            files += 1
            if kind is not None:
                sidecars.append((kind[0], kind[1], fe))
            else:
                models_of.append(fe)  # type: ignore[union-attr]
                scan_models[fe.path] = fe
                models += 1
        self.files_found += files
        self.entered += files
        return files, models

    def _linked_file(self, entry: os.DirEntry[str], folder: str, rel: str, external: bool) -> None:
        if not is_model_name(entry.name) and sidecar_kind(entry.name) is None:
            return
        st = self._file_problem(entry, True)
        if st is None:
            return
        ident = (st.st_dev, st.st_ino)
        if ident in self.walk.seen_files:
            self.scan.skipped_links.append(entry.path)
            return
        ext_flag = external or not _inside(entry.path, self.root_real)
        if self._add_found([(entry, entry.name, st)], folder, rel, ext_flag)[0]:
            self.walk.seen_files.add(ident)
            if ext_flag and not external:
                self.scan.external.append(entry.path)


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
