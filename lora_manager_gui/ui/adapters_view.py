"""The adapters view: search and filters over a table and a gallery of the same rows, plus details."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
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
from lora_manager_gui.ui.filters import FilterBar, tristate
from lora_manager_gui.ui.folder_sidebar import FolderSidebar
from lora_manager_gui.ui.gallery import make_gallery, set_tile_side
from lora_manager_gui.ui.thumbnails import ThumbnailCache
from lora_manager_gui.ui.widgets import style_splitter

SEARCH_DELAY_MS = 250
TILE_SIZE_KEY = "gallery/tile_size"


SIDEBAR_SHOWN_MIN = 140  # the folder tree is shown when it gets this much beside the rows' bar
SIDEBAR_DEFAULT_WIDTH = 220  # its width when the window first shows it, or shows it again
RESIZE_DECODE_DELAY_MS = 300  # thumbnails are decoded at a new tile size once the slider rests


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

        self.bar = bar = FilterBar()
        self.search, self.mode, self.count_label = bar.search, bar.mode, bar.count_label
        self.tags, self.base_model, self.creators = bar.tags, bar.base_model, bar.creators
        self.nsfw, self.identified, self.missing = bar.nsfw, bar.identified, bar.missing
        self.sort_menu, self.tile_size = bar.sort, bar.tile_size
        self.sidebar = FolderSidebar()
        self.folder: str | None = None

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
        for widget, name in ((self.table, "Adapters table"), (self.gallery, "Adapters gallery"), (self.empty.add_button, "Add a LoRA folder"),
                             (self.empty.demo_button, "Open the demo library")):
            widget.setAccessibleName(name)
        self.stack = QStackedWidget()
        for w in (self.table, self.gallery, self.no_match, self.empty):
            self.stack.addWidget(w)

        self.details = DetailsPane(ctx, self.previews)
        self.details.blurred = self.model.blurred  # its preview is blurred like the row's thumbnail
        self.details.message_posted.connect(self.message_posted)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(bar)
        left_layout.addWidget(self.stack)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([SIDEBAR_DEFAULT_WIDTH, 900, 320])
        self.splitter.setCollapsible(1, False)
        self.splitter.installEventFilter(self)
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
        bar.filters_changed.connect(self.apply_filters)
        self.sidebar.folder_chosen.connect(self._folder_chosen)
        self.tags.wants_choices.connect(lambda: self.tracker.spawn(self._load_tags(), "tags"))
        self.sort_menu.sort_changed.connect(self._sort_chosen)
        self.mode.currentIndexChanged.connect(self._show_mode)
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(RESIZE_DECODE_DELAY_MS)
        self._resize_timer.timeout.connect(self._decode_at_tile_side)
        self.tile_size.valueChanged.connect(self.set_tile_side)
        saved = ctx.store.value(TILE_SIZE_KEY)
        try:
            side = int(saved) if saved is not None else self.tile_size.value()
        except (TypeError, ValueError):
            side = self.tile_size.value()
        self.tile_size.setValue(side)
        self.set_tile_side(self.tile_size.value())
        self.model.set_blur_above(ctx.settings.preview_nsfw_level)
        # Tab order: the folders, then the search, the filters, then the rows
        self.setTabOrder(self.sidebar, self.search)
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
            base_models=self.base_model.selected(),
            tags=self.tags.selected(),
            creators=self.creators.selected(),
            folder=self.folder,
            max_nsfw=self.bar.max_nsfw(),
            identified=tristate(self.identified.currentData()),
            missing_file=tristate(self.missing.currentData()),
            sort_key=self.model.query.sort_key,
            descending=self.model.query.descending,
        )

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.tracker.spawn(self.model.apply_query(self.current_query()), "apply filters")

    async def _load_tags(self) -> None:
        tags = await self.ctx.db.call(browse.top_tags)
        self.tags.blockSignals(True)
        self.tags.set_choices(sorted({*tags, *self.tags.selected()}))
        self.tags.blockSignals(False)

    def _folder_chosen(self, folder: str | None) -> None:
        self.folder = folder
        self.apply_filters()

    def _sort_chosen(self, key: str, descending: bool) -> None:
        self.tracker.spawn(self.model.apply_query(
            replace(self.current_query(), sort_key=key, descending=descending)), "sort")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.splitter and event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self.fit_panes)
        return super().eventFilter(watched, event)

    _sidebar_reshown = False

    def fit_panes(self) -> None:
        """The rows' bar keeps its preferred width: a narrow window hides the folder tree (it comes
        back when there is room), a wide sidebar or details pane gives up what the bar lacks, and a
        shown tree gets at least SIDEBAR_SHOWN_MIN pixels."""
        handle = self.splitter.handleWidth()
        bar = self.bar.sizeHint().width()
        details = max(self.details.minimumSizeHint().width(), self.details.minimumWidth())
        show = self.splitter.width() >= SIDEBAR_SHOWN_MIN + bar + details + 2 * handle
        if show == self.sidebar.isHidden():
            self.sidebar.setVisible(show)
            self._sidebar_reshown = show
            return  # the splitter lays out again, and this runs once more
        sizes = self.splitter.sizes()
        if sum(sizes) == 0:
            return
        before = list(sizes)
        if show and self._sidebar_reshown:  # a tree shown again gets its default width, not a share
            self._sidebar_reshown = False
            extra = sizes[0] - SIDEBAR_DEFAULT_WIDTH
            if extra > 0:
                sizes[0] -= extra
                sizes[1] += extra
        if show and sizes[0] < SIDEBAR_SHOWN_MIN:
            give = min(SIDEBAR_SHOWN_MIN - sizes[0], max(0, sizes[1] - bar))
            sizes[0] += give
            sizes[1] -= give
        short = bar - sizes[1]
        for pane, floor in ((2, details), (0, SIDEBAR_SHOWN_MIN if show else 0)):
            give = max(0, min(short, sizes[pane] - floor))
            sizes[pane] -= give
            sizes[1] += give
            short -= give
        if sizes != before:
            self.splitter.setSizes(sizes)

    def set_tile_side(self, side: int) -> None:
        """Gallery tiles at `side` pixels of thumbnail (the slider's value), remembered. While the
        slider moves, loaded thumbnails are scaled to fit; once it rests they are decoded again at
        the tile's size (painted unscaled from then on)."""
        set_tile_side(self.gallery, self.gallery_delegate, side)
        self.ctx.store.setValue(TILE_SIZE_KEY, self.gallery_delegate.icon_side)
        if self.thumbnails.known_count() == 0:
            self._decode_at_tile_side()
        else:
            self._resize_timer.start()

    def _decode_at_tile_side(self) -> None:
        self.thumbnails.set_max_side(self.gallery_delegate.icon_side)
        self.model.thumbnails_reset()

    async def reload(self) -> None:
        """Re-read the library: counts, rows, then the choices of the filters and the folder tree
        (after an import or a library switch). The first rows come first."""
        self.library_size = await self.ctx.db.call(browse.adapter_count)
        self.thumbnails.clear()
        self.previews.clear()
        self.model.set_blur_above(self.ctx.settings.preview_nsfw_level)
        await self.model.apply_query(self.current_query(), refresh_schema=True)
        self.tracker.spawn(self._load_choices(), "filter choices")

    async def _load_choices(self) -> None:
        models = await self.ctx.db.call(browse.base_models)
        creators = await self.ctx.db.call(browse.creators)
        folders = await self.ctx.db.call(browse.folder_counts)
        before = self.current_query()
        self.tags.mark_stale()
        if self.tags.selected():  # keep the chosen tags offered
            await self._load_tags()
        for menu, values in ((self.base_model, models), (self.creators, creators)):
            menu.blockSignals(True)
            menu.set_choices(values)
            menu.blockSignals(False)
        self.sidebar.blockSignals(True)
        self.sidebar.set_folders(folders, list(self.ctx.settings.library_roots), self.library_size)
        self.sidebar.blockSignals(False)
        self.folder = self.sidebar.chosen
        if self.current_query() != before:  # a chosen tag, creator or folder is gone
            await self.model.apply_query(self.current_query())

    def _query_applied(self, count: int) -> None:
        self._show_sort()
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

    def _show_sort(self) -> None:
        """The sort menu and the header's indicator say the model's order (either may set it)."""
        query = self.model.query
        self.sort_menu.show_sort(query.sort_key, query.descending)
        column = next((i for i, c in enumerate(COLUMNS) if c.key == query.sort_key), -1)
        order = Qt.SortOrder.DescendingOrder if query.descending else Qt.SortOrder.AscendingOrder
        header = self.table.horizontalHeader()
        if (header.sortIndicatorSection(), header.sortIndicatorOrder()) != (column, order):
            header.setSortIndicator(column, order)  # model.sort() sees the same order: no new query

    def _update_count(self) -> None:
        count, total = self.model.rowCount(), self.library_size
        text = f"{count:,} of {total:,}" if count != total else f"{count:,} adapters"
        selected = len(self.table.selectionModel().selectedRows(0))
        self.count_label.setText(f"{text} · {selected:,} selected" if selected > 1 else text)

    def _show_mode(self) -> None:
        if self.model.rowCount() == 0:
            return
        gallery = self.mode.currentText() == "Gallery"
        self.tile_size.setVisible(gallery)
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
        selected = [r.id for r in self.selected_rows()]
        if not selected:  # deselected (Ctrl+click) while the current row stays: nothing is shown
            self.details.show_adapter(None)
        self.selection_changed.emit(selected)
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
