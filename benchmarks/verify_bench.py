"""Integrity-scan benchmark: `verify` (no --deep) of N imported model files against an unchanged
re-import of the same library, in one run.

    python benchmarks/verify_bench.py [--files 10000] [--keep DIR]

Goal (issue 18): verify of 10,000 files without --deep <= 2x an unchanged re-import. Every
figure is the best of ROUNDS rounds, the two passes alternating, with a warm page cache (the tree
was just written), so what is compared is the CPU work each adds: verify reads every header and
compares sizes; the re-import stats every file and skips unchanged folders.
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
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT, os.environ.get("PYTHONPATH")]))

sys.path.insert(0, str(Path(__file__).resolve().parent))


def list_true_sizes(root: Path) -> None:
    """The sidecars list the files' real sizes, as CivitAI would: a whole library has no findings."""
    import json

    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(".json"):
                path = Path(folder) / name
                data = json.loads(path.read_text("utf-8"))
                model = Path(folder) / (name[:-5] + ".safetensors")
                data["modelVersions"][0]["files"][0]["sizeKB"] = model.stat().st_size / 1024
                path.write_text(json.dumps(data, indent=2), "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--keep", metavar="DIR", help="build the library here and keep it")
    args = parser.parse_args()
    from import_bench import build_library  # noqa: E402 (the same synthetic library as the import benchmark)

    from lora_manager_gui.services.executors import DatabaseExecutor
    from lora_manager_gui.services.importer import run_import
    from lora_manager_gui.services.library import Library, LibrarySettings
    from lora_manager_gui.services.verify import verify

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="verify-bench-"))
    root = base / "library"
    if not root.exists():
        t = time.perf_counter()
        build_library(root, args.files)
        list_true_sizes(root)
        print(f"built {args.files:,} files in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    async def run() -> tuple[float, float, int, int]:
        library = Library(DatabaseExecutor(base / "bench.sqlite3"), LibrarySettings())
        try:
            await run_import(library.db, [root], pool=library.pool)  # the library as the user has it
            best_import = best_verify = float("inf")
            checked = findings = 0
            for _ in range(args.rounds):
                t = time.perf_counter()
                await run_import(library.db, [root], pool=library.pool)
                best_import = min(best_import, time.perf_counter() - t)
                t = time.perf_counter()
                report = await verify(library, [str(root)])
                best_verify = min(best_verify, time.perf_counter() - t)
                checked, findings = report.files, len(report.findings)
            return best_import, best_verify, checked, findings
        finally:
            await library.aclose()

    reimport, verified, checked, findings = asyncio.run(run())
    ratio = verified / reimport if reimport else float("inf")
    print(f"files checked:        {checked:,} ({findings} findings)")
    print(f"unchanged re-import:  {reimport * 1000:8.1f} ms")
    print(f"verify (no --deep):   {verified * 1000:8.1f} ms")
    print(f"ratio verify/import:  {ratio:8.2f}x  (goal <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
