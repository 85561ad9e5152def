"""Orphans: model files with no metadata beside them; hash, identify or import them from the header."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QPoint, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import OrphanRow
from lora_manager_gui.core.sizes import display_size
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.safe_html import PlainToolTips
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.file_manager import open_containing_folder

HEADERS = ("File", "Folder", "Size", "Modified", "SHA-256", "CivitAI")
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
CIVITAI_WORDS = {"found": "found", "not_found": "not on CivitAI", "failed": "lookup failed"}


def sort_key(row: OrphanRow, column: int) -> object:
    """What a column sorts by: sizes and times as numbers, names case-blind."""
    return (os.path.basename(row.path).lower(), row.folder.lower(), row.size_bytes, row.mtime_ns,
            row.sha256 or "", CIVITAI_WORDS.get(row.civitai_status or "", "not asked"))[column]


class OrphanModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[OrphanRow] = []

    def set_rows(self, rows: list[OrphanRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == SORT_ROLE:
            return sort_key(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if col == 0:
            return os.path.basename(row.path) if role == Qt.ItemDataRole.DisplayRole else row.path
        if col == 1:
            return row.folder
        if col == 2:
            return display_size(row.size_bytes)
        if col == 3:
            return datetime.fromtimestamp(row.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M")
        if col == 4:
            return (row.sha256[:10] if role == Qt.ItemDataRole.DisplayRole else row.sha256) if row.sha256 else "not hashed"
        return CIVITAI_WORDS.get(row.civitai_status or "", "not asked")


class OrphansView(QWidget):
    hash_requested = Signal(list)  # list[Path]
    identify_requested = Signal(list)
    import_requested = Signal(list)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tracker = TaskTracker()
        self.model = OrphanModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setAccessibleName("Orphan model files")
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self.show_menu)
        self.table.activated.connect(lambda _index: self.open_folder())
        self.plain_tooltips = PlainToolTips(self.table)  # file names: shown literally
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        for i, width in enumerate((300, 280, 80, 130, 110)):
            self.table.setColumnWidth(i, width)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.hash_button = QPushButton("Hash")
        self.identify_button = QPushButton("Identify on CivitAI")
        self.import_button = QPushButton("Import from header")
        self.hash_button.setToolTip("Compute SHA-256 of the selected files (all files if none is selected)")
        self.identify_button.setToolTip("Look the selected files up on CivitAI by hash")
        self.import_button.setToolTip("Create adapters from what the safetensors headers say")
        self.hash_button.clicked.connect(lambda: self.hash_requested.emit(self.chosen_paths()))
        self.identify_button.clicked.connect(lambda: self.identify_requested.emit(self.chosen_paths()))
        self.import_button.clicked.connect(lambda: self.import_requested.emit(self.chosen_paths()))
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        for b in (self.hash_button, self.identify_button, self.import_button):
            bar.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table)

    def selected_orphans(self) -> list[OrphanRow]:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.rows[r] for r in rows]

    def chosen_paths(self) -> list[Path]:
        chosen = self.selected_orphans() or self.model.rows
        return [Path(r.path) for r in chosen]

    def current_orphan(self) -> OrphanRow | None:
        index = self.proxy.mapToSource(self.table.selectionModel().currentIndex())
        return self.model.rows[index.row()] if index.isValid() else None

    def menu(self) -> QMenu:
        """Hash, identify, import, copy the paths of, or show the folder of the selected files."""
        menu = QMenu(self)
        chosen = bool(self.selected_orphans())
        for text, slot in (("Hash", lambda: self.hash_requested.emit(self.chosen_paths())),
                           ("Identify on CivitAI", lambda: self.identify_requested.emit(self.chosen_paths())),
                           ("Import from header", lambda: self.import_requested.emit(self.chosen_paths()))):
            menu.addAction(text, slot).setEnabled(chosen)
        menu.addSeparator()
        menu.addAction("Copy file paths", self.copy_paths).setEnabled(chosen)
        menu.addAction("Open containing folder", self.open_folder).setEnabled(self.current_orphan() is not None)
        menu.addSeparator()
        menu.addAction("Select all", self.table.selectAll)
        return menu

    def show_menu(self, pos: QPoint) -> QMenu:
        menu = self.menu()
        menu.popup(self.table.viewport().mapToGlobal(pos))
        return menu

    def copy_paths(self) -> None:
        paths = [r.path for r in self.selected_orphans()]
        if paths:
            QGuiApplication.clipboard().setText("\n".join(paths))

    def open_folder(self) -> None:
        row = self.current_orphan()
        if row is not None:
            open_containing_folder(self.window(), row.path)

    def reload(self) -> None:
        self.tracker.spawn(self._reload(), "orphans")

    async def _reload(self) -> None:
        rows = await self.ctx.db.call(browse.list_orphans)
        self.model.set_rows(rows)
        total = sum(r.size_bytes for r in rows)
        self.summary.setText(f"{len(rows):,} model files without metadata, {display_size(total)}" if rows else
                             "No orphans: every model file seen by the last import has metadata beside it.")
        for b in (self.hash_button, self.identify_button, self.import_button):
            b.setEnabled(bool(rows))

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)
