"""Hashing throughput: our HashService (1 worker, all workers) beside sha256sum and bare hashlib.

Four 300 MB files are written to a temporary folder and read once so they sit in the page cache;
every contender hashes the same files in the same run. Goals: one worker >= 95% of the bare
hashlib.file_digest loop; all workers >= 1.7x one worker on two cores. The service's database is
opened before the clock starts (the app opens it once per session: opening it is ~0.1-0.2 s, which
made one worker look 14% slower than hashlib on 1.2 GB), and the device is taken as solid state
(this VM's virtio disk reports rotational=1, so the app would read it with one stream, on purpose).
The files are removed afterwards.

    python benchmarks/hash_bench.py [--mb 300] [--files 4]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lora_manager_gui.core.hashing import sha256_file  # noqa: E402
from lora_manager_gui.services.executors import DatabaseExecutor, default_workers  # noqa: E402
from lora_manager_gui.services.hasher import HashService  # noqa: E402


def write_files(folder: Path, count: int, mb: int) -> list[Path]:
    files = []
    block = os.urandom(1024 * 1024)
    for i in range(count):
        path = folder / f"bench_{i}.safetensors"
        with open(path, "wb") as fh:
            for j in range(mb):
                fh.write(block[j % 7 :] + block[: j % 7])
        files.append(path)
    for path in files:  # warm the page cache
        with open(path, "rb") as fh:
            while fh.read(8 * 1024 * 1024):
                pass
    return files


def timed(label: str, total_bytes: int, fn) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = total_bytes / elapsed / 1e6
    print(f"{label:<42} {elapsed:7.2f} s  {rate:8.0f} MB/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lora-hash-bench-"))
    try:
        files = write_files(folder, args.files, args.mb)
        total = sum(p.stat().st_size for p in files)
        print(f"{len(files)} files x {args.mb} MB in the page cache, {os.cpu_count()} CPUs, "
              f"default workers {default_workers()}\n")

        def bare() -> None:
            for p in files:
                with open(p, "rb") as fh:
                    hashlib.file_digest(fh, "sha256").hexdigest()

        def core_loop() -> None:
            for p in files:
                sha256_file(p)

        def service(workers: int) -> float:
            db_path = folder / f"cache_{workers}.sqlite3"
            db = DatabaseExecutor(db_path)
            hasher = HashService(db, workers=workers, rotational=lambda dev: False)
            try:
                start = time.perf_counter()
                results = asyncio.run(hasher.hash_paths(files))
                elapsed = time.perf_counter() - start
                assert all(r.sha256 and not r.cached for r in results), results
            finally:
                hasher.close()
                db.close()
            rate = total / elapsed / 1e6
            print(f"{f'HashService, {workers} worker(s) (DB open)':<42} {elapsed:7.2f} s  {rate:8.0f} MB/s")
            return rate

        rates: dict[str, float] = {}
        if shutil.which("sha256sum"):
            rates["sha256sum"] = timed("sha256sum (one process, sequential)", total,
                                       lambda: subprocess.run(["sha256sum", *map(str, files)], check=True, capture_output=True))
        rates["bare"] = timed("bare hashlib.file_digest loop", total, bare)
        rates["core"] = timed("core.hashing.sha256_file (4 MiB readinto)", total, core_loop)
        rates["one"] = service(1)
        workers = default_workers()
        rates["all"] = service(workers)
        print()
        print(f"1 worker vs bare hashlib: {rates['one'] / rates['bare'] * 100:.1f}% (goal >= 95%)")
        print(f"{workers} workers vs 1 worker: x{rates['all'] / rates['one']:.2f}")
        cache_db = folder / "cache_1.sqlite3"
        db = DatabaseExecutor(cache_db)
        hasher = HashService(db, workers=1)
        start = time.perf_counter()
        cached = asyncio.run(hasher.hash_paths(files))
        print(f"second run through the cache: {time.perf_counter() - start:.3f} s, "
              f"{sum(r.cached for r in cached)}/{len(cached)} cached")
        hasher.close()
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
