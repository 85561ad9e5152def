"""`download REF...`, `updates`, `verify [ROOT...]`: getting new LoRAs and keeping them whole, headless."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from lora_manager_gui.cli import with_library
from lora_manager_gui.core.tasks import OutcomeStatus, Progress
from lora_manager_gui.services.library import Library


def register(subparsers: Any) -> None:
    d = subparsers.add_parser("download", help="download LoRAs from CivitAI into the library (with no REF: resume the queue)")
    d.add_argument("refs", metavar="REF", nargs="*",
                   help="a CivitAI model page URL, /models/ID, a version id, a /api/download/models/ID URL or an AIR")
    d.add_argument("--to", metavar="DIR", help="folder to put the files in (default: <first library root>/<base model>)")
    d.add_argument("--file", metavar="NAME", help="which file of the version (default: the primary file)")
    d.add_argument("--parallel", type=int, default=2, help="downloads at once (default %(default)s)")
    d.add_argument("--json", action="store_true", help="print the report as one JSON object")
    d.set_defaults(handler=cmd_download)
    u = subparsers.add_parser("updates", help="check CivitAI for newer versions of the identified models")
    u.add_argument("--force", action="store_true", help="check every model, also those checked recently")
    u.add_argument("--every-hours", type=float, default=24.0, help="skip models checked less than this long ago (default %(default)s)")
    u.add_argument("--host", action="append", metavar="BASE_URL",
                   help="API base URL to ask, in order (repeatable; default: the configured one, then the other CivitAI host)")
    u.add_argument("--ignore", type=int, action="append", metavar="VERSION_ID", help="never offer this version as an update")
    u.add_argument("--json", action="store_true", help="print the report as one JSON object")
    u.set_defaults(handler=cmd_updates)
    v = subparsers.add_parser("verify", help="check that every model file is whole (and, with --deep, the file CivitAI lists)")
    v.add_argument("roots", metavar="ROOT", nargs="*", help="folders to check (default: the library's roots)")
    v.add_argument("--deep", action="store_true", help="also compare SHA-256 (hash cache) and the embedded AutoV3")
    v.add_argument("--json", action="store_true", help="print the report as one JSON object")
    v.set_defaults(handler=cmd_verify)


class _Line:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5.0:
            return
        self.last = now
        total = f"/{p.total}" if p.total is not None else ""
        size = f" {p.bytes_done / 1e6:.1f}/{p.bytes_total / 1e6:.1f} MB" if p.bytes_total else ""
        text = f"{p.stage.label}: {p.done}{total}{size} {p.detail}".rstrip()
        sys.stderr.write(("\r\x1b[K" + text) if self.tty else text + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _exit(status: OutcomeStatus) -> int:
    return 0 if status is OutcomeStatus.DONE else 1


def cmd_download(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.download_plan import DownloadRequest
    from lora_manager_gui.services.downloads import DownloadQueue

    line = _Line()

    async def work(library: Library) -> Any:
        queue = DownloadQueue(library, max_parallel=args.parallel, progress=line)
        await queue.enqueue([DownloadRequest(r, args.file, args.to) for r in args.refs])
        if not args.json:
            for planned in queue.planned:
                others = [f.describe() for f in planned.files if f is not planned.file]
                print(f"queued: {planned.file.describe()} -> {planned.item.dest_dir}"
                      + (f" (also: {'; '.join(others)}; choose with --file)" if others else ""), file=sys.stderr)
        return await queue.run()

    try:
        report = with_library(args.db, work)
    finally:
        line.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for item in report.items:
            where = item.dest_path or item.part_path
            print(f"{item.status.value}: {where}" + (f" ({item.problem}: {item.message})" if item.problem else ""))
        for ref, path in report.already:
            print(f"already in the library: {path} ({ref})")
        for problem in report.problems:
            print(f"problem: {problem.path}: {problem.message}", file=sys.stderr)
        print(report.outcome().describe(), file=sys.stderr)
    return _exit(report.outcome().status)


def cmd_updates(args: argparse.Namespace) -> int:
    from lora_manager_gui.db import updates as store
    from lora_manager_gui.services.updates import check_updates

    async def work(library: Library) -> Any:
        for version_id in args.ignore or ():
            await library.db.call(store.ignore_version, version_id)
        return await check_updates(library, hosts=args.host, force=args.force, every_hours=args.every_hours)

    report = with_library(args.db, work)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for state in report.updates:
            ea = " (early access)" if state.early_access else ""
            print(f"model {state.model_id}: update {state.latest_version_name!r} (version {state.latest_version_id}){ea}")
        print(f"{report.checked} checked, {report.skipped} checked recently, {len(report.updates)} with updates, "
              f"{report.requests} request(s)", file=sys.stderr)
    return 0 if not report.problems else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from lora_manager_gui.db.downloads import library_roots
    from lora_manager_gui.services.verify import verify

    import os

    from lora_manager_gui.core.errors import LoraManagerError

    for root in args.roots:
        if not os.path.isdir(root):
            raise LoraManagerError(f"{root} is not a folder")

    async def work(library: Library) -> Any:
        roots = args.roots or await library.db.call(library_roots)
        return await verify(library, roots, deep=args.deep)

    report = with_library(args.db, work)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for f in report.findings:
            print(f"{f.finding.value}: {f.path}: {f.message} ({f.finding.advice})")
        print(f"{report.files} file(s) checked, {len(report.findings)} finding(s)", file=sys.stderr)
    return 0 if not report.findings else 1
