"""Headless subcommands: thin over the services; they print reports as text or --json.

Each command module exposes `register(subparsers)`, which adds its parsers and sets
`handler(args) -> int` as the default for them. A command that needs the library runs its work
through `with_library`: one `Library` (services/library.py), settings from the environment, closed
in order at the end, as the window does.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from lora_manager_gui import APP_DISPLAY_NAME
from lora_manager_gui.core.errors import LoraManagerError

if TYPE_CHECKING:
    from lora_manager_gui.services.library import Library, LibrarySettings

T = TypeVar("T")

COMMAND_MODULES: tuple[str, ...] = (
    "library",
    "stacks",
    "identify",
    "headers",
    "manage",
    "comfyui",
    "downloads",
)


class _Version(argparse.Action):
    """`--version`: the version is read (importlib.metadata, ~20-50 ms) only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from lora_manager_gui import __version__

        print(f"{parser.prog} {__version__}")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lora-manager",
        description=f"{APP_DISPLAY_NAME}: manage a LoRA library. With no command, opens the window.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show program's version number and exit")
    parser.add_argument("--db", metavar="PATH", help="library database file (default: LORA_MANAGER_DB or the user data directory)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to standard error")
    window = parser.add_argument_group("window")
    window.add_argument("--screenshot", metavar="OUT.png", help="build the window offscreen, save a PNG of it and exit")
    window.add_argument("--view", choices=("adapters", "orphans", "stacks"), help="the view to show")
    window.add_argument("--stack", metavar="FILE", help="with --view stacks: the stack file to show")
    window.add_argument("--view-mode", choices=("table", "gallery"), help="the adapters as a table or a gallery")
    window.add_argument("--theme", choices=("system", "light", "dark"), help="the colours (default: as chosen in Settings)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"lora_manager_gui.cli.{name}").register(subparsers)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        from lora_manager_gui.app import run_app

        return run_app(args)
    try:
        return int(args.handler(args) or 0)
    except LoraManagerError as exc:
        print(f"lora-manager: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lora-manager: interrupted", file=sys.stderr)
        return 130


def with_library(db_arg: str | None, work: Callable[[Library], Awaitable[T]], *,
                 settings: LibrarySettings | None = None) -> T:
    """Open the library of `--db` (or LORA_MANAGER_DB), run `work` on it, and close it in order
    (also when interrupted). Settings come from the environment unless given."""
    from lora_manager_gui.core.config import resolve_db_path
    from lora_manager_gui.services.library import Library, LibrarySettings

    async def main() -> T:
        library = await Library.open(resolve_db_path(db_arg), settings or LibrarySettings.resolve())
        try:
            return await work(library)
        finally:
            await library.aclose()

    return asyncio.run(main())
