"""The persistent hash cache: path -> size, mtime_ns, sha256, autov3, hashed_at.

An entry is trusted only while the file still has the recorded size and mtime_ns, so an unchanged
library is never hashed twice, even across restarts. Run these functions on the database thread.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lora_manager_gui.core.hashing import CachedHash
from lora_manager_gui.db.fields import to_utc_text, utc_now
from lora_manager_gui.db.models import HashCacheEntry, database_proxy

CHUNK = 400  # rows per statement, well below SQLite's variable limit


@dataclass
class HashCacheStats:
    entries: int
    stale_entries: int  # the file vanished or its size/mtime changed since it was hashed
    bytes_covered: int  # total size of the files whose entries are still valid
    with_autov3: int

    def to_json(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "stale_entries": self.stale_entries,
            "bytes_covered": self.bytes_covered,
            "with_autov3": self.with_autov3,
        }


def _to_cached(row: HashCacheEntry) -> CachedHash:
    return CachedHash(
        path=row.path,
        size_bytes=row.size_bytes,
        mtime_ns=row.mtime_ns,
        sha256=row.sha256,
        autov3=row.autov3 or None,
        hashed_at=row.hashed_at,
        autov3_checked=row.autov3 is not None,
    )


def get(path: str, size_bytes: int, mtime_ns: int) -> CachedHash | None:
    """The entry for `path`, only if it was made for a file of this size and mtime_ns."""
    row = HashCacheEntry.get_or_none(HashCacheEntry.path == path)
    if row is None or row.size_bytes != size_bytes or row.mtime_ns != mtime_ns:
        return None
    return _to_cached(row)


def get_any(path: str) -> CachedHash | None:
    """The entry for `path` whether or not it is still valid (for display and tools)."""
    row = HashCacheEntry.get_or_none(HashCacheEntry.path == path)
    return None if row is None else _to_cached(row)


def get_many(paths: Sequence[str]) -> dict[str, CachedHash]:
    """Entries for many paths (unvalidated: compare size and mtime_ns yourself)."""
    found: dict[str, CachedHash] = {}
    for start in range(0, len(paths), CHUNK):
        chunk = list(paths[start : start + CHUNK])
        for row in HashCacheEntry.select().where(HashCacheEntry.path.in_(chunk)):
            found[row.path] = _to_cached(row)
    return found


def _row(entry: CachedHash) -> tuple[object, ...]:
    autov3: str | None
    if entry.autov3:
        autov3 = entry.autov3.upper()
    else:
        autov3 = "" if entry.autov3_checked else None
    return (entry.path, entry.size_bytes, entry.mtime_ns, entry.sha256.upper(), autov3,
            to_utc_text(entry.hashed_at or utc_now()))


def put(entry: CachedHash) -> None:
    """Insert or replace the entry for entry.path."""
    put_many([entry])


def put_many(entries: Iterable[CachedHash]) -> int:
    """Insert or replace many entries in one transaction (one prepared statement: a batch of
    hashes costs microseconds per row, not a peewee query per chunk)."""
    rows = [_row(e) for e in entries]
    if not rows:
        return 0
    with database_proxy.atomic():
        database_proxy.cursor().executemany(
            "INSERT OR REPLACE INTO hash_cache (path, size_bytes, mtime_ns, sha256, autov3, hashed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def seed_from_sidecars(entries: Iterable[tuple[str, int, int, str]]) -> int:
    """Entries (path, size_bytes, mtime_ns, sha256) for model files whose SHA-256 a sidecar knows
    (Lora Manager, Stability Matrix, sd-civitai-browser-plus: ImportItem.file_sha256), so they are
    not hashed to be identified. An entry still valid for the file (same size and mtime_ns, from
    hashing or an earlier seed) is never replaced; a stale one is. Run inside the caller's transaction."""
    rows = [(path, size, mtime, sha.upper()) for path, size, mtime, sha in entries if sha and len(sha) == 64]
    if not rows:
        return 0
    now = to_utc_text(utc_now())
    cursor = database_proxy.cursor()
    cursor.executemany(
        "INSERT INTO hash_cache (path, size_bytes, mtime_ns, sha256, autov3, hashed_at) VALUES (?, ?, ?, ?, NULL, ?)"
        " ON CONFLICT (path) DO UPDATE SET size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns,"
        " sha256 = excluded.sha256, autov3 = NULL, hashed_at = excluded.hashed_at"
        " WHERE hash_cache.size_bytes <> excluded.size_bytes OR hash_cache.mtime_ns <> excluded.mtime_ns",
        [(*row, now) for row in rows],
    )
    return len(rows)


