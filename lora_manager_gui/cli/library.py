"""`import ROOT...` and `orphans ROOT...`: the library import, headless."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lora_manager_gui.cli import with_library
from lora_manager_gui.core.tasks import Progress, Stage

if TYPE_CHECKING:  # the import pipeline is loaded by the commands that run it (start-up time)
    from lora_manager_gui.services.import_report import ImportReport
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
    """The import's progress on stderr: `scanning folders: 42,800 files (9,100/s)`, then
    `saving: 1,024/10,000 (2,300/s, about 4 s left)`. The rate is items per second of the stage's
    elapsed time, shown once the stage has run for a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.tty = sys.stderr.isatty()
        self.clock = clock
        self.started = clock()
        self.last_line = float("-inf")
        self.shown = False
        self._stage: Stage | None = None
        self._stage_start = self.started
        self._stage_done = 0

    def text(self, p: Progress) -> str:
        now = self.clock()
        if p.stage is not self._stage:
            # The walk is the run's first stage: its count starts with the run.
            self._stage = p.stage
            self._stage_start = self.started if p.stage is Stage.WALK else now
            self._stage_done = 0 if p.stage is Stage.WALK else p.done
        total = f"/{p.total:,}" if p.total is not None else ""
        unit = " files" if p.stage is Stage.WALK else ""
        elapsed = now - self._stage_start
        extra = ""
        if elapsed >= 1.0:
            rate = (p.done - self._stage_done) / elapsed
            extra = f" ({rate:,.0f}/s"
            if p.total is not None and rate > 0 and p.done < p.total:
                extra += f", about {(p.total - p.done) / rate:.0f} s left"
            extra += ")"
        problems = f", {p.problems:,} problem" + ("" if p.problems == 1 else "s") if p.problems else ""
        return f"{p.stage.label}: {p.done:,}{total}{unit}{extra}{problems}"

    def __call__(self, p: Progress) -> None:
        line = self.text(p)
        now = self.clock()
        if not self.tty and (now - self.started < LONG_RUN_S or now - self.last_line < 5.0):
            return
        self.last_line = now
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            self.shown = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _with_roots(args: argparse.Namespace, work: Callable[[Library, list[str]], Awaitable[T]]) -> T:
    from lora_manager_gui.services.importer import resolve_roots

    roots = resolve_roots([Path(r) for r in args.roots])  # fail before touching the database
    return with_library(args.db, lambda library: work(library, roots))


def _import_roots(args: argparse.Namespace) -> list[str]:
    """The roots to import. One that is gone or unreadable may be an offline root of the library
    (run_import decides, by what the library holds there); without a library file yet it cannot
    be, and the import fails before creating one."""
    from lora_manager_gui.core.config import resolve_db_path
    from lora_manager_gui.services.import_plan import ImportRunError, split_roots

    found, unavailable = split_roots([Path(r) for r in args.roots])
    if unavailable and not resolve_db_path(args.db).exists():
        raise ImportRunError(unavailable[0][1])
    return found + [path for path, _reason in unavailable]


def cmd_import(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.importer import ImportOptions, run_import

    options = ImportOptions(follow_symlinks=not args.no_follow_symlinks)
    line = ProgressLine()

    async def work(library: Library, roots: list[str]) -> ImportReport:
        return await run_import(library.db, roots, force=args.force, pool=library.pool, options=options,
                                progress=line)

    try:
        roots = _import_roots(args)  # fail before touching the database
        report = with_library(args.db, lambda library: work(library, roots))
    finally:
        line.close()
    if args.json:
        print(printable(json.dumps(report.to_json(), ensure_ascii=False, indent=2)))
    else:
        print(printable(report.to_text()))
    return 0


def printable(text: str) -> str:
    """`text` with any lone surrogate (a byte of a file name that is not UTF-8, a JSON escape)
    as a backslash escape: printing it can then never fail after the import is done."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def cmd_orphans(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.importer import find_orphans

    async def work(library: Library, roots: list[str]) -> list[str]:
        return await find_orphans(library.db, roots, pool=library.pool)

    orphans = _with_roots(args, work)
    if args.json:
        print(printable(json.dumps({"orphans": orphans, "count": len(orphans)}, ensure_ascii=False, indent=2)))
    else:
        for path in orphans:
            print(printable(path))
        print(f"{len(orphans)} orphan model file(s)", file=sys.stderr)
    return 0
