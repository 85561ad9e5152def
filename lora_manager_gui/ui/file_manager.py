"""Showing a file's folder in the desktop's file manager, and saying so when there is none.

`QDesktopServices.openUrl` returns False when no application handles folders (a bare window
manager, a minimal container); the user then gets the path to copy instead of nothing at all.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

# Tests replace it to stand for a desktop with or without a file manager.
open_url = QDesktopServices.openUrl


def open_containing_folder(parent: QWidget | None, path: str | Path) -> QMessageBox | None:
    """Open the folder holding `path`; when that fails, a box that names it and offers to copy it.

    Returns the box shown (None when the file manager opened)."""
    folder = Path(path).parent if not Path(path).is_dir() else Path(path)
    if open_url(QUrl.fromLocalFile(str(folder))):
        return None
    box = QMessageBox(QMessageBox.Icon.Information, "No file manager",
                      "No file manager could be started to open the folder:\n\n"
                      f"{folder}\n\nCopy the path to open it yourself.", parent=parent)
    copy = box.addButton("Copy path", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.setDefaultButton(copy)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(folder)))
    box.open()
    return box
