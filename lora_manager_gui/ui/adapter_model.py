"""The adapters table model: a window onto SQL, fetched page by page on the database thread.

The model knows the row count of the current query and keeps a few pages of rows; a row that is
not loaded yet shows a placeholder and asks for its page, which arrives later by `await`. Sorting,
filtering and search replace the query and reset the model. Nothing here blocks the GUI thread.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QIcon

from lora_manager_gui.core.sizes import display_size
from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import AdapterRow, BrowseQuery, LibrarySchema
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.thumbnails import ThumbnailCache

log = logging.getLogger(__name__)

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
PIXMAP_ROLE = Qt.ItemDataRole.UserRole + 2  # the cached thumbnail itself (the gallery paints it unscaled)
MAX_PAGES = 40


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    sortable: bool = True


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name"),
    Column("version", "Version"),
    Column("base_model", "Base model"),
    Column("creator", "Creator"),
    Column("nsfw", "NSFW"),
    Column("size", "Size"),
    Column("file", "File"),
    Column("status", "Status", sortable=False),
)


def status_text(row: AdapterRow) -> str:
    parts = ["identified" if row.identified else "not identified"]
    if row.missing:
        parts.append("file missing")
    return ", ".join(parts)


def cell_text(row: AdapterRow, key: str) -> str:
    if key == "name":
        return row.name
    if key == "version":
        return row.version
    if key == "base_model":
        return row.base_model or ""
    if key == "creator":
        return row.creator or ""
    if key == "nsfw":
        return str(row.nsfw_level)
    if key == "size":
        return display_size(row.size_bytes)
    if key == "file":
        return row.file_name or ""
    return status_text(row)


class AdapterTableModel(QAbstractTableModel):
    query_applied = Signal(int)  # the row count of the new query
    page_loaded = Signal(int)  # page number

    def __init__(self, ctx: AppContext, thumbnails: ThumbnailCache) -> None:
        super().__init__()
        self.ctx = ctx
        self.thumbnails = thumbnails
        self.tracker = TaskTracker()
        self.query = BrowseQuery()
        self._count = 0
        self._schema: LibrarySchema | None = None
        self._pages: OrderedDict[int, list[AdapterRow]] = OrderedDict()
        self._loading: set[int] = set()
        self._generation = 0
        self._row_of_id: dict[int, int] = {}
        self.show_thumbnails = True
        self.blur_above: int | None = None  # previews of adapters above this NSFW level are blurred
        self._placeholder_icon = QIcon()
        thumbnails.thumbnail_loaded.connect(self._thumbnail_loaded)

    # ---- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        key = COLUMNS[index.column()].key
        if row is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and index.column() == 0 else None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if role == Qt.ItemDataRole.ToolTipRole and key == "file":
                return row.file_path or row.file_name
            return cell_text(row, key)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.AccessibleTextRole and index.column() == 0:
            parts = [row.name, row.base_model or "", f"NSFW level {row.nsfw_level}" if row.nsfw_level > 1 else "",
                     status_text(row)]
            return ", ".join(p for p in parts if p)
        if role == Qt.ItemDataRole.ForegroundRole and row.missing:
            return QColor(170, 60, 60)
        if role == PIXMAP_ROLE and self.show_thumbnails:
            return self.thumbnails.get(row.id, row.file_path, row.json_file_path, blur=self.blurred(row))
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 0 and self.show_thumbnails:
            pixmap = self.thumbnails.get(row.id, row.file_path, row.json_file_path, blur=self.blurred(row))
            return QIcon(pixmap) if pixmap is not None else self._placeholder_icon
        if role == Qt.ItemDataRole.TextAlignmentRole and key in ("nsfw", "size"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        spec = COLUMNS[column]
        if not spec.sortable:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if spec.key == self.query.sort_key and descending == self.query.descending:
            return
        self.tracker.spawn(self.apply_query(replace(self.query, sort_key=spec.key, descending=descending)), "sort")

    # ---- loading --------------------------------------------------------------------------
    @property
    def page_size(self) -> int:
        return browse.PAGE_SIZE

    def row_at(self, i: int) -> AdapterRow | None:
        if i < 0 or i >= self._count:
            return None
        page_no, offset = divmod(i, self.page_size)
        page = self._pages.get(page_no)
        if page is None:
            self._request_page(page_no)
            return None
        self._pages.move_to_end(page_no)
        return page[offset] if offset < len(page) else None

    def row_index_of(self, adapter_id: int) -> int | None:
        return self._row_of_id.get(adapter_id)

    def _request_page(self, page_no: int) -> None:
        if page_no in self._loading:
            return
        self._loading.add(page_no)
        self.tracker.spawn(self._fetch_page(page_no, self._generation), f"adapters page {page_no}")

    async def _fetch_page(self, page_no: int, generation: int) -> None:
        try:
            rows = await self.ctx.db.call(browse.fetch_adapters, self.query, page_no * self.page_size,
                                          self.page_size, self._schema)
        finally:
            if generation == self._generation:
                self._loading.discard(page_no)
        if generation != self._generation:
            return
        self._store_page(page_no, rows)
        first = page_no * self.page_size
        last = min(self._count, first + len(rows)) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self.page_loaded.emit(page_no)

    def _store_page(self, page_no: int, rows: list[AdapterRow]) -> None:
        self._pages[page_no] = rows
        base = page_no * self.page_size
        for offset, row in enumerate(rows):
            self._row_of_id[row.id] = base + offset
        while len(self._pages) > MAX_PAGES:
            old_no, old_rows = self._pages.popitem(last=False)
            for row in old_rows:
                self._row_of_id.pop(row.id, None)

    async def apply_query(self, query: BrowseQuery, *, refresh_schema: bool = False) -> int:
        """Count and fetch the first page of `query` off the GUI thread, then reset the view."""
        self._generation += 1
        generation = self._generation
        if self._schema is None or refresh_schema:
            self._schema = await self.ctx.db.call(browse.read_schema)
        count = await self.ctx.db.call(browse.count_adapters, query, self._schema)
        first = await self.ctx.db.call(browse.fetch_adapters, query, 0, self.page_size, self._schema) if count else []
        if generation != self._generation:
            return count
        self.beginResetModel()
        self.query = query
        self._count = count
        self._pages.clear()
        self._loading.clear()
        self._row_of_id.clear()
        if first:
            self._store_page(0, first)
        self.endResetModel()
        self.query_applied.emit(count)
        return count

    async def reload(self) -> int:
        """Re-read the current query (after an import or a library switch)."""
        return await self.apply_query(self.query, refresh_schema=True)

    def set_thumbnails_enabled(self, enabled: bool) -> None:
        if enabled != self.show_thumbnails:
            self.show_thumbnails = enabled
            if self._count:
                self.dataChanged.emit(self.index(0, 0), self.index(self._count - 1, 0),
                                      [Qt.ItemDataRole.DecorationRole])

    def blurred(self, row: AdapterRow) -> bool:
        return self.blur_above is not None and row.nsfw_level > self.blur_above

    def set_blur_above(self, level: int | None) -> None:
        """Blur previews above `level` from now on (those already loaded are loaded again)."""
        if level != self.blur_above:
            self.blur_above = level
            self.thumbnails.clear()
            self.thumbnails_reset()

    def thumbnails_reset(self) -> None:
        """The thumbnail cache was emptied: the views ask again."""
        if self._count:
            self.dataChanged.emit(self.index(0, 0), self.index(self._count - 1, 0),
                                  [Qt.ItemDataRole.DecorationRole, PIXMAP_ROLE])

    def _thumbnail_loaded(self, adapter_id: object) -> None:
        row = self._row_of_id.get(adapter_id) if isinstance(adapter_id, int) else None
        if row is not None:
            idx = self.index(row, 0)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole, PIXMAP_ROLE])

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)
