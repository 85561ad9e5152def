"""Organize a library by template: N model files, each with a Lora Manager sidecar and a preview,
imported and hashed first, then moved by `{base_model}/{creator}/{name}` on one volume.
Goal: 10,000 files in <= 10 s (the plan, the renames and the rows). Prints the figures.

    python benchmarks/organize_bench.py [--files 10000] [--dir /tmp/somewhere]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lora_manager_gui.core.safetensors import write_safetensors  # noqa: E402
from lora_manager_gui.services import file_ops  # noqa: E402
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool  # noqa: E402
from lora_manager_gui.services.hasher import HashService  # noqa: E402
from lora_manager_gui.services.importer import run_import  # noqa: E402

BASES = ("SDXL 1.0", "Flux.1 D", "SD 1.5", "Pony")


def build(root: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        folder = root / f"incoming{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        model = write_safetensors(folder / f"lora_{i:05d}.safetensors", {"w": i.to_bytes(4, "little") * 4})
        (folder / f"lora_{i:05d}.metadata.json").write_text(json.dumps({
            "file_name": f"lora_{i:05d}", "model_name": f"LoRA {i}", "base_model": BASES[i % len(BASES)],
            "civitai": {"id": 10_000 + i, "modelId": 1_000 + i, "name": "v1", "baseModel": BASES[i % len(BASES)],
                        "model": {"name": f"LoRA {i}", "type": "LORA"}, "creator": {"username": f"maker{i % 40}"}},
        }))
        (folder / f"lora_{i:05d}.preview.png").write_bytes(b"png")
        paths.append(str(model))
    return paths


async def main(n: int, work: Path) -> None:
    root = work / "library"
    t0 = time.perf_counter()
    paths = build(root, n)
    db = DatabaseExecutor(work / "bench.sqlite3")
    pool = WorkPool()
    try:
        await run_import(db, [str(root)], pool=pool)
        hasher = HashService(db)
        await hasher.hash_paths(paths)
        hasher.close()
        t1 = time.perf_counter()
        start = time.perf_counter()
        result = await file_ops.organize(db, pool, "{base_model}/{creator}/{name}")
        elapsed = time.perf_counter() - start
        assert result.error is None, result.error
        print(f"set-up (build, import, hash): {t1 - t0:.1f} s")
        print(f"organize: {result.models_moved:,} model files, {len(result.moved):,} files in {elapsed:.2f} s "
              f"({len(result.moved) / elapsed:,.0f} files/s); goal for 10,000 model files: <= 10 s")
    finally:
        pool.close()
        db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="organize-bench-"))
    try:
        asyncio.run(main(args.files, work))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
