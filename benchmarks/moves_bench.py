"""Outside-move benchmark (issue 17): a library of N model files with CivitAI JSON sidecars, all
moved by another tool (every top folder renamed into a new parent), then re-imported; compared
with an unchanged re-import of the same library.

    python benchmarks/moves_bench.py [--files 10000] [--keep DIR]

Goal: the re-import that recognises the move of every file (rows re-keyed, nothing parsed or
hashed again) takes <= 2x an unchanged re-import. Each figure is the best of ROUNDS rounds; the
library moves back and forth between the two places, one round each way. The page cache is warm.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 5

_PROJECT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, _PROJECT)
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT, os.environ.get("PYTHONPATH")]))


def move_tree(root: Path, into: str | None) -> None:
    """Rename every top folder of `root` into `root/into` (or back out of it when `into` is None)."""
    if into is not None:
        (root / into).mkdir(exist_ok=True)
        for child in sorted(root.iterdir()):
            if child.name != into:
                os.rename(child, root / into / child.name)
    else:
        parent = next(p for p in root.iterdir() if p.is_dir() and p.name == "moved")
        for child in sorted(parent.iterdir()):
            os.rename(child, root / child.name)
        parent.rmdir()


def main() -> int:
    from import_bench import build_library, import_once, settle

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--keep", metavar="DIR", help="build the library in DIR and keep it")
    args = parser.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lora-moves-bench-"))
    root = base / "library"
    build_library(root, args.files)

    from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool

    pool = WorkPool()
    db = DatabaseExecutor(base / "bench.sqlite3")
    try:
        cold = asyncio.run(import_once(db, pool, root))
        assert cold.imported == args.files and cold.failed == 0, cold.to_json()["errors"][:3]
        settle()
        unchanged, moved = [], []
        for i in range(args.rounds):
            start = time.perf_counter()
            again = asyncio.run(import_once(db, pool, root))
            unchanged.append(time.perf_counter() - start)
            assert again.unchanged == args.files and again.imported == again.updated == 0 and not again.moved
            move_tree(root, "moved" if i % 2 == 0 else None)
            settle()
            start = time.perf_counter()
            report = asyncio.run(import_once(db, pool, root))
            moved.append(time.perf_counter() - start)
            assert len(report.moved) == args.files and report.imported == report.updated == 0, report.to_json()["errors"][:3]
            assert report.missing == [] and report.unchanged == args.files
    finally:
        pool.close()
        db.close()
    t_unchanged, t_moved = min(unchanged), min(moved)
    ratio = t_moved / t_unchanged
    print(f"unchanged re-import (best of {args.rounds})   {t_unchanged * 1000:9.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in unchanged)} ms)")
    print(f"re-import after moving all {args.files} {t_moved * 1000:9.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in moved)} ms)")
    print(f"moved / unchanged = {ratio:5.2f}x  (goal <= 2x)  {'MET' if ratio <= 2 else 'NOT MET'}")
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
