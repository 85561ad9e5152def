"""Wiring: QApplication + qasync loop, the Library (services/library.py) and the main window.

One thread runs Qt and asyncio. Start-up opens the library off the GUI thread; shutdown is explicit
and awaited: the window cancels its tasks, then `Library.aclose()` closes the HTTP client, stops
the hasher, the pools and the import's worker processes, and closes the database.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from lora_manager_gui import APP_DISPLAY_NAME, APP_NAME
from lora_manager_gui.core.errors import DatabaseError

if TYPE_CHECKING:
    from lora_manager_gui.ui.context import AppContext
    from lora_manager_gui.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def run_app(args: argparse.Namespace) -> int:
    """`lora-manager` with no subcommand: the window (or, with --screenshot, a PNG of it)."""
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from lora_manager_gui.ui.error_reporting import configure_file_logging, install

    import qasync
    from PySide6.QtWidgets import QApplication

    log_path = configure_file_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_DISPLAY_NAME)
    app.setQuitOnLastWindowClosed(False)  # quitting waits for the awaited shutdown
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    reporter = install(log_path, loop)
    if args.screenshot:
        reporter.show_dialogs = False
    try:
        return loop.run_until_complete(run_window(args))
    finally:
        loop.close()
        asyncio.set_event_loop(None)


async def run_window(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from lora_manager_gui.ui.context import AppContext
    from lora_manager_gui.ui.main_window import MainWindow

    from lora_manager_gui.ui.last_library import choose_db_path

    if args.screenshot:  # a fresh, throw-away settings file: the picture must not depend on the user's
        store = QSettings(str(Path(tempfile.mkdtemp(prefix="lm-shot-")) / "settings.ini"), QSettings.Format.IniFormat)
    else:
        store = QSettings()
    from lora_manager_gui.ui.settings import load_settings
    from lora_manager_gui.ui.theme import apply_theme

    apply_theme(getattr(args, "theme", None) or load_settings(store).theme)  # before any window is built
    db_path = choose_db_path(args.db, store)  # --db, LORA_MANAGER_DB, the last one open, the default
    try:
        ctx = await AppContext.open(db_path, store)
    except DatabaseError as exc:
        log.error("cannot open the library: %s", exc)
        print(f"lora-manager: error: {exc}", file=sys.stderr)
        if not args.screenshot:
            QMessageBox.critical(None, APP_DISPLAY_NAME, str(exc))
        return 2
    window = MainWindow(ctx)
    try:
        if args.screenshot:
            from lora_manager_gui.ui.screenshot import take_screenshot

            return await take_screenshot(window, Path(args.screenshot), args.view, args.stack,
                                         view_mode=getattr(args, "view_mode", None))
        window.show()
        await window.load()
        if args.view:
            window.show_view(args.view)
        if getattr(args, "view_mode", None):
            window.adapters.mode.setCurrentText(args.view_mode.capitalize())
        if args.stack:
            window.show_view("stacks")
            window.stacks.inspect(Path(args.stack))
        await window.closed_event.wait()
        return 0
    finally:
        await shutdown(window, ctx)


async def shutdown(window: MainWindow, ctx: AppContext) -> None:
    """Cancel tasks, close the HTTP client, stop executors, close the database; in that order."""
    try:
        await window.shutdown()
    finally:
        await ctx.close()
        window.deleteLater()
    log.info("shut down cleanly")
