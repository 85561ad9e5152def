"""The Problems list: every problem of this session's and the last sessions' tasks.

Whole paths (elided in the middle, whole in the tooltip), the problem in words, sortable by every
column, filtered by a text box, copied as tab-separated lines (Ctrl+C or "Copy").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.core.tasks import ItemProblem
from lora_manager_gui.ui.safe_html import plain_tooltip

HEADERS = ("When", "Task", "File or item", "Problem", "Message")


@dataclass(frozen=True)
class ProblemEntry:
    when: str  # "YYYY-MM-DD HH:MM" local time, "" for a task still running
    task: str
    problem: ItemProblem

    def cells(self) -> tuple[str, str, str, str, str]:
        return (self.when, self.task, self.problem.path, self.problem.kind.label, self.problem.message)


class ProblemsModel(QAbstractTableModel):
    def __init__(self, entries: list[ProblemEntry]) -> None:
        super().__init__()
        self.entries = entries

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        text = self.entries[index.row()].cells()[index.column()]
        # Paths and messages quote file names: a tool tip would render them as rich text.
        return plain_tooltip(text) if role == Qt.ItemDataRole.ToolTipRole else text


class ProblemListDialog(QDialog):
    def __init__(self, entries: list[ProblemEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Problems")
        self.resize(1100, 480)
        self.model = ProblemsModel(entries)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by file, problem, message or task…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter problems")
        self.filter.textChanged.connect(self._filter)
        self.count = QLabel()
        self.table = QTableView()
        self.table.setAccessibleName("Problems")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((130, 160, 380, 140)):
            self.table.setColumnWidth(column, width)
        QShortcut(QKeySequence.StandardKey.Copy, self.table, self.copy_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setToolTip("Copy the selected problems (all shown ones when none is selected) as text")
        self.copy_button.clicked.connect(self.copy_selected)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self._filter("")

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} problems")

    def shown_rows(self) -> list[tuple[str, ...]]:
        return [self.model.entries[self.proxy.mapToSource(self.proxy.index(r, 0)).row()].cells()
                for r in range(self.proxy.rowCount())]

    def copy_selected(self) -> str:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if not rows:
            rows = list(range(self.proxy.rowCount()))
        lines = ["\t".join(HEADERS)]
        for r in rows:
            source = self.proxy.mapToSource(self.proxy.index(r, 0)).row()
            lines.append("\t".join(c.replace("\t", " ").replace("\n", " ") for c in self.model.entries[source].cells()))
        text = "\n".join(lines)
        QGuiApplication.clipboard().setText(text)
        return text
