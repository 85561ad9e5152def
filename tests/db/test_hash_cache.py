from __future__ import annotations

import os
from pathlib import Path

from lora_manager_gui.core.hashing import CachedHash
from lora_manager_gui.db import hash_cache
from lora_manager_gui.db.database import close_database, open_database
from lora_manager_gui.db.fields import utc_now


def _entry(path: Path, sha: str = "A" * 64) -> CachedHash:
    st = path.stat()
    return CachedHash(str(path), st.st_size, st.st_mtime_ns, sha, None, utc_now())


def test_hit_after_reopening_the_database(db_path: Path, tmp_path: Path) -> None:
    f = tmp_path / "m.safetensors"
    f.write_bytes(b"x" * 10)
    db = open_database(db_path)
    hash_cache.put(_entry(f))
    close_database(db)
    db = open_database(db_path)
    try:
        st = f.stat()
        hit = hash_cache.get(str(f), st.st_size, st.st_mtime_ns)
        assert hit is not None and hit.sha256 == "A" * 64 and hit.hashed_at.tzinfo is not None
        assert not hit.autov3_checked
    finally:
        close_database(db)


def test_size_or_mtime_mismatch_is_a_miss(library_db, tmp_path: Path) -> None:
    f = tmp_path / "m.safetensors"
    f.write_bytes(b"x" * 10)
    hash_cache.put(_entry(f))
    st = f.stat()
    assert hash_cache.get(str(f), st.st_size + 1, st.st_mtime_ns) is None
    assert hash_cache.get(str(f), st.st_size, st.st_mtime_ns + 1) is None
    assert hash_cache.get(str(f) + "x", st.st_size, st.st_mtime_ns) is None


def test_autov3_states(library_db, tmp_path: Path) -> None:
    f = tmp_path / "m.pt"
    f.write_bytes(b"x")
    hash_cache.put(_entry(f))
    st = f.stat()
    assert hash_cache.set_autov3(str(f), st.st_size, st.st_mtime_ns, None)
    hit = hash_cache.get(str(f), st.st_size, st.st_mtime_ns)
    assert hit is not None and hit.autov3 is None and hit.autov3_checked
    assert hash_cache.set_autov3(str(f), st.st_size, st.st_mtime_ns, "c338953e6f16")
    assert hash_cache.get(str(f), st.st_size, st.st_mtime_ns).autov3 == "C338953E6F16"
    assert not hash_cache.set_autov3(str(f), st.st_size + 1, st.st_mtime_ns, "X")


def test_stats_count_stale_entries_and_bytes(library_db, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"{i}.safetensors"
        f.write_bytes(b"y" * (100 + i))
        files.append(f)
    hash_cache.put_many(_entry(f) for f in files)
    files[0].unlink()
    st = files[1].stat()
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    stats = hash_cache.stats()
    assert (stats.entries, stats.stale_entries, stats.bytes_covered) == (3, 2, 102)
    assert hash_cache.prune_stale() == 2
    assert hash_cache.stats().entries == 1


def test_invalidate_delete_and_clear(library_db, tmp_path: Path) -> None:
    paths = []
    for i in range(500):  # more than one chunk
        f = tmp_path / f"{i}.bin"
        f.write_bytes(b"z")
        paths.append(f)
    assert hash_cache.put_many(_entry(f) for f in paths) == 500
    assert hash_cache.invalidate(str(paths[0])) is True
    assert hash_cache.invalidate(str(paths[0])) is False
    assert hash_cache.delete(str(p) for p in paths[1:11]) == 10
    assert len(hash_cache.get_many([str(p) for p in paths])) == 489
    assert hash_cache.clear() == 489
    assert hash_cache.stats().entries == 0
