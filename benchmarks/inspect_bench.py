"""Inspect speed: a 2 MB UI workflow with nested subgraphs, and a 100,000-node prompt on a library.

1. A UI workflow of about 2 MB and 2,000 nodes: 20 instances of an outer subgraph, each holding
   instances of an inner subgraph with promoted LoRA names and strengths, switches and reroutes,
   padded with the prompt text, positions and properties real workflows carry. Read in process,
   best of N rounds, against a bare `json.loads` of the same bytes. Goal: at most 100 ms.
2. A 100,000-node API prompt (chained LoRA loaders naming a 2,000-file library, a tenth of the
   names unknown to it) inspected against that library, whose hashes are cached as after an
   import: read, batched resolution, the files' hashes, the lora_json document.
   Run in a child process so its peak RSS is its own. Goals: at most 5 s and 500 MB peak RSS.

    python benchmarks/inspect_bench.py [--rounds 5] [--prompt-nodes 100000] [--library 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lora_manager_gui.core.stacks import read_stack_bytes  # noqa: E402

PAD = "masterpiece, best quality, highly detailed, cinematic lighting, " * 12


def _node(node_id: int, node_type: str, widgets, inputs=(), outputs=(), **extra):
    return {"id": node_id, "type": node_type, "pos": [node_id * 10.5, node_id * 3.25], "size": [315, 130],
            "flags": {}, "order": node_id, "mode": 0,
            "inputs": [{"name": n, "type": t, "link": None, **({"widget": {"name": n}} if w else {})}
                       for n, t, w in inputs],
            "outputs": [{"name": t, "type": t, "links": []} for t in outputs],
            "properties": {"Node name for S&R": node_type, "cnr_id": "comfy-core", "ver": "0.3.60"},
            "widgets_values": widgets, **extra}


class _Level:
    def __init__(self, top: bool) -> None:
        self.top, self.nodes, self.links, self.next = top, [], [], 1

    def link(self, origin, o_slot, target, name, kind="*"):
        link_id = self.next
        self.next += 1
        if target >= 0:
            node = next(n for n in self.nodes if n["id"] == target)
            slot = next(i for i, item in enumerate(node["inputs"]) if item["name"] == name)
            node["inputs"][slot]["link"] = link_id
        else:
            slot = int(name)
        self.links.append([link_id, origin, o_slot, target, slot, kind] if self.top else
                          {"id": link_id, "origin_id": origin, "origin_slot": o_slot, "target_id": target,
                           "target_slot": slot, "type": kind})


LORA_IN = [("model", "MODEL", False), ("lora_name", "COMBO", True), ("strength_model", "FLOAT", True)]
SUB_IN = [{"id": f"in-{i}", "name": n, "type": t} for i, (n, t, _w) in enumerate(LORA_IN)]
SUB_OUT = [{"id": "out-0", "name": "MODEL", "type": "MODEL"}]


def big_workflow(outer_count: int = 20, inner_per_outer: int = 8, fillers: int = 9, top_fillers: int = 1930) -> bytes:
    inner = _Level(top=False)
    inner.nodes.append(_node(1, "LoraLoaderModelOnly", ["inner.safetensors", 1.0], LORA_IN, ["MODEL"]))
    for f in range(fillers):
        inner.nodes.append(_node(10 + f, "CLIPTextEncode", [PAD], [("clip", "CLIP", False)], ["CONDITIONING"]))
    inner.link(-10, 0, 1, "model", "MODEL")
    inner.link(-10, 1, 1, "lora_name", "COMBO")
    inner.link(-10, 2, 1, "strength_model", "FLOAT")
    inner.link(1, 0, -20, "0", "MODEL")
    outer = _Level(top=False)
    previous = (-10, 0)
    for k in range(inner_per_outer):
        node_id = 100 + k
        outer.nodes.append(_node(node_id, "sub-inner", [f"lib/lora_{k}.safetensors", 0.5 + k / 100], LORA_IN, ["MODEL"]))
        outer.nodes.append(_node(200 + k, "Reroute", None, [("", "*", False)], ["*"]))
        outer.link(previous[0], previous[1], 200 + k, "", "MODEL")
        outer.link(200 + k, 0, node_id, "model", "MODEL")
        previous = (node_id, 0)
    outer.nodes.append(_node(300, "ComfySwitchNode", [True], [("switch", "BOOLEAN", True), ("on_false", "*", False),
                                                               ("on_true", "*", False)], ["*"]))
    outer.link(previous[0], 0, 300, "on_true", "MODEL")
    outer.link(-10, 0, 300, "on_false", "MODEL")
    outer.link(300, 0, -20, "0", "MODEL")
    top = _Level(top=True)
    top.nodes.append(_node(1, "CheckpointLoaderSimple", ["base.safetensors"], [], ["MODEL"]))
    previous_id = 1
    for i in range(outer_count):
        node_id = 1000 + i
        top.nodes.append(_node(node_id, "sub-outer", [f"outer_{i}.safetensors", 1.0], LORA_IN, ["MODEL"]))
        top.link(previous_id, 0, node_id, "model", "MODEL")
        previous_id = node_id
    for f in range(top_fillers):  # prompts, notes, previews: what makes real workflows megabytes
        kind = ("CLIPTextEncode", "Note", "PreviewImage")[f % 3]
        top.nodes.append(_node(6000 + f, kind, [PAD + str(f)], [("clip", "CLIP", False)] if f % 3 == 0 else [], []))
    top.nodes.append(_node(5000, "KSampler", [1, "fixed", 20, 7, "euler", "normal", 1], [("model", "MODEL", False)], ["LATENT"]))
    top.link(previous_id, 0, 5000, "model", "MODEL")
    top.nodes.append(_node(5001, "SaveImage", ["out"], [("images", "IMAGE", False)], []))
    top.link(5000, 0, 5001, "images", "IMAGE")
    data = {"nodes": top.nodes, "links": top.links, "version": 0.4, "extra": {"ds": {"scale": 1}},
            "definitions": {"subgraphs": [
                {"id": "sub-outer", "name": "Outer", "nodes": outer.nodes, "links": outer.links,
                 "inputs": SUB_IN, "outputs": SUB_OUT},
                {"id": "sub-inner", "name": "Inner", "nodes": inner.nodes, "links": inner.links,
                 "inputs": SUB_IN, "outputs": SUB_OUT}]}}
    return json.dumps(data, indent=1).encode()


def flat_node_count(data: bytes) -> int:
    workflow = json.loads(data)
    subs = {s["id"]: s for s in workflow["definitions"]["subgraphs"]}

    def count(nodes) -> int:
        return sum(count(subs[n["type"]]["nodes"]) if n["type"] in subs else 1 for n in nodes)

    return count(workflow["nodes"])


def bench_workflow(rounds: int) -> None:
    data = big_workflow()
    best_read = best_json = float("inf")
    result = None
    for _ in range(rounds):
        started = time.perf_counter()
        json.loads(data)
        best_json = min(best_json, time.perf_counter() - started)
        started = time.perf_counter()
        result = read_stack_bytes(data, "bench.json")
        best_read = min(best_read, time.perf_counter() - started)
    saved = len(json.loads(data)["nodes"]) + sum(len(s["nodes"]) for s in json.loads(data)["definitions"]["subgraphs"])
    print(f"workflow: {len(data) / 1e6:.2f} MB, {saved:,} nodes saved, {flat_node_count(data):,} once flattened, "
          f"{len(result.entries)} LoRAs")
    print(f"inspect (read) of the 2 MB workflow: {best_read * 1000:.1f} ms (goal: at most 100 ms); "
          f"json.loads alone {best_json * 1000:.1f} ms; ratio {best_read / best_json:.1f}x")


def prompt_child(nodes: int, library: int) -> None:
    """In a child process: build the library and the prompt, then time one inspect of it."""
    import hashlib

    from lora_manager_gui.core.hashing import CachedHash
    from lora_manager_gui.core.records import LibraryFile
    from lora_manager_gui.db import hash_cache, library_files
    from lora_manager_gui.db.fields import utc_now
    from lora_manager_gui.services.executors import DatabaseExecutor
    from lora_manager_gui.services.hasher import HashService
    from lora_manager_gui.services.inspector import inspect_file

    folder = Path(tempfile.mkdtemp(prefix="lora-inspect-bench-"))
    root = folder / "loras"
    (root / "lib").mkdir(parents=True)
    db = DatabaseExecutor(folder / "library.sqlite3")
    hasher = HashService(db)
    try:
        records, hashes = [], []
        for i in range(library):
            path = root / "lib" / f"lora_{i}.safetensors"
            path.write_bytes(i.to_bytes(4, "little"))
            st = path.stat()
            records.append(LibraryFile(path=str(path), root=str(root), rel_path=f"lib/lora_{i}.safetensors",
                                       size_bytes=st.st_size, mtime_ns=st.st_mtime_ns))
            sha = hashlib.sha256(f"synthetic {i}".encode()).hexdigest().upper()
            hashes.append(CachedHash(str(path), st.st_size, st.st_mtime_ns, sha, None, utc_now()))
        db.call_sync(library_files.upsert_files, records, link=True)
        db.call_sync(hash_cache.put_many, hashes)  # an imported library: its hashes are cached
        prompt = {"0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}}}
        for i in range(1, nodes - 1):
            prompt[str(i)] = {"class_type": "LoraLoaderModelOnly", "inputs": {
                "model": [str(i - 1), 0], "lora_name": f"lib\\lora_{i % (library + library // 10)}.safetensors",
                "strength_model": 0.5}, "_meta": {"title": "Load LoRA"}}
        prompt["out"] = {"class_type": "SaveImage", "inputs": {"images": [str(nodes - 2), 0], "filename_prefix": "x"}}
        source = folder / "prompt.json"
        source.write_text(json.dumps(prompt))
        del prompt, records, hashes  # the child measures the inspect, not the making of its input
        gc.collect()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        inspection = asyncio.run(inspect_file(db, hasher, source))
        _ = inspection.document, inspection.lora_info  # what `inspect --json` / `inspect` print
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        found = sum(1 for item in inspection.entries if item.exists)
        print(json.dumps({"wall": wall, "cpu": cpu, "peak_kb": peak, "base_kb": base_rss, "entries": len(inspection.entries),
                          "found": found, "bytes": source.stat().st_size}))
    finally:
        hasher.close()
        db.close()


def bench_prompt(nodes: int, library: int) -> None:
    proc = subprocess.run([sys.executable, __file__, "--child", str(nodes), str(library)],
                          capture_output=True, text=True, check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"prompt: {nodes:,} nodes, {figures['bytes'] / 1e6:.1f} MB, library of {library:,} files; "
          f"{figures['entries']:,} entries, {figures['found']:,} found in the library")
    print(f"inspect of the {nodes:,}-node prompt: {figures['wall']:.2f} s (goal: at most 5 s); "
          f"CPU {figures['cpu']:.2f} s; peak RSS {figures['peak_kb'] / 1024:.0f} MB (goal: at most 500 MB; "
          f"{figures['base_kb'] / 1024:.0f} MB before the inspect)")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        prompt_child(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt-nodes", type=int, default=100_000)
    parser.add_argument("--library", type=int, default=2_000)
    args = parser.parse_args()
    bench_workflow(args.rounds)
    bench_prompt(args.prompt_nodes, args.library)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
