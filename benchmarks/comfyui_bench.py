"""LoRAInfoExtractor with a warm cache: a 50-LoRA stack, every file already hashed and answered.

A ComfyUI tree is written to a temporary folder (models/loras with N small safetensors files, a
library file); ComfyUI's `folder_paths` is stood in for by a module resolving names there. The
first run hashes the files and stores a CivitAI answer per hash (the fake CivitAI of
tests/civitai_server.py); then the node function is timed as ComfyUI calls it, from a worker
thread, awaited on that thread's own loop. Goal: the median run within 50 ms.

    python benchmarks/comfyui_bench.py [--loras 50] [--runs 30]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASELINE_MS = 50.0  # the budget for a warm 50-LoRA stack


def folder_paths_for(loras: Path) -> types.ModuleType:
    module = types.ModuleType("folder_paths")

    def get_full_path(folder_name: str, filename: str) -> str | None:
        candidate = os.path.join(str(loras), os.path.relpath(os.path.join("/", filename), "/"))
        return candidate if folder_name == "loras" and os.path.isfile(candidate) else None

    module.get_full_path = get_full_path  # type: ignore[attr-defined]
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loras", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    from lora_manager_gui.core.safetensors import write_safetensors
    from tests.civitai_server import FakeCivitai

    with tempfile.TemporaryDirectory(prefix="comfyui-bench-") as tmp, FakeCivitai() as server:
        root = Path(tmp)
        loras = root / "models" / "loras"
        (loras / "wan").mkdir(parents=True)
        stack = []
        for i in range(args.loras):
            path = write_safetensors(loras / "wan" / f"style_{i:03d}.safetensors",
                                     {"lora_up.weight": i.to_bytes(4, "little") * 256})
            sha = hashlib.sha256(path.read_bytes()).hexdigest().upper()
            if i % 2 == 0:
                server.catalogue.add_synthetic(sha, version_id=10_000 + i, model_id=20_000 + i, name=f"Style {i}")
            stack.append((f"wan/style_{i:03d}.safetensors", 0.8, 0.8))
        os.environ["LORA_MANAGER_DB"] = str(root / "library.sqlite3")
        os.environ["CIVITAI_BASE_URL"] = server.base_url
        sys.modules["folder_paths"] = folder_paths_for(loras)

        from lora_manager_gui.comfyui.nodes import LoRAInfoExtractor
        from lora_manager_gui.comfyui.runtime import reset_runtime

        node = LoRAInfoExtractor()
        timings: list[float] = []

        def worker() -> None:
            async def prompts() -> None:
                await node.extract(stack, civitai_budget_s=30.0)  # cold: hashes and CivitAI answers stored
                for _ in range(args.runs):
                    start = time.perf_counter()
                    _, info = await node.extract(stack, civitai_budget_s=30.0)
                    timings.append((time.perf_counter() - start) * 1000)
                assert info.startswith(f"{args.loras} LoRAs"), info

            asyncio.run(prompts())

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        requests = len(server.requests)
        reset_runtime()

    median = statistics.median(timings)
    print(f"LoRAInfoExtractor, {args.loras} LoRAs, warm cache: median {median:.1f} ms, "
          f"best {min(timings):.1f} ms over {len(timings)} runs ({requests} CivitAI requests, all in the cold run)")
    print(f"baseline {BASELINE_MS:.0f} ms; ratio {median / BASELINE_MS:.2f} (goal <= 1.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
