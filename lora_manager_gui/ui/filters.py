"""Filter and sort controls of the adapters view: multi-choice menus and the sort menu.

Each control only holds the user's choice; the view turns the choices into one BrowseQuery and
SQLite does the filtering and sorting (db/browse.py). Menus are keyboard-operable (Space or Enter
opens them, arrows and Enter pick) and every control has an accessible name.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QSlider, QToolButton, QVBoxLayout, QWidget

from lora_manager_gui.ui.gallery import ICON_SIDE, MAX_ICON_SIDE, MIN_ICON_SIDE
from lora_manager_gui.ui.widgets import ShrinkingComboBox


MAX_CHOICES = 500
# Filter boxes carry plain strings and ints as item data ("" = any), never None or booleans.
ANY = ""
NSFW_FILTERS: tuple[tuple[str, int], ...] = (
    ("NSFW: any", -1), ("NSFW ≤ PG", 1), ("NSFW ≤ PG-13", 2), ("NSFW ≤ R", 4), ("NSFW ≤ X", 8),
)
TRISTATE = {"identified": (("Identified: any", ANY), ("Identified", "yes"), ("Not identified", "no")),
            "missing": (("File: any", ANY), ("File missing", "yes"), ("File present", "no"))}
TILE_STEP = 16


def tristate(value: object) -> bool | None:
    return {"yes": True, "no": False}.get(str(value))


class ChoiceMenuButton(QToolButton):
    """A button whose menu holds checkable choices; `changed` fires with the checked values.

    The menu's actions are made when it opens, not when the choices arrive: 500 creators cost the
    GUI thread tens of milliseconds to build, which a library switch should not pay up front."""

    changed = Signal(tuple)
    wants_choices = Signal()  # a lazy menu opened with its choices not loaded yet (see `lazy`)

    def __init__(self, title: str, accessible_name: str, parent: QWidget | None = None, *,
                 lazy: bool = False) -> None:
        super().__init__(parent)
        self.title = title
        self.lazy = lazy
        self.stale = lazy
        self.setAccessibleName(accessible_name)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._menu = QMenu(self)
        self._menu.setAccessibleName(accessible_name)
        self.setMenu(self._menu)
        self._values: list[str] = []
        self._selected: list[str] = []
        self._actions: dict[str, QAction] = {}
        self._built = False
        self._menu.aboutToShow.connect(self._about_to_show)
        self.set_choices([])
        self.stale = lazy

    def mark_stale(self) -> None:
        """The library changed: a lazy menu loads its choices again when next opened."""
        if self.lazy:
            self.stale = True

    def set_choices(self, values: list[str]) -> None:
        """Offer `values`; those checked before stay checked if still offered."""
        self._values = list(values[:MAX_CHOICES])
        offered = set(self._values)
        self._selected = [v for v in self._selected if v in offered]
        self._built = False
        if self._menu.isVisible():
            self._build()
        self.stale = False
        self.setEnabled(bool(values) or self.lazy)
        self._update_text()

    def choices(self) -> list[str]:
        return list(self._values)

    def selected(self) -> tuple[str, ...]:
        return tuple(self._selected)

    def set_selected(self, values: tuple[str, ...] | list[str]) -> None:
        offered = set(self._values)
        self._selected = [v for v in dict.fromkeys(values) if v in offered]
        for value, action in self._actions.items():
            action.blockSignals(True)
            action.setChecked(value in self._selected)
            action.blockSignals(False)
        self._changed()

    def clear_choices(self) -> None:
        self.set_selected(())

    def menu_actions(self) -> dict[str, QAction]:
        """The menu's checkable actions by value (made now if the menu has not opened yet)."""
        if not self._built:
            self._build()
        return dict(self._actions)

    def _about_to_show(self) -> None:
        if not self._built:
            self._build()
        if self.stale:
            self.stale = False
            if not self._values:
                self._menu.addAction("Loading…").setEnabled(False)
            self.wants_choices.emit()

    def _build(self) -> None:
        self._menu.clear()
        self._actions.clear()
        self._menu.addAction("Clear", self.clear_choices)
        self._menu.addSeparator()
        for value in self._values:
            action = QAction(value, self._menu)
            action.setCheckable(True)
            action.setChecked(value in self._selected)
            action.toggled.connect(lambda on, v=value: self._toggled(v, on))
            self._menu.addAction(action)
            self._actions[value] = action
        self._built = True

    def _toggled(self, value: str, on: bool) -> None:
        if on and value not in self._selected:
            self._selected.append(value)
        elif not on and value in self._selected:
            self._selected.remove(value)
        self._changed()

    def _changed(self) -> None:
        self._update_text()
        self.changed.emit(self.selected())

    def _update_text(self) -> None:
        chosen = self.selected()
        if not chosen:
            text = self.title
        elif len(chosen) == 1:
            text = f"{self.title}: {chosen[0]}"
        else:
            text = f"{self.title}: {len(chosen)}"
        self.setText(text)
        self.setToolTip(", ".join(chosen) if chosen else f"{self.title}: any")


@dataclass(frozen=True)
class SortChoice:
    key: str  # a browse.SORT_EXPRESSIONS key
    label: str


SORT_CHOICES: tuple[SortChoice, ...] = (
    SortChoice("name", "Name"),
    SortChoice("added", "Date added"),
    SortChoice("modified", "Modified"),
    SortChoice("size", "Size"),
    SortChoice("creator", "Creator"),
    SortChoice("base_model", "Base model"),
)


