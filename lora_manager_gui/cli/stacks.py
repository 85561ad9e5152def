"""`inspect FILE` and `export -o OUT.json`: stacks resolved against the library, as lora_json."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lora_manager_gui.cli import with_library
from lora_manager_gui.services.library import Library


def register(subparsers: argparse._SubParsersAction) -> None:
    inspect = subparsers.add_parser(
        "inspect", help="read a LoRA stack (workflow, prompt, PNG/WEBP, A1111 text) and resolve it",
        description="Read the LoRAs a workflow, API prompt, image or saved stack enables, resolve each "
                    "against the library and print lora_info (or the lora_json document with --json).")
    inspect.add_argument("file", metavar="FILE", help="the stack file")
    inspect.add_argument("--fallback-name", metavar="NAME", help="the display name of an empty stack")
    inspect.add_argument("--online", action="store_true",
                         help="ask CivitAI for hashes the library has no answer for")
    inspect.add_argument("--export", metavar="OUT.json", help="also write the lora_json document here")
    inspect.add_argument("--json", action="store_true", help="print the lora_json document")
    inspect.set_defaults(handler=run_inspect)
    export = subparsers.add_parser(
        "export", help="export library adapters as a lora_json stack",
        description="Export adapters of the library (all, or those matching --search) as a stack, each "
                    "at its preferred weight, to a lora_json file.")
    export.add_argument("--search", metavar="TEXT", help="only adapters whose name, tags... contain TEXT")
    export.add_argument("-o", "--output", metavar="OUT.json", required=True, help="the file to write")
    export.add_argument("--json", action="store_true", help="also print the document")
    export.set_defaults(handler=run_export)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"lora-manager: note: {warning}", file=sys.stderr)


def run_inspect(args: argparse.Namespace) -> int:
    from lora_manager_gui.core.stacks import StackReadError, read_stack_file
    from lora_manager_gui.services.exporter import write_document
    from lora_manager_gui.services.inspector import inspect_result

    try:
        read = read_stack_file(args.file)  # before opening the library: a bad file fails fast
    except StackReadError as exc:
        print(f"lora-manager: error: cannot inspect {exc.source}: {exc.reason} [{exc.kind}]", file=sys.stderr)
        return 2

    async def work(library: Library) -> Any:
        async with library.use_hasher() as hasher:
            if not args.online:  # offline: no client, no request
                return await inspect_result(library.db, hasher, read, fallback_name=args.fallback_name)
            async with library.use_civitai() as civitai:  # base URL and key from the environment
                return await inspect_result(library.db, hasher, read, online=True, civitai=civitai,
                                            fallback_name=args.fallback_name)

    inspection = with_library(args.db, work)
    _print_warnings(inspection.warnings)
    if args.export:
        write_document(inspection.document, args.export)
    if args.json:
        print(json.dumps(inspection.document, ensure_ascii=False, indent=2))
    else:
        print(inspection.lora_info)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.exporter import export_adapters, write_document

    async def work(library: Library) -> dict[str, Any]:
        async with library.use_hasher() as hasher:
            return await export_adapters(library.db, hasher, search=args.search)

    document = with_library(args.db, work)
    path = write_document(document, args.output)
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        count = document["summary"]["count"]
        print(f"wrote {count} LoRA{'s' if count != 1 else ''} to {path}")
    return 0
