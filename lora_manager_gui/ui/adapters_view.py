"""The adapters view: search and filters over a table and a gallery of the same rows, plus details."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import AdapterRow, BrowseQuery
from lora_manager_gui.ui.adapter_model import COLUMNS, ROW_ROLE, AdapterTableModel
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.details_pane import DetailsPane
from lora_manager_gui.ui.safe_html import PlainToolTips
from lora_manager_gui.ui.gallery import make_gallery
from lora_manager_gui.ui.thumbnails import ThumbnailCache
from lora_manager_gui.ui.widgets import ShrinkingComboBox, style_splitter

SEARCH_DELAY_MS = 250
# Filter boxes carry plain strings and ints as item data ("" = any), never None or booleans.
ANY = ""
NSFW_FILTERS: tuple[tuple[str, int], ...] = (
    ("Any NSFW level", -1), ("≤ 1 (PG)", 1), ("≤ 2 (PG-13)", 2), ("≤ 4 (R)", 4), ("≤ 8 (X)", 8),
)
TRISTATE = {"identified": (("Identified or not", ANY), ("Identified", "yes"), ("Not identified", "no")),
            "missing": (("Any file state", ANY), ("File missing", "yes"), ("File present", "no"))}


def _tristate(value: object) -> bool | None:
    return {"yes": True, "no": False}.get(str(value))


class EmptyLibraryPanel(QWidget):
    """What a first run shows: the library is empty, and two ways to fill it."""

    add_folder_requested = Signal()
    demo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title = QLabel("Your LoRA library is empty")
        title.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.text = text = QLabel("Add a folder of LoRA files to import what is beside them (CivitAI JSON, .civitai.info, "
                      "A1111 .json, Lora Manager .metadata.json), or look around in a small demo library first.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        # A wrapped label gets the height its width needs only when the layout sets its width:
        # centred by stretches (an alignment flag would size it from the one-line hint and clip it).
        text.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        title.setWordWrap(True)
        self.add_button = QPushButton("Add a LoRA folder…")
        self.demo_button = QPushButton("Open the demo library")
        self.add_button.clicked.connect(self.add_folder_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        body = QWidget()
        body.setMinimumWidth(280)
        body.setMaximumWidth(560)
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(title)
        column.addWidget(text)
        column.addSpacing(8)
        column.addLayout(buttons)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(body, 10)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)


class AdaptersView(QWidget):
    selection_changed = Signal(list)  # list[int] of adapter ids
    message_posted = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tracker = TaskTracker()
        self.thumbnails = ThumbnailCache(lambda: self.ctx.pool, max_side=128, parent=self)
        self.previews = ThumbnailCache(lambda: self.ctx.pool, max_side=320, capacity=50, parent=self)
        self.model = AdapterTableModel(ctx, self.thumbnails)
        self.library_size = 0

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, version, tags, trigger words, creator, file…")
        self.search.setClearButtonEnabled(True)
        # At the default size every filter shows its whole text; at the window's minimum they shrink.
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance("Search name, tags…") + 40)
        self.base_model = ShrinkingComboBox()
        self.base_model.addItem("Any base model", ANY)
        self.nsfw = ShrinkingComboBox()
        for label, value in NSFW_FILTERS:
            self.nsfw.addItem(label, value)
        self.identified = ShrinkingComboBox()
        self.missing = ShrinkingComboBox()
        for box, key in ((self.identified, "identified"), (self.missing, "missing")):
            for label, value in TRISTATE[key]:
                box.addItem(label, value)
        self.mode = QComboBox()
        self.mode.addItems(["Table", "Gallery"])
        self.count_label = QLabel()
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.mode)
        search_row.addWidget(self.count_label)
        filter_row = QHBoxLayout()
        for w in (self.base_model, self.nsfw, self.identified, self.missing):
            filter_row.addWidget(w)
        filter_row.addStretch(1)
        bar = QVBoxLayout()
        bar.setSpacing(4)
        bar.addLayout(search_row)
        bar.addLayout(filter_row)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeader().setSectionsMovable(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setIconSize(QSize(26, 26))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        for i, width in enumerate((260, 110, 130, 120, 50, 80, 240)):
            self.table.setColumnWidth(i, width)
        self.gallery, self.gallery_delegate = make_gallery()
        self.gallery.setModel(self.model)
        self.gallery.setSelectionModel(self.table.selectionModel())
        self.plain_tooltips = (PlainToolTips(self.table), PlainToolTips(self.gallery))  # names from sidecars

        self.empty = EmptyLibraryPanel()
        self.no_match = QLabel("No adapter matches the search and filters.")
        self.no_match.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for widget, name in ((self.search, "Search adapters"), (self.base_model, "Base model filter"),
                             (self.nsfw, "NSFW level filter"), (self.identified, "Identified on CivitAI filter"),
                             (self.missing, "File state filter"), (self.mode, "Show as table or gallery"),
                             (self.count_label, "Adapters shown"), (self.table, "Adapters table"),
                             (self.gallery, "Adapters gallery"), (self.empty.add_button, "Add a LoRA folder"),
                             (self.empty.demo_button, "Open the demo library")):
            widget.setAccessibleName(name)
        self.stack = QStackedWidget()
        for w in (self.table, self.gallery, self.no_match, self.empty):
            self.stack.addWidget(w)

        self.details = DetailsPane(ctx, self.previews)
        self.details.message_posted.connect(self.message_posted)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.stack)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        style_splitter(self.splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.apply_filters)
        for box in (self.base_model, self.nsfw, self.identified, self.missing):
            box.currentIndexChanged.connect(self.apply_filters)
        self.mode.currentIndexChanged.connect(self._show_mode)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.selectionModel().currentChanged.connect(self._current_changed)
        self.model.query_applied.connect(self._query_applied)
        # A new query (sort, filter, a finished task's reload) resets the model and with it the
        # selection: the selected adapters are found again by id, as their pages arrive.
        self._kept_ids: list[int] = []
        self._kept_current: int | None = None
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.page_loaded.connect(lambda _page: self._restore_selection())

    # ---- queries ------------------------------------------------------------------------
    def current_query(self) -> BrowseQuery:
        return BrowseQuery(
            search=self.search.text().strip(),
            base_model=str(self.base_model.currentData() or "") or None,
            max_nsfw=nsfw if (nsfw := int(self.nsfw.currentData())) >= 0 else None,
            identified=_tristate(self.identified.currentData()),
            missing_file=_tristate(self.missing.currentData()),
            sort_key=self.model.query.sort_key,
            descending=self.model.query.descending,
        )

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.tracker.spawn(self.model.apply_query(self.current_query()), "apply filters")

    async def reload(self) -> None:
        """Re-read the library: counts, base models, rows (after an import or a library switch)."""
        self.library_size = await self.ctx.db.call(browse.adapter_count)
        models = await self.ctx.db.call(browse.base_models)
        current = str(self.base_model.currentData() or "")
        self.base_model.blockSignals(True)
        self.base_model.clear()
        self.base_model.addItem("Any base model", ANY)
        for m in models:
            self.base_model.addItem(m, m)
        self.base_model.setCurrentIndex(max(0, self.base_model.findData(current)) if current else 0)
        self.base_model.blockSignals(False)
        self.thumbnails.clear()
        self.previews.clear()
        await self.model.apply_query(self.current_query(), refresh_schema=True)

    def _query_applied(self, count: int) -> None:
        total = self.library_size
        if total == 0:
            self.stack.setCurrentWidget(self.empty)
        elif count == 0:
            self.stack.setCurrentWidget(self.no_match)
        else:
            self._show_mode()
        if count == 0 or (not self.table.selectionModel().hasSelection() and self._kept_current is None):
            self.details.show_adapter(None)
        self._update_count()

    def _update_count(self) -> None:
        count, total = self.model.rowCount(), self.library_size
        text = f"{count:,} of {total:,}" if count != total else f"{count:,} adapters"
        selected = len(self.table.selectionModel().selectedRows(0))
        self.count_label.setText(f"{text} · {selected:,} selected" if selected > 1 else text)

    def _show_mode(self) -> None:
        if self.model.rowCount() == 0:
            return
        gallery = self.mode.currentText() == "Gallery"
        self.stack.setCurrentWidget(self.gallery if gallery else self.table)

    # ---- selection ------------------------------------------------------------------------
    def selected_rows(self) -> list[AdapterRow]:
        rows = []
        for index in self.table.selectionModel().selectedRows(0):
            row = self.model.data(index, ROW_ROLE)
            if row is not None:
                rows.append(row)
        return rows

    def select_row(self, i: int) -> None:
        index = self.model.index(i, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def _selection_changed(self, *_: object) -> None:
        if self._restoring:
            return
        self._kept_ids = []
        self._kept_current = None
        self.selection_changed.emit([r.id for r in self.selected_rows()])
        self._update_count()

    _restoring = False

    def _remember_selection(self) -> None:
        if not self._kept_ids:
            self._kept_ids = [r.id for r in self.selected_rows()]
            current = self.table.selectionModel().currentIndex()
            row = self.model.data(self.model.index(current.row(), 0), ROW_ROLE) if current.isValid() else None
            self._kept_current = row.id if row is not None else None

    def _restore_selection(self) -> None:
        """Select again the kept adapters whose rows are loaded; the rest when their page lands."""
        if not self._kept_ids:
            return
        selection = self.table.selectionModel()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        found = [(i, r) for i in self._kept_ids if (r := self.model.row_index_of(i)) is not None]
        if not found:
            return
        self._restoring = True
        try:
            for adapter_id, row in found:
                if not selection.isRowSelected(row):
                    selection.select(self.model.index(row, 0), flags)
            current = self.model.row_index_of(self._kept_current) if self._kept_current is not None else None
            if current is not None:
                index = self.model.index(current, 0)
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.table.scrollTo(index)
        finally:
            self._restoring = False
        self._kept_ids = [i for i in self._kept_ids if self.model.row_index_of(i) is None]
        if not self._kept_ids:
            self._kept_current = None
        self._update_count()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._restoring:
            return
        row = self.model.data(self.model.index(current.row(), 0), ROW_ROLE) if current.isValid() else None
        self.details.show_adapter(row.id if row is not None else None)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until rows, details and visible thumbnails have all landed (tests, screenshots)."""
        for _ in range(3):
            await self.tracker.wait_idle(timeout)
            await self.model.wait_idle(timeout)
            await self.details.tracker.wait_idle(timeout)
            await self.thumbnails.wait_idle(timeout)
            await self.previews.wait_idle(timeout)

    def column_keys(self) -> list[str]:
        return [c.key for c in COLUMNS]
