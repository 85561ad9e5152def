"""Speed at scale (issue 15): every figure beside its bare baseline, with its ratio and goal.

    python benchmarks/scale_bench.py [--sizes 10000 30000 70000] [--small 10000] [--mb 300]
                                     [--rounds 3] [--skip import,hash,big,startup]

Figures (each printed MET / NOT MET):
- cold import at each size: per-file time, the largest/smallest per-file ratio (goal <= 1.15), the
  largest vs a bare stat + json.loads pass (goal <= 3x), bytes written by this process
  (/proc/self/io wchar: SQLite writes here) vs the final database size (goal <= 2x);
- unchanged re-import at each size vs a bare stat walk (goal <= 3x);
- import + hash of --small small model files with no sidecars vs a bare walk + read + hashlib pass
  (goal <= 3x), with the pool hand-offs and cache transactions it took;
- hashing 4 x --mb MB in the page cache: 1 worker vs bare hashlib.file_digest (goal >= 0.95),
  2 workers vs 1 worker on a device taken as non-rotational (goal >= 1.7);
- start-up of `lora-manager cache stats` (goal <= 0.15 s) beside `python -c pass`;
- peak memory of the process tree (this process and its children, proportional set size where
  /proc/PID/smaps_rollup is readable, else RSS) during the largest cold import (goal <= 300 MB).

Every pass runs on a warm page cache (the files were just written): the figures compare CPU work.
Sizes reuse benchmarks/import_bench.py's library builder; everything is removed afterwards.
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
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
import import_bench  # noqa: E402  (puts the project on sys.path and PYTHONPATH for the workers)

# As in import_bench: the project is imported inside the functions, since the import's worker
# processes import this module as their main module.

MB = 1_000_000


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def best(rounds: int, fn, *args) -> float:
    return min(import_bench.timed(fn, *args)[0] for _ in range(rounds))


def wchar() -> int:
    with open("/proc/self/io", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


class TreeMemory:
    """Samples the memory of this process and all its descendants every `interval` seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self.kind = "PSS"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.sample())

    @staticmethod
    def _children(pid: int) -> list[int]:
        out: list[int] = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                    out.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
        return out

    def _memory(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        self.kind = "RSS"
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def sample(self) -> int:
        total, stack, seen = 0, [os.getpid()], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            total += self._memory(pid)
            stack.extend(self._children(pid))
        return total


def bench_import(base: Path, sizes: list[int], rounds: int) -> None:
    from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool

    print("== import ==")
    pool = WorkPool()
    per_file: dict[int, float] = {}
    try:
        for n in sizes:
            root = base / f"lib{n}"
            t_build, _ = import_bench.timed(import_bench.build_library, root, n)
            import_bench.settle()
            parse = best(rounds, import_bench.bare_stat_and_parse, root)
            db_path = base / f"import{n}.sqlite3"
            db = DatabaseExecutor(db_path)
            before = wchar()
            with TreeMemory() as memory:
                start = time.perf_counter()
                cold = asyncio.run(import_bench.import_once(db, pool, root))
                t_cold = time.perf_counter() - start
            written = wchar() - before
            assert cold.imported == n and cold.failed == 0, cold.to_json()["errors"][:3]
            import_bench.settle()
            walk = best(rounds, import_bench.bare_stat_walk, root)
            t_again = min(import_bench.timed(asyncio.run, import_bench.import_once(db, pool, root))[0]
                          for _ in range(rounds))
            db.close()
            size = sum(p.stat().st_size for p in base.glob(f"import{n}.sqlite3*"))
            per_file[n] = t_cold / n
            print(f"{n:>7} files (built in {t_build:.0f} s)")
            print(f"  cold import          {t_cold:8.2f} s  {t_cold / n * 1e6:6.0f} us/file   "
                  f"bare stat + json.loads {parse:6.2f} s  ratio {t_cold / parse:5.2f}x (goal <= 3x)  "
                  f"{verdict(t_cold / parse <= 3)}")
            print(f"  bytes written        {written / MB:8.1f} MB   database {size / MB:6.1f} MB  "
                  f"ratio {written / max(size, 1):5.2f}x (goal <= 2x)  {verdict(written <= 2 * size)}")
            print(f"  unchanged re-import  {t_again:8.2f} s   bare stat walk {walk:6.2f} s  "
                  f"ratio {t_again / walk:5.2f}x (goal <= 3x)  {verdict(t_again <= 3 * walk)}")
            print(f"  peak memory (process tree, {memory.kind}) {memory.peak / MB:6.0f} MB (goal <= 300 MB)  "
                  f"{verdict(memory.peak <= 300 * MB)}")
            shutil.rmtree(root, ignore_errors=True)
            for leftover in base.glob(f"import{n}.sqlite3*"):
                leftover.unlink()
    finally:
        pool.close()
    if len(per_file) > 1:
        small, large = min(per_file), max(per_file)
        growth = per_file[large] / per_file[small]
        print(f"  per-file time {large} vs {small}: {growth:.2f}x (goal <= 1.15)  {verdict(growth <= 1.15)}")


def build_small(root: Path, n: int, size: int = 4096) -> list[Path]:
    from lora_manager_gui.core.safetensors import write_safetensors

    files = []
    for i in range(n):
        folder = root / f"folder{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"small_{i:05d}.safetensors"
        write_safetensors(path, {"w": os.urandom(size)}, {"ss_output_name": path.stem})
        files.append(path)
    return files


def bare_read_and_hash(root: Path) -> int:
    count, stack = 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir():
                    stack.append(entry.path)
                    continue
                with open(entry.path, "rb") as fh:
                    hashlib.sha256(fh.read()).hexdigest()
                count += 1
    return count


def bench_small_hash(base: Path, n: int, rounds: int) -> None:
    from lora_manager_gui.core.hashing import model_files_under
    from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
    from lora_manager_gui.services.hasher import HashService

    print(f"== import + hash of {n} small files, no sidecars ==")
    root = base / "small"
    build_small(root, n)
    import_bench.settle()
    bare = best(rounds, bare_read_and_hash, root)
    pool = WorkPool()
    times, counts = [], (0, 0)
    try:
        for i in range(rounds):
            db = DatabaseExecutor(base / f"small{i}.sqlite3")
            hasher = HashService(db)
            try:
                start = time.perf_counter()
                asyncio.run(import_bench.import_once(db, pool, root))
                results = asyncio.run(hasher.hash_paths(model_files_under(root)))
                times.append(time.perf_counter() - start)
                assert len(results) == n and all(r.ok and not r.cached for r in results)
                counts = (hasher.submissions, hasher.cache_writes)
            finally:
                hasher.close()
                db.close()
    finally:
        pool.close()
    t = min(times)
    print(f"  import + hash        {t:8.2f} s   bare walk + read + hashlib {bare:6.2f} s  ratio {t / bare:5.2f}x "
          f"(goal <= 3x)  {verdict(t <= 3 * bare)}")
    print(f"  pool hand-offs {counts[0]}, cache transactions {counts[1]} for {n} files")
    shutil.rmtree(root, ignore_errors=True)


def bench_big_hash(base: Path, mb: int, files: int, rounds: int) -> None:
    from hash_bench import write_files

    from lora_manager_gui.services.executors import DatabaseExecutor
    from lora_manager_gui.services.hasher import HashService, is_rotational_device

    print(f"== hashing {files} x {mb} MB in the page cache ==")
    folder = base / "big"
    folder.mkdir()
    paths = write_files(folder, files, mb)
    total = sum(p.stat().st_size for p in paths)
    rotational = is_rotational_device(os.stat(folder).st_dev)

    def bare() -> None:
        for p in paths:
            with open(p, "rb") as fh:
                hashlib.file_digest(fh, "sha256").hexdigest()

    def service(workers: int, i: int) -> float:
        # The database is open before the clock starts, as in the app (opened once per session).
        db = DatabaseExecutor(folder / f"cache_{workers}_{i}.sqlite3")
        hasher = HashService(db, workers=workers, rotational=lambda dev: False)
        try:
            start = time.perf_counter()
            results = asyncio.run(hasher.hash_paths(paths))
            elapsed = time.perf_counter() - start
            assert all(r.ok and not r.cached for r in results)
            return elapsed
        finally:
            hasher.close()
            db.close()

    t_bare = best(rounds, bare)
    t_one = min(service(1, i) for i in range(rounds))
    t_two = min(service(2, i) for i in range(rounds))
    r_one, r_two = t_bare / t_one, t_one / t_two
    print(f"  bare file_digest     {t_bare:8.2f} s  {total / t_bare / MB:6.0f} MB/s")
    print(f"  1 worker             {t_one:8.2f} s  {total / t_one / MB:6.0f} MB/s  vs bare {r_one:5.2f} "
          f"(goal >= 0.95)  {verdict(r_one >= 0.95)}")
    print(f"  2 workers            {t_two:8.2f} s  {total / t_two / MB:6.0f} MB/s  vs 1 worker {r_two:5.2f}x "
          f"(goal >= 1.7, {os.cpu_count()} CPUs)  {verdict(r_two >= 1.7)}")
    print(f"  (the device of these files reports rotational={rotational}: the app reads it with "
          f"{'one stream' if rotational else 'all workers'}; measured here as non-rotational)")
    shutil.rmtree(folder, ignore_errors=True)


def bench_startup(base: Path, rounds: int) -> None:
    print("== start-up ==")
    env = dict(os.environ, LORA_MANAGER_DB=str(base / "startup.sqlite3"))
    command = [sys.executable, "-m", "lora_manager_gui", "cache", "stats"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # creates the database

    def run(cmd: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    n = max(rounds, 5)
    python = min(run([sys.executable, "-c", "pass"]) for _ in range(n))
    stats = min(run(command) for _ in range(n))
    print(f"  cache stats          {stats:8.3f} s   python -c pass {python:6.3f} s  (+{stats - python:.3f} s) "
          f"(goal <= 0.15 s)  {verdict(stats <= 0.15)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 70_000])
    parser.add_argument("--small", type=int, default=10_000, help="small files for the import + hash figure")
    parser.add_argument("--mb", type=int, default=300, help="size of each large file")
    parser.add_argument("--big-files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best of this many runs")
    parser.add_argument("--skip", default="", help="comma-separated: import, hash, big, startup")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    base = Path(tempfile.mkdtemp(prefix="lora-scale-bench-"))
    print(f"{os.cpu_count()} CPUs, sizes {args.sizes}, best of {args.rounds}\n")
    try:
        if "startup" not in skip:
            bench_startup(base, args.rounds)
        if "hash" not in skip:
            bench_small_hash(base, args.small, args.rounds)
        if "big" not in skip:
            bench_big_hash(base, args.mb, args.big_files, args.rounds)
        if "import" not in skip:
            bench_import(base, sorted(args.sizes), args.rounds)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
