"""Identifying 1,000 unknown files (about 800 distinct models) against the local fake CivitAI.

Every request costs 50 ms of server latency. The files exist (small ones) and their hash cache
entries are pre-filled with synthetic SHA-256 so that no gigabytes have to be written; the client
runs with its default politeness settings (rate, concurrency). Goal: at most 25 requests.

    python benchmarks/identify_bench.py [--files 1000] [--models 800] [--latency 0.05]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lora_manager_gui.core.hashing import CachedHash  # noqa: E402
from lora_manager_gui.db import civitai_store, hash_cache  # noqa: E402
from lora_manager_gui.db.fields import utc_now  # noqa: E402
from lora_manager_gui.services.civitai import CivitaiClient  # noqa: E402
from lora_manager_gui.services.executors import DatabaseExecutor  # noqa: E402
from lora_manager_gui.services.hasher import HashService  # noqa: E402
from lora_manager_gui.services.identify import identify  # noqa: E402
from tests.civitai_server import FakeCivitai  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--models", type=int, default=800)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lora-identify-bench-"))
    server = FakeCivitai(latency=args.latency).start()
    try:
        db = DatabaseExecutor(folder / "library.sqlite3")
        entries = []
        paths = []
        for i in range(args.files):
            path = folder / f"lora_{i:04d}.safetensors"
            path.write_bytes(i.to_bytes(4, "little"))
            st = path.stat()
            sha = hashlib.sha256(f"synthetic {i}".encode()).hexdigest().upper()
            entries.append(CachedHash(str(path), st.st_size, st.st_mtime_ns, sha, None, utc_now()))
            paths.append(path)
            server.catalogue.add_synthetic(sha, version_id=100_000 + i, model_id=1 + i % args.models)
        db.call_sync(hash_cache.put_many, entries)
        hasher = HashService(db)

        async def run():
            client = CivitaiClient(server.base_url)
            try:
                return await identify(db, client, hasher, paths)
            finally:
                await client.close()

        start = time.perf_counter()
        report = asyncio.run(run())
        wall = time.perf_counter() - start
        kinds: dict[str, int] = {}
        for r in server.requests:
            key = f"{r.method} {r.path.split('/api/v1/')[-1].split('/')[0]}{'/by-hash' if 'by-hash' in r.path else ''}"
            kinds[key] = kinds.get(key, 0) + 1
        print(f"{args.files} unknown files, {args.models} distinct models, {args.latency * 1000:.0f} ms latency per request")
        print(f"found {report.found}, not found {report.not_found}, failed {report.failed}, deferred {report.deferred}")
        print(f"models fetched: {report.models_fetched}")
        print(f"requests made: {report.requests} (server saw {len(server.requests)}: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())) + ")")
        print(f"wall time: {wall:.2f} s (goal: at most 25 requests)")
        info = db.call_sync(civitai_store.info_for_sha256, entries[0].sha256)
        print(f"sample: {Path(entries[0].path).name} -> {info.model_name} / {info.version_name} by {info.creator}")
        start = time.perf_counter()
        second = asyncio.run(run())
        print(f"second run: {second.requests} requests, {second.already_known} already known, "
              f"{time.perf_counter() - start:.2f} s")
        hasher.close()
        db.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
