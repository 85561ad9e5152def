"""The app icon and the About box (the version comes from the package metadata, as for --version)."""
from __future__ import annotations

import html
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QWidget

from lora_manager_gui import APP_DISPLAY_NAME, APP_NAME, __version__
from lora_manager_gui.core import config
from lora_manager_gui.core.resources import APP_ICON_PNG, resource_path


def app_icon() -> QIcon:
    return QIcon(str(resource_path(APP_ICON_PNG)))


def locations(db_path: Path | None = None) -> list[tuple[str, str]]:
    """Where the log, the settings and the library are on this machine (README: "Where things are")."""
    from PySide6.QtCore import QSettings

    from lora_manager_gui.ui.error_reporting import LOG_FILE_NAME

    places = [("Log file", str(config.log_dir() / LOG_FILE_NAME)),
              ("Settings", QSettings(APP_NAME, APP_NAME).fileName())]
    if db_path is not None:
        places.append(("Library", str(db_path)))
    places.append(("Data folder", str(config.data_dir())))
    return places


def about_text(db_path: Path | None = None) -> str:
    """Rich text for the About box: name, the single-sourced version, what runs it, where things are."""
    from PySide6 import __version__ as pyside_version

    python = ".".join(map(str, sys.version_info[:3]))
    frozen = " (desktop build)" if getattr(sys, "frozen", False) else ""
    rows = "".join(f"<tr><td>{html.escape(what)}:&nbsp;</td><td>{html.escape(where)}</td></tr>"
                   for what, where in locations(db_path))
    return (
        f"<h3>{html.escape(APP_DISPLAY_NAME)} {html.escape(__version__)}</h3>"
        "<p>Import, hash, identify on CivitAI, browse and export large LoRA libraries.</p>"
        f"<p>Python {python}, PySide6 {html.escape(pyside_version)}{frozen}</p>"
        f"<table>{rows}</table>"
    )


def show_about(parent: QWidget | None, db_path: Path | None = None) -> None:
    QMessageBox.about(parent, f"About {APP_DISPLAY_NAME}", about_text(db_path))
