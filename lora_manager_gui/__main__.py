"""Entry point: no arguments opens the window, subcommands run headless."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from lora_manager_gui.cli import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    # First thing in a frozen build: a child process started by multiprocessing (the import's
    # parse workers) must run its task, not the app. This module stays light: every such worker
    # imports it as its main module.
    if getattr(sys, "frozen", False):  # a no-op otherwise, and multiprocessing costs start-up time
        import multiprocessing

        multiprocessing.freeze_support()
    sys.exit(main())
