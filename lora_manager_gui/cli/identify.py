"""`hash PATH...`, `cache stats|clear`, `identify`: hashing and CivitAI identification, headless."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lora_manager_gui.cli import with_library
from lora_manager_gui.core.hashing import model_files_under
from lora_manager_gui.core.sizes import display_size
from lora_manager_gui.core.tasks import Progress, Stage

# The services are imported by the command that runs them, so that `cache stats` never loads
# httpx or the CivitAI client (start-up of a headless command, tests/cli/test_startup.py).
if TYPE_CHECKING:
    from lora_manager_gui.db.hash_cache import HashCacheStats
    from lora_manager_gui.services.hash_results import HashReport
    from lora_manager_gui.services.identify import IdentifyReport
    from lora_manager_gui.services.library import Library

DEFAULT_RECHECK_DAYS_TEXT = "30"  # services/identify.py DEFAULT_RECHECK_NOT_FOUND_DAYS (a test compares them)


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
    i.add_argument("--recheck-days", type=float, default=None,
                   help=f"ask again about files not found more than this many days ago (default {DEFAULT_RECHECK_DAYS_TEXT})")
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


MIN_RATE_SECONDS = 1.0  # no rate is shown before a stage has run this long


def progress_line(p: Progress, elapsed: float) -> str:
    """One line for a `Progress`: the stage, its counts and a rate over `elapsed` seconds of it.

    The rate is items or bytes per second of the stage's elapsed time (never shown before
    MIN_RATE_SECONDS, so a first update cannot divide by almost nothing).
    """
    parts = [p.stage.label, f"{p.done:,}/{p.total:,}" if p.total is not None else f"{p.done:,}"]
    extra = []
    if p.bytes_total:
        extra.append(f"{display_size(p.bytes_done)} of {display_size(p.bytes_total)}")
    if elapsed >= MIN_RATE_SECONDS:
        if p.bytes_total:
            rate = p.bytes_done / elapsed
            extra.append(f"{display_size(rate)}/s")
            if rate > 0 and p.bytes_total > p.bytes_done:
                extra.append(f"{(p.bytes_total - p.bytes_done) / rate:.0f} s left")
        elif p.done:
            extra.append(f"{p.done / elapsed:.1f}/s")
    if p.problems:
        extra.append(f"{p.problems:,} problem" + ("" if p.problems == 1 else "s"))
    if p.deferred:
        extra.append(f"{p.deferred:,} deferred")
    return " ".join(parts) + (f" ({', '.join(extra)})" if extra else "")


class _Progress:
    """The progress line on stderr (a terminal only); reads `core.tasks.Progress`."""

    def __init__(self, quiet: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.on = not quiet and sys.stderr.isatty()
        self._clock = clock
        self._stage: Stage | None = None
        self._since = clock()

    def __call__(self, p: Progress) -> None:
        now = self._clock()
        if p.stage is not self._stage:
            self._stage, self._since = p.stage, now
        if self.on and p.stage is not Stage.DONE:
            sys.stderr.write(f"\r\x1b[K{progress_line(p, now - self._since)}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def cmd_hash(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.library import LibrarySettings

    files, missing = _expand(args.paths)
    progress = _Progress(args.json)

    async def work(library: Library) -> HashReport:
        async with library.use_hasher() as hasher:
            return await hasher.hash_paths(files, progress=progress)

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
    from lora_manager_gui.db import hash_cache

    if args.action == "clear":
        async def clear(library: Library) -> int:
            return await library.db.call(hash_cache.clear)

        removed = with_library(args.db, clear)
        print(json.dumps({"removed": removed}) if args.json else f"removed {removed} cache entries")
        return 0

    async def read_stats(library: Library) -> HashCacheStats:
        return await library.db.call(hash_cache.stats)

    stats = with_library(args.db, read_stats)
    if args.json:
        print(json.dumps(stats.to_json(), indent=2))
    else:
        print(f"entries: {stats.entries}\nstale entries: {stats.stale_entries}\n"
              f"bytes covered: {stats.bytes_covered} ({stats.bytes_covered / 2**30:.2f} GiB)\nwith AutoV3: {stats.with_autov3}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.identify import DEFAULT_RECHECK_NOT_FOUND_DAYS, ItemStatus, identify

    recheck_days = DEFAULT_RECHECK_NOT_FOUND_DAYS if args.recheck_days is None else args.recheck_days
    progress = _Progress(args.json)

    async def work(library: Library) -> IdentifyReport:  # base URL and key from the environment
        async with library.use_civitai() as client, library.use_hasher() as hasher:
            return await identify(library.db, client, hasher, None, recheck_not_found_days=recheck_days,
                                  progress=progress, refresh_found=args.refresh)

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
            if item.status in (ItemStatus.FAILED, ItemStatus.HASH_FAILED):
                print(f"  {item.status} [{item.error_class}] {item.path}: {item.error}")
        for problem in report.problems:
            if problem.kind.value in ("rate_limited", "offline") or problem.path.startswith("CivitAI model"):
                print(f"  [{problem.kind}] {problem.message}; run identify again later")
        print(f"outcome: {report.outcome().describe()}")
    return 1 if report.failed or report.hash_failed else 0
