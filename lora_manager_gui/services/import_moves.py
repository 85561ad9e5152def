"""Files moved outside the app (Explorer, `mv`, another tool), recognised by the next import.

A stored model file the complete walk of its root no longer found ("vanished") and a model file the
walk found that the library does not hold ("new") are the same file when:

1. their size and mtime_ns are equal and no other vanished or new file of the root has that same
   (size, mtime_ns): a rename or a move keeps both, a move across volumes by `mv`, Explorer or
   rsync -t keeps them too, and a change of the content changes the mtime; or
2. their size is equal and their content fingerprints are equal, when the vanished file's
   fingerprint is stored (files that shared their (size, mtime_ns) with another file when they
   were stored get one: `collisions_to_print`, so two such files are told apart).

The fingerprint (`fingerprint`) reads the first 64 KiB, a 64 KiB block in the middle and the size,
hashed with BLAKE2b: it is computed only for new files whose size equals a vanished one's and
that rule 1 did not settle. Nothing is hashed with SHA-256: the matched rows are re-keyed by
`db/file_rows.apply_moves` (library_file, adapter paths, hash cache, import_source), so the
adapter id, the user's data (keyed by it), the hash cache entry and CivitAI's answers (keyed by
SHA-256) stay.

A model file moved with its sidecars keeps its adapter: the sidecars' paths follow the model's
(same names with the model's old base name replaced by its new one).
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lora_manager_gui.core.discovery import FileEntry, SidecarGroup
from lora_manager_gui.db.file_rows import RowMove

BLOCK = 64 * 1024


def fingerprint(path: str, size: int) -> str | None:
    """BLAKE2b of the first 64 KiB, a 64 KiB block from the middle and the size; None if unreadable."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            h.update(f.read(BLOCK))
            if size > 2 * BLOCK:
                f.seek(size // 2)
                h.update(f.read(BLOCK))
    except OSError:
        return None
    h.update(size.to_bytes(8, "little"))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Vanished:
    path: str
    size: int
    mtime_ns: int
    fingerprint: str | None = None


@dataclass
class MoveMatch:
    """The pairs found (vanished path -> new path) and the fingerprints computed on the way."""

    moves: list[tuple[str, str]] = field(default_factory=list)
    printed: dict[str, str] = field(default_factory=dict)  # new path -> fingerprint


def match_moves(vanished: Iterable[Vanished], new: Iterable[FileEntry]) -> MoveMatch:
    """Pair vanished and new files by the rules of the module docstring (pure but for reading
    the fingerprints of candidates). Every file is in one pair at most."""
    out = MoveMatch()
    by_size: dict[int, list[Vanished]] = defaultdict(list)
    for v in vanished:
        by_size[v.size].append(v)
    candidates = [e for e in new if e.size in by_size]
    if not candidates:
        return out
    gone_by_stamp: dict[tuple[int, int], list[Vanished]] = defaultdict(list)
    for items in by_size.values():
        for v in items:
            gone_by_stamp[(v.size, v.mtime_ns)].append(v)
    new_by_stamp: dict[tuple[int, int], list[FileEntry]] = defaultdict(list)
    for e in candidates:
        new_by_stamp[(e.size, e.mtime_ns)].append(e)
    taken: set[str] = set()
    rest: list[FileEntry] = []
    for stamp, entries in new_by_stamp.items():
        gone = gone_by_stamp.get(stamp, [])
        if len(entries) == 1 and len(gone) == 1:
            if gone[0].fingerprint is not None:  # known: checked, so a changed content is no match
                fp = fingerprint(entries[0].path, entries[0].size)
                if fp is not None:
                    out.printed[entries[0].path] = fp
                if fp != gone[0].fingerprint:
                    continue
            out.moves.append((gone[0].path, entries[0].path))
            taken.add(gone[0].path)
        else:
            rest.extend(entries)
    for entry in sorted(rest, key=lambda e: e.path):
        printed = [v for v in by_size[entry.size] if v.fingerprint and v.path not in taken]
        if not printed:
            continue
        fp = fingerprint(entry.path, entry.size)
        if fp is None:
            continue
        out.printed[entry.path] = fp
        same = [v for v in printed if v.fingerprint == fp]
        if len(same) == 1 and same[0].path not in taken:
            out.moves.append((same[0].path, entry.path))
            taken.add(same[0].path)
    out.moves.sort()
    return out


def collisions_to_print(models: Mapping[str, FileEntry], fresh: Iterable[str]) -> list[FileEntry]:
    """The walked model files that share their (size, mtime_ns) with another walked file, in the
    groups of such files that hold a file just stored (`fresh`): rule 1 cannot tell them apart
    after a move, so they get a fingerprint when stored (copies made with their mtime kept; rare)."""
    fresh = set(fresh)
    if not fresh:
        return []
    by_stamp: dict[tuple[int, int], list[FileEntry]] = defaultdict(list)
    for entry in models.values():
        by_stamp[(entry.size, entry.mtime_ns)].append(entry)
    return sorted((e for group in by_stamp.values() if len(group) > 1 and any(g.path in fresh for g in group)
                   for e in group), key=lambda e: e.path)


def fingerprints_of(entries: Iterable[FileEntry]) -> dict[str, str]:
    """Fingerprints of `entries` by path (those that could be read)."""
    out: dict[str, str] = {}
    for entry in entries:
        fp = fingerprint(entry.path, entry.size)
        if fp is not None:
            out[entry.path] = fp
    return out


def row_moves(moves: Iterable[tuple[str, str]], groups: Iterable[SidecarGroup]) -> list[RowMove]:
    """The rows to re-key for matched model files, with the sidecars of the group found at the
    new place (their old paths: the same names under the model's old folder and base name)."""
    by_key = {g.key: g for g in groups}
    out: list[RowMove] = []
    for src, dst in moves:
        out.append(RowMove(src, dst, is_model=True, missing=False))
        new_folder, new_name = os.path.split(dst)
        old_folder, old_name = os.path.split(src)
        new_base, old_base = os.path.splitext(new_name)[0], os.path.splitext(old_name)[0]
        group = by_key.get(f"{new_folder}/{new_base}")
        if group is None:
            continue
        for _kind, entry in group.sidecars:
            if entry.name.startswith(new_base):
                out.append(RowMove(os.path.join(old_folder, old_base + entry.name[len(new_base):]), entry.path,
                                   is_model=False))
    return out


def vanished_and_new(stored: Mapping[str, object], models: Mapping[str, FileEntry],
                     seen_elsewhere: set[str]) -> tuple[list[str], list[FileEntry]]:
    """The stored paths the walk did not find (not offline ones) and the walked files not stored.
    `stored` maps paths to library_files.StoredFileState."""
    gone = [p for p in stored if p not in models and p not in seen_elsewhere]
    if not gone:
        return [], []
    return gone, [e for p, e in models.items() if p not in stored]
