"""The app icon and the About box (the version comes from the package metadata, as for --version)."""
from __future__ import annotations

import html
import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QWidget

from lora_manager_gui import APP_DISPLAY_NAME, __version__
from lora_manager_gui.core.resources import APP_ICON_PNG, resource_path


def app_icon() -> QIcon:
    return QIcon(str(resource_path(APP_ICON_PNG)))


def about_text() -> str:
    """Rich text for the About box: name, the single-sourced version, and what runs it."""
    from PySide6 import __version__ as pyside_version

    python = ".".join(map(str, sys.version_info[:3]))
    frozen = " (desktop build)" if getattr(sys, "frozen", False) else ""
    return (
        f"<h3>{html.escape(APP_DISPLAY_NAME)} {html.escape(__version__)}</h3>"
        "<p>Import, hash, identify on CivitAI, browse and export large LoRA libraries.</p>"
        f"<p>Python {python}, PySide6 {html.escape(pyside_version)}{frozen}</p>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, f"About {APP_DISPLAY_NAME}", about_text())
