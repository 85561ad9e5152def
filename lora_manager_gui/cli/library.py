"""`import ROOT...` and `orphans ROOT...`: the library import, headless."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lora_manager_gui.cli import with_library
from lora_manager_gui.services.import_report import ImportProgress, ImportReport
from lora_manager_gui.services.importer import ImportOptions, find_orphans, resolve_roots, run_import
from lora_manager_gui.services.library import Library

T = TypeVar("T")

LONG_RUN_S = 2.0  # without a terminal, progress lines start after this long, one every 5 s


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import", help="import the metadata beside the model files of one or more library folders")
    p.add_argument("roots", metavar="ROOT", nargs="+", help="library folder to walk")
    p.add_argument("--force", action="store_true", help="re-import every metadata file, even unchanged ones")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--no-follow-symlinks", action="store_true", help="do not follow symlinked folders and files")
    p.set_defaults(handler=cmd_import)
    o = subparsers.add_parser("orphans", help="list model files that have no metadata beside them")
    o.add_argument("roots", metavar="ROOT", nargs="+")
    o.add_argument("--json", action="store_true", help="print one JSON object")
    o.set_defaults(handler=cmd_orphans)


class ProgressLine:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.last_line = 0.0
        self.shown = False

    def __call__(self, p: ImportProgress) -> None:
        now = time.monotonic()
        if not self.tty and (now - self.started < LONG_RUN_S or now - self.last_line < 5.0):
            return
        self.last_line = now
        total = f"/{p.files_total}" if p.files_total is not None else ""
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None and p.phase == "importing" else ""
        text = f"{p.phase}: {p.files_done}{total} ({p.rate:.0f}/s{eta})"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text)
            self.shown = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _with_roots(args: argparse.Namespace, work: Callable[[Library, list[str]], Awaitable[T]]) -> T:
    roots = resolve_roots([Path(r) for r in args.roots])  # fail before touching the database
    return with_library(args.db, lambda library: work(library, roots))


def cmd_import(args: argparse.Namespace) -> int:
    options = ImportOptions(follow_symlinks=not args.no_follow_symlinks)
    line = ProgressLine()

    async def work(library: Library, roots: list[str]) -> ImportReport:
        return await run_import(library.db, roots, force=args.force, pool=library.pool, options=options,
                                progress=line)

    try:
        report = _with_roots(args, work)
    finally:
        line.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.to_text())
    return 0


def cmd_orphans(args: argparse.Namespace) -> int:
    async def work(library: Library, roots: list[str]) -> list[str]:
        return await find_orphans(library.db, roots, pool=library.pool)

    orphans = _with_roots(args, work)
    if args.json:
        print(json.dumps({"orphans": orphans, "count": len(orphans)}, ensure_ascii=False, indent=2))
    else:
        for path in orphans:
            print(path)
        print(f"{len(orphans)} orphan model file(s)", file=sys.stderr)
    return 0
