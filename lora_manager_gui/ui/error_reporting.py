"""Unexpected exceptions: to the log file, and to a dialog; never a silent death."""
from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from lora_manager_gui.core import config
from lora_manager_gui.ui import async_bridge

log = logging.getLogger("lora_manager_gui")

LOG_FILE_NAME = "lora-manager.log"
MAX_DIALOGS = 3  # a storm of errors shows a few dialogs, then only the log


def configure_file_logging(folder: Path | None = None, level: int = logging.INFO) -> Path | None:
    """A rotating log file in the user log directory. Returns its path, or None if unwritable."""
    folder = folder or config.log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / LOG_FILE_NAME, maxBytes=2 * 1024 * 1024, backupCount=3,
                                      encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file in %s: %s", folder, exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return folder / LOG_FILE_NAME


class ErrorReporter:
    """Shows a dialog for an unexpected exception (after logging it), at most a few times."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path
        self.shown = 0
        self.reported: list[str] = []
        self.show_dialogs = True
        self.dialogs: list[QMessageBox] = []  # keep the open dialogs alive (they have no parent)

    def __call__(self, exc: BaseException, context: str) -> None:
        summary = f"{type(exc).__name__}: {exc}"
        self.reported.append(f"{context}: {summary}")
        if not self.show_dialogs or self.shown >= MAX_DIALOGS or QApplication.instance() is None:
            return
        self.shown += 1
        where = f"\n\nDetails are in the log file:\n{self.log_path}" if self.log_path else ""
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                          f"Something went wrong in {context}.\n\n{summary}{where}")
        box.setTextFormat(Qt.TextFormat.PlainText)  # error messages name files and quote metadata
        box.setDetailedText("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        box.setModal(False)
        self.dialogs.append(box)
        box.finished.connect(lambda _r, b=box: self.dialogs.remove(b) if b in self.dialogs else None)
        box.open()
        QTimer.singleShot(0, box.raise_)

    def excepthook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        log.error("unexpected exception", exc_info=(etype, value, tb))
        self(value, "the window")

    def loop_exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:
            log.error("asyncio: %s", context.get("message"))
            return
        if isinstance(exc, asyncio.CancelledError):
            return
        log.error("asyncio: %s", context.get("message"), exc_info=(type(exc), exc, exc.__traceback__))
        self(exc, "a background task")


def install(log_path: Path | None, loop: asyncio.AbstractEventLoop) -> ErrorReporter:
    reporter = ErrorReporter(log_path)
    sys.excepthook = reporter.excepthook
    loop.set_exception_handler(reporter.loop_exception_handler)
    async_bridge.set_error_sink(reporter)
    return reporter
