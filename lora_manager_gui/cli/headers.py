"""`import-headers PATH...`: adapters for orphans from what their safetensors headers say, headless
(the orphan view's "import from the header", for many files at once)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded by the command that runs it (start-up time of the other commands)
    from lora_manager_gui.services.header_import import HeaderImportReport


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import-headers",
        help="make adapters for orphan safetensors files (or every one under a folder) from their headers",
    )
    p.add_argument("paths", metavar="PATH", nargs="+", help="a .safetensors file, or a folder to search")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(handler=cmd_import_headers)


def _text(report: HeaderImportReport) -> str:
    lines = []
    for record in report.imported:
        words = ", ".join(record.trained_words[:5])
        lines.append(f"imported {record.file_path}: {record.name} [{record.base_model or 'base model unknown'}]"
                     + (f" triggers: {words}" if words else ""))
    for skip in report.skipped:
        lines.append(f"skipped {skip.path}: {skip.reason.value}" + (f" ({skip.message})" if skip.message else ""))
    for item in report.to_json()["errors"]:
        lines.append(f"error {item['path']}: {item['class']}: {item['message']}")
    lines.append(f"{len(report.imported)} imported, {len(report.skipped)} skipped, "
                 f"{len(report.problems) + len(report.missing)} error(s): {report.outcome().describe()}")
    return "\n".join(lines)


def cmd_import_headers(args: argparse.Namespace) -> int:
    from lora_manager_gui.core.config import resolve_db_path
    from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
    from lora_manager_gui.services.header_import import import_headers

    db = DatabaseExecutor(resolve_db_path(args.db))
    pool = WorkPool()
    try:
        report = asyncio.run(import_headers(db, list(args.paths), pool=pool))
    finally:
        pool.close()
        db.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(_text(report))
    if report.missing and not (report.imported or report.skipped or report.problems):
        print("lora-manager: error: no such file or folder: " + ", ".join(report.missing), file=sys.stderr)
        return 2
    return 0  # as `import`: problems with single files are in the report, not the exit code