class SortMenuButton(QToolButton):
    """"Sort: Name ↑" with a menu of orders and a direction; `sort_changed(key, descending)`."""

    sort_changed = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Sort adapters by")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        menu.setAccessibleName("Sort adapters by")
        self.setMenu(menu)
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.actions_by_key: dict[str, QAction] = {}
        for choice in SORT_CHOICES:
            action = QAction(choice.label, self)
            action.setCheckable(True)
            action.setData(choice.key)
            self._group.addAction(action)
            menu.addAction(action)
            self.actions_by_key[choice.key] = action
        menu.addSeparator()
        self.descending_action = QAction("Descending", self)
        self.descending_action.setCheckable(True)
        menu.addAction(self.descending_action)
        self._key = "name"
        self._descending = False
        self.actions_by_key["name"].setChecked(True)
        self._group.triggered.connect(lambda a: self._pick(str(a.data()), self._descending))
        self.descending_action.toggled.connect(lambda on: self._pick(self._key, on))
        self._update_text()

    @property
    def key(self) -> str:
        return self._key

    @property
    def descending(self) -> bool:
        return self._descending

    def show_sort(self, key: str, descending: bool) -> None:
        """Show the order the view has (a header click sorted it) without emitting."""
        self._key, self._descending = key, descending
        action = self.actions_by_key.get(key)
        if action is not None:
            action.setChecked(True)
        else:  # a column the menu does not list (version, NSFW, file)
            checked = self._group.checkedAction()
            if checked is not None:
                self._group.setExclusive(False)
                checked.setChecked(False)
                self._group.setExclusive(True)
        self.descending_action.blockSignals(True)
        self.descending_action.setChecked(descending)
        self.descending_action.blockSignals(False)
        self._update_text()

    def _pick(self, key: str, descending: bool) -> None:
        if (key, descending) == (self._key, self._descending):
            return
        self.show_sort(key, descending)
        self.sort_changed.emit(key, descending)

    def _update_text(self) -> None:
        label = next((c.label for c in SORT_CHOICES if c.key == self._key), self._key.replace("_", " ").title())
        self.setText(f"Sort: {label} {'↓' if self._descending else '↑'}")


class FilterBar(QWidget):
    """Search, the filters, the sort menu, the view mode, the tile size and the count, in two rows.
    `filters_changed` fires when a choice changes (the search box has its own delay)."""

    filters_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names, tags, creators, files…")
        self.search.setToolTip("Every word must appear in the name, version, tags, trigger words, creator or file")
        self.search.setClearButtonEnabled(True)
        # At the default size every filter shows its whole text; at the window's minimum they shrink.
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance("Search name, tags…") + 40)
        # tags are counted over every adapter's tag list (about a second at 100,000): when asked
        self.tags = ChoiceMenuButton("Tags", "Tags filter (all chosen tags)", lazy=True)
        self.base_model = ChoiceMenuButton("Base", "Base models filter (any chosen)")
        self.creators = ChoiceMenuButton("Creators", "Creators filter (any chosen)")
        self.nsfw = ShrinkingComboBox(min_chars=6)
        for label, value in NSFW_FILTERS:
            self.nsfw.addItem(label, value)
        self.identified = ShrinkingComboBox(min_chars=5)
        self.missing = ShrinkingComboBox(min_chars=5)
        for box, key in ((self.identified, "identified"), (self.missing, "missing")):
            for label, value in TRISTATE[key]:
                box.addItem(label, value)
        self.sort = SortMenuButton()
        self.mode = QComboBox()
        self.mode.addItems(["Table", "Gallery"])
        self.tile_size = QSlider(Qt.Orientation.Horizontal)
        self.tile_size.setRange(MIN_ICON_SIDE, MAX_ICON_SIDE)
        self.tile_size.setSingleStep(TILE_STEP)
        self.tile_size.setPageStep(TILE_STEP * 4)
        self.tile_size.setValue(ICON_SIDE)
        self.tile_size.setMinimumWidth(60)
        self.tile_size.setMaximumWidth(140)
        self.tile_size.setToolTip("Tile size")
        self.count_label = QLabel()
        for widget, name in ((self.search, "Search adapters"), (self.nsfw, "NSFW level filter"),
                             (self.identified, "Identified on CivitAI filter"), (self.missing, "File state filter"),
                             (self.mode, "Show as table or gallery"), (self.tile_size, "Gallery tile size"),
                             (self.count_label, "Adapters shown")):
            widget.setAccessibleName(name)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        # balanced over two rows, so the narrowest window still fits the sidebar and the details
        for w in (self.sort, self.mode, self.tile_size, self.count_label):  # the sort: above the headers
            search_row.addWidget(w)
        filter_row = QHBoxLayout()
        for w in (self.tags, self.base_model, self.creators, self.nsfw, self.identified, self.missing):
            filter_row.addWidget(w)
        filter_row.addStretch(1)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addLayout(search_row)
        column.addLayout(filter_row)
        for menu in (self.tags, self.base_model, self.creators):
            menu.changed.connect(lambda _values: self.filters_changed.emit())
        for box in (self.nsfw, self.identified, self.missing):
            box.currentIndexChanged.connect(lambda _i: self.filters_changed.emit())

    def max_nsfw(self) -> int | None:
        value = int(self.nsfw.currentData())
        return value if value >= 0 else None
