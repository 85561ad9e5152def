"""Database failures with real processes and a real SQLite file: a write lock held by another
process, concurrent writers that read before they write, and a full disk (a small tmpfs)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lora_manager_gui.core.errors import DatabaseLockedError, DiskFullError
from lora_manager_gui.core.hashing import CachedHash
from lora_manager_gui.db import hash_cache
from lora_manager_gui.db.database import ENV_BUSY_TIMEOUT, close_database, open_database
from lora_manager_gui.services.executors import DatabaseExecutor

# Holds the write lock of argv[1] from "locked" until its standard input says "release".
HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    print("released", flush=True)
""")


def _entries(n: int, size: int = 0) -> list[CachedHash]:
    now = datetime.now(timezone.utc)
    pad = "x" * size
    return [CachedHash(f"/models/{i:06d}{pad}.safetensors", 1000 + i, i, f"{i:064X}", None, now) for i in range(n)]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library.sqlite3"
    db = open_database(path)
    hash_cache.put_many(_entries(3))
    close_database(db)
    return path


def _cli(db: Path, *args: str, timeout_s: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if timeout_s is not None:
        env[ENV_BUSY_TIMEOUT] = timeout_s
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _hold(db: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    holder.wait(timeout=30)


def test_cache_clear_while_another_process_holds_the_lock_is_a_clear_error(library: Path) -> None:
    holder = _hold(library)
    try:
        result = _cli(library, "cache", "clear", timeout_s="0.5")
    finally:
        _release(holder)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "OperationalError" not in result.stderr
    assert "is busy" in result.stderr and "held its write lock for over 0.5 s" in result.stderr
    # nothing was lost, and once the lock is free the same command works
    again = _cli(library, "cache", "clear", "--json")
    assert again.returncode == 0, again.stderr
    assert '"removed": 3' in again.stdout


def test_executor_reports_a_held_lock_as_database_locked(library: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_BUSY_TIMEOUT, "0.3")
    executor = DatabaseExecutor(library)
    holder = _hold(library)
    try:
        with pytest.raises(DatabaseLockedError) as caught:
            executor.call_sync(hash_cache.put_many, _entries(1))
    finally:
        _release(holder)
        executor.close()
    assert caught.value.error_class == "database_locked"


# Reads, then writes, in one transaction: what a repository function does (look up, then upsert).
READ_THEN_WRITE = textwrap.dedent("""
    import sys
    from lora_manager_gui.db import hash_cache
    from lora_manager_gui.db.database import open_database
    from lora_manager_gui.db.models import HashCacheEntry, database_proxy
    from tests.db.test_database_errors import _entries
    db = open_database(sys.argv[1])
    print("open", flush=True)
    sys.stdin.readline()
    with database_proxy.atomic():
        before = HashCacheEntry.select().count()
        hash_cache.put_many(_entries(1, size=1))
    print("wrote", before, flush=True)
""")


def test_a_writer_that_reads_first_waits_for_the_lock_instead_of_failing(library: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", READ_THEN_WRITE, str(library)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "open"
    holder = _hold(library)
    # another process commits while the writer is in its transaction: with a deferred BEGIN its
    # read-to-write upgrade failed at once ("database is locked") instead of waiting
    writer.stdin.write("go\n")
    writer.stdin.flush()
    time.sleep(0.5)  # not a measurement: gives the writer time to reach its lock wait
    holder.stdin.write("release\n")  # type: ignore[union-attr]
    holder.stdin.flush()  # type: ignore[union-attr]
    holder.wait(timeout=30)
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert out.strip() == "wrote 3"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MiB tmpfs mounted for this test (needs root and permission to mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_is_reported_as_disk_full(small_disk: Path) -> None:
    path = small_disk / "library.sqlite3"
    executor = DatabaseExecutor(path)
    try:
        executor.call_sync(hash_cache.put_many, _entries(10))
        _fill(small_disk)
        with pytest.raises(DiskFullError) as caught:
            for _ in range(50):  # the WAL takes what the filler left, then the disk is full
                executor.call_sync(hash_cache.put_many, _entries(200, size=200))
    finally:
        executor.close()
    message = str(caught.value)
    assert caught.value.error_class == "disk_full"
    assert "is full" in message and "cannot rollback" not in message
    assert str(path) in message


def test_cache_clear_on_a_full_disk_says_so_and_works_once_there_is_room(small_disk: Path) -> None:
    path = small_disk / "library.sqlite3"
    db = open_database(path)
    hash_cache.put_many(_entries(400, size=100))
    close_database(db)
    filler = _fill(small_disk)
    result = _cli(path, "cache", "clear")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "is full" in result.stderr and "cannot rollback" not in result.stderr
    filler.unlink()
    again = _cli(path, "cache", "clear", "--json")
    assert again.returncode == 0, again.stderr
    assert '"removed": 400' in again.stdout