def set_autov3(path: str, size_bytes: int, mtime_ns: int, autov3: str | None) -> bool:
    """Record AutoV3 for a still-valid entry ('' when the file has none). False if no such entry."""
    value = autov3.upper() if autov3 else ""
    updated = (
        HashCacheEntry.update(autov3=value)
        .where(
            (HashCacheEntry.path == path)
            & (HashCacheEntry.size_bytes == size_bytes)
            & (HashCacheEntry.mtime_ns == mtime_ns)
        )
        .execute()
    )
    return bool(updated)


def invalidate(path: str) -> bool:
    """Forget the entry for `path`. True if there was one."""
    return bool(HashCacheEntry.delete().where(HashCacheEntry.path == path).execute())


def delete(paths: Iterable[str]) -> int:
    paths = list(paths)
    removed = 0
    with database_proxy.atomic():
        for start in range(0, len(paths), CHUNK):
            removed += HashCacheEntry.delete().where(HashCacheEntry.path.in_(paths[start : start + CHUNK])).execute()
    return removed


def paths_for_sha256(sha256: str) -> list[str]:
    return [r.path for r in HashCacheEntry.select(HashCacheEntry.path).where(HashCacheEntry.sha256 == sha256.upper())]


def _hex_prefix(prefix: str) -> str | None:
    value = prefix.strip().upper()
    return value if value and all(c in "0123456789ABCDEF" for c in value) else None


def paths_for_autov3(prefix: str) -> list[str]:
    """Paths whose AutoV3 starts with `prefix` (any case; A1111's `Lora hashes` give 12 hex).
    Entries whose AutoV3 was never computed (NULL) or that have none ('') never match: the
    caller decides whether to compute it. Not validated against the file: compare size/mtime_ns."""
    value = _hex_prefix(prefix)
    if value is None:  # hex only, so the LIKE pattern below holds no wildcard
        return []
    query = HashCacheEntry.select(HashCacheEntry.path).where(HashCacheEntry.autov3.startswith(value))
    return [r.path for r in query.order_by(HashCacheEntry.path)]


def paths_for_sha256_prefix(prefix: str) -> list[str]:
    """Paths whose SHA-256 starts with `prefix` (any case): AutoV2 is its first 10 hex."""
    value = _hex_prefix(prefix)
    if value is None:
        return []
    query = HashCacheEntry.select(HashCacheEntry.path).where(HashCacheEntry.sha256.startswith(value))
    return [r.path for r in query.order_by(HashCacheEntry.path)]


def stats(*, check_files: bool = True) -> HashCacheStats:
    """Count entries; with check_files, stat every file to count stale entries and valid bytes."""
    entries = stale = covered = autov3 = 0
    query = HashCacheEntry.select(
        HashCacheEntry.path, HashCacheEntry.size_bytes, HashCacheEntry.mtime_ns, HashCacheEntry.autov3
    ).tuples()
    for path, size, mtime_ns, v3 in query.iterator():
        entries += 1
        if v3:
            autov3 += 1
        if not check_files:
            covered += size
            continue
        try:
            st = os.stat(path)
        except OSError:
            stale += 1
            continue
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            stale += 1
        else:
            covered += size
    return HashCacheStats(entries=entries, stale_entries=stale, bytes_covered=covered, with_autov3=autov3)


def prune_stale() -> int:
    """Delete entries whose file vanished or changed. Returns how many were removed."""
    stale: list[str] = []
    for path, size, mtime_ns in HashCacheEntry.select(
        HashCacheEntry.path, HashCacheEntry.size_bytes, HashCacheEntry.mtime_ns
    ).tuples().iterator():
        try:
            st = os.stat(path)
        except OSError:
            stale.append(path)
            continue
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            stale.append(path)
    return delete(stale)


def clear() -> int:
    """Forget every entry. Returns how many there were."""
    return HashCacheEntry.delete().execute()
