"""Orphans: model files with no metadata beside them; hash, identify or import them from the header."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
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

HEADERS = ("File", "Folder", "Size", "Modified", "SHA-256", "CivitAI")


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
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        row = self.rows[index.row()]
        col = index.column()
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
        return {"found": "found", "not_found": "not on CivitAI", "failed": "lookup failed"}.get(
            row.civitai_status or "", "not asked")


class OrphansView(QWidget):
    hash_requested = Signal(list)  # list[Path]
    identify_requested = Signal(list)
    import_requested = Signal(list)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tracker = TaskTracker()
        self.model = OrphanModel()
        self.table = QTableView()
        self.table.setModel(self.model)
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

    def chosen_paths(self) -> list[Path]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        chosen = [self.model.rows[r] for r in rows] if rows else self.model.rows
        return [Path(r.path) for r in chosen]

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
