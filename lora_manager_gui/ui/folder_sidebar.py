"""The folder sidebar: the library roots as a tree of folders with adapter counts.

The counts per folder come from SQL (browse.folder_counts); this module only folds them into a
tree, each folder counting its subfolders too. Choosing a folder narrows the adapters view to the
files under it (BrowseQuery.folder); "All folders" shows everything again. The tree is an ordinary
QTreeView: Tab reaches it, arrows move, and the choice follows the current item.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QTreeView, QWidget

from lora_manager_gui.db.browse import FolderCount

PATH_ROLE = Qt.ItemDataRole.UserRole + 10
COUNT_ROLE = Qt.ItemDataRole.UserRole + 11


@dataclass
class FolderNode:
    path: str
    label: str
    total: int = 0  # adapters in this folder and every folder below it
    children: dict[str, FolderNode] = field(default_factory=dict)


def _norm(path: str) -> str:
    stripped = path.rstrip("/\\")
    return stripped or path


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def build_folder_tree(counts: list[FolderCount], roots: list[str]) -> list[FolderNode]:
    """One node per library root holding counted folders (folders under no root get their common
    ancestor as a root), subfolders nested by path component, totals summed upwards."""
    root_paths = sorted({_norm(r) for r in roots}, key=len, reverse=True)
    placed: list[tuple[str, FolderCount]] = []
    strays: list[FolderCount] = []
    for c in counts:
        root = next((r for r in root_paths if _under(c.path, r)), None)
        if root is None:
            strays.append(c)
        else:
            placed.append((root, c))
    if strays:
        common = os.path.commonpath([c.path for c in strays]) if len(strays) > 1 else strays[0].path
        placed += [(common, c) for c in strays]
    nodes: dict[str, FolderNode] = {}
    for root, c in placed:
        node = nodes.setdefault(root, FolderNode(root, os.path.basename(root) or root))
        node.total += c.count
        rest = c.path[len(root):].strip(os.sep)
        path = root
        for part in rest.split(os.sep) if rest else []:
            path = os.path.join(path, part)
            node = node.children.setdefault(part, FolderNode(path, part))
            node.total += c.count
    return [nodes[k] for k in sorted(nodes, key=str.lower)]


class FolderSidebar(QTreeView):
    """The tree; `folder_chosen(path or None)` when the user picks a folder (None: all)."""

    folder_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Library folders")
        self.setAccessibleDescription("Choose a folder to show only the adapters under it")
        self.tree_model = QStandardItemModel(self)
        self.setModel(self.tree_model)
        self.setHeaderHidden(True)
        self.setUniformRowHeights(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reached by Tab
        self.setMinimumWidth(40)  # a narrow window hides the tree (AdaptersView.fit_panes)
        self._chosen: str | None = None
        self.set_folders([], [], 0)
        self.selectionModel().currentChanged.connect(self._current_changed)

    @property
    def chosen(self) -> str | None:
        return self._chosen

    def set_folders(self, counts: list[FolderCount], roots: list[str], total: int) -> None:
        """Rebuild the tree; the chosen folder stays chosen (and shown) if it is still there."""
        keep = self._chosen
        self.tree_model.blockSignals(True)
        self.tree_model.clear()
        everything = self._item("All folders", None, total)
        self.tree_model.appendRow(everything)
        for node in build_folder_tree(counts, roots):
            self.tree_model.appendRow(self._node_item(node))
        self.tree_model.blockSignals(False)
        self.reset()
        for row in range(1, self.tree_model.rowCount()):
            self.expand(self.tree_model.index(row, 0))
        index = self.index_of(keep) if keep else None
        self.selectionModel().blockSignals(True)
        self.setCurrentIndex(index if index is not None else self.tree_model.index(0, 0))
        self.selectionModel().blockSignals(False)
        if keep and index is None:
            self._chosen = None
            self.folder_chosen.emit(None)

    def index_of(self, path: str) -> QModelIndex | None:
        hits = self.tree_model.match(self.tree_model.index(0, 0), PATH_ROLE, path, 1,
                                     Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return hits[0] if hits else None

    def choose(self, path: str | None) -> None:
        """Choose `path` (None: all folders) as if the user had clicked it."""
        index = self.index_of(path) if path else self.tree_model.index(0, 0)
        if index is not None:
            self.setCurrentIndex(index)

    def _node_item(self, node: FolderNode) -> QStandardItem:
        item = self._item(node.label, node.path, node.total)
        for key in sorted(node.children, key=str.lower):
            item.appendRow(self._node_item(node.children[key]))
        return item

    @staticmethod
    def _item(label: str, path: str | None, count: int) -> QStandardItem:
        item = QStandardItem(f"{label}  ({count:,})")
        item.setData(path, PATH_ROLE)
        item.setData(count, COUNT_ROLE)
        item.setToolTip(path or "Every adapter in the library")
        item.setData(f"{label}, {count:,} adapters", Qt.ItemDataRole.AccessibleTextRole)
        return item

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = current.data(PATH_ROLE) if current.isValid() else None
        if path != self._chosen:
            self._chosen = path
            self.folder_chosen.emit(path)
