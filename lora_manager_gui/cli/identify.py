"""`hash PATH...`, `cache stats|clear`, `identify`: hashing and CivitAI identification, headless."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from lora_manager_gui.cli import with_library
from lora_manager_gui.core.hashing import model_files_under
from lora_manager_gui.db import hash_cache
from lora_manager_gui.services.hasher import HashProgress, HashResult
from lora_manager_gui.services.identify import DEFAULT_RECHECK_NOT_FOUND_DAYS, IdentifyProgress, IdentifyReport, identify
from lora_manager_gui.services.library import Library, LibrarySettings


def register(subparsers: Any) -> None:
    h = subparsers.add_parser("hash", help="SHA-256 of model files (or every model file under a folder), through the cache")
    h.add_argument("paths", metavar="PATH", nargs="+")
    h.add_argument("--workers", type=int, default=None, help="hashing threads (default: from the CPU count)")
    h.add_argument("--json", action="store_true", help="print a JSON list of {path, sha256, autov2, size_bytes, cached}")
    h.set_defaults(handler=cmd_hash)
    c = subparsers.add_parser("cache", help="inspect or clear the hash cache")
    c.add_argument("action", choices=("stats", "clear"))
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_cache)
    i = subparsers.add_parser("identify", help="identify on CivitAI every library file that has no answer yet")
    i.add_argument("--recheck-days", type=float, default=DEFAULT_RECHECK_NOT_FOUND_DAYS,
                   help="ask again about files not found more than this many days ago (default %(default)s)")
    i.add_argument("--refresh", action="store_true", help="also ask again about files already identified")
    i.add_argument("--json", action="store_true", help="print the report as one JSON object")
    i.set_defaults(handler=cmd_identify)


def _expand(paths: list[str]) -> tuple[list[str], list[str]]:
    files: list[str] = []
    missing: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files.extend(model_files_under(p))
        elif os.path.exists(p):
            files.append(os.path.abspath(p))
        else:
            missing.append(p)
    return files, missing


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.on = not quiet and sys.stderr.isatty()

    def hashing(self, p: HashProgress) -> None:
        if self.on:
            eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
            sys.stderr.write(f"\r\x1b[Khashing {p.files_done}/{p.files_total} ({p.bytes_per_s / 1e6:.0f} MB/s{eta})")
            sys.stderr.flush()

    def identify(self, p: IdentifyProgress) -> None:
        if p.hashing is not None:
            self.hashing(p.hashing)
        elif self.on:
            sys.stderr.write(f"\r\x1b[K{p.stage.replace('_', ' ')} {p.done}/{p.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def cmd_hash(args: argparse.Namespace) -> int:
    files, missing = _expand(args.paths)
    progress = _Progress(args.json)

    async def work(library: Library) -> list[HashResult]:
        async with library.use_hasher() as hasher:
            return await hasher.hash_paths(files, progress=progress.hashing)

    try:
        results = with_library(args.db, work, settings=LibrarySettings.resolve(hash_workers=args.workers))
    finally:
        progress.close()
    for p in missing:
        print(f"lora-manager: {p}: no such file or folder", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for r in results:
            if r.sha256:
                print(f"{r.sha256}  {r.path}{'  (cached)' if r.cached else ''}")
            else:
                print(f"ERROR [{r.error_class}] {r.error}", file=sys.stderr)
    return 1 if missing or any(r.sha256 is None for r in results) else 0


def cmd_cache(args: argparse.Namespace) -> int:
    if args.action == "clear":
        async def clear(library: Library) -> int:
            return await library.db.call(hash_cache.clear)

        removed = with_library(args.db, clear)
        print(json.dumps({"removed": removed}) if args.json else f"removed {removed} cache entries")
        return 0

    async def read_stats(library: Library) -> hash_cache.HashCacheStats:
        return await library.db.call(hash_cache.stats)

    stats = with_library(args.db, read_stats)
    if args.json:
        print(json.dumps(stats.to_json(), indent=2))
    else:
        print(f"entries: {stats.entries}\nstale entries: {stats.stale_entries}\n"
              f"bytes covered: {stats.bytes_covered} ({stats.bytes_covered / 2**30:.2f} GiB)\nwith AutoV3: {stats.with_autov3}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    progress = _Progress(args.json)

    async def work(library: Library) -> IdentifyReport:  # base URL and key from the environment
        async with library.use_civitai() as client, library.use_hasher() as hasher:
            return await identify(library.db, client, hasher, None, recheck_not_found_days=args.recheck_days,
                                  progress=progress.identify, refresh_found=args.refresh)

    try:
        report = with_library(args.db, work)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"files: {report.files}, looked up: {report.looked_up}, found: {report.found}, "
              f"not found: {report.not_found}, failed: {report.failed}, deferred: {report.deferred}, "
              f"already known: {report.already_known}, unreadable: {report.hash_failed}, "
              f"requests: {report.requests}")
        for item in report.items:
            if item.status in ("failed", "hash_failed"):
                print(f"  {item.status} [{item.error_class}] {item.path}: {item.error}")
        if report.deferred:
            print(f"  {report.deferred} files deferred: CivitAI was rate limiting; run identify again later")
    return 1 if report.failed or report.hash_failed else 0
