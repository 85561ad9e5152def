"""The gallery: tiles of one fixed size (a thumbnail with badges over a two-line name).

The size is the user's (the tile-size slider sets `icon_side`); badges say the base model, the
NSFW level and whether CivitAI identified the adapter, with a slot kept for "update available".

Every tile has the same size hint, computed from the icon size and the font alone, never from the
data: a tile laid out while its row or thumbnail is still loading is as big as one laid out later.
(The list view's own delegate sized tiles from the first row it met; with the gallery as the
remembered mode that was a placeholder with no icon, and every tile stayed a thin strip.)
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPalette, QPixmap, QTextLayout, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from lora_manager_gui.core.civitai import NSFW_NAMES
from lora_manager_gui.db.browse import AdapterRow
from lora_manager_gui.ui.adapter_model import PIXMAP_ROLE, ROW_ROLE

ICON_SIDE = 128
MIN_ICON_SIDE = 96
MAX_ICON_SIDE = 320
NAME_LINES = 2
PADDING = 6
SPACING = 8
BADGE_MAX_CHARS = 14


@dataclass(frozen=True)
class Badge:
    """A small label drawn over a tile's thumbnail."""

    kind: str  # "base_model" | "nsfw" | "identified" | "update" (kept for when updates are checked)
    text: str
    color: tuple[int, int, int]


def nsfw_name(level: int) -> str:
    """The highest CivitAI level set in `level` (a bit mask), e.g. 6 -> "R"."""
    top = max((bit for bit in NSFW_NAMES if level & bit), default=0)
    return NSFW_NAMES.get(top, str(level))


def badges_for(row: AdapterRow, update_available: bool = False) -> list[Badge]:
    """The badges of one tile, in drawing order (top-left, downwards)."""
    badges: list[Badge] = []
    if row.base_model:
        text = row.base_model if len(row.base_model) <= BADGE_MAX_CHARS else row.base_model[:BADGE_MAX_CHARS - 1] + "…"
        badges.append(Badge("base_model", text, (52, 88, 150)))
    if row.nsfw_level > 1:
        badges.append(Badge("nsfw", nsfw_name(row.nsfw_level), (168, 52, 52) if row.nsfw_level >= 4 else (176, 112, 30)))
    if row.identified:
        badges.append(Badge("identified", "CivitAI ✓", (40, 120, 70)))
    if update_available:  # the slot for "update available", once updates are checked
        badges.append(Badge("update", "Update", (120, 60, 150)))
    return badges


def name_lines(text: str, font: QFont, width: int, max_lines: int = NAME_LINES) -> tuple[list[str], bool]:
    """`text` wrapped to `width` pixels in at most `max_lines` lines; True when it had to be elided."""
    if not text:
        return [], False
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout = QTextLayout(text, font)
    layout.setTextOption(option)
    spans: list[tuple[int, int]] = []
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        spans.append((line.textStart(), line.textLength()))
    layout.endLayout()
    if len(spans) <= max_lines:
        return [text[s:s + n].strip() for s, n in spans], False
    lines = [text[s:s + n].strip() for s, n in spans[:max_lines - 1]]
    rest = text[spans[max_lines - 1][0]:].strip()
    lines.append(QFontMetrics(font).elidedText(rest, Qt.TextElideMode.ElideRight, width))
    return lines, True


class GalleryDelegate(QStyledItemDelegate):
    """Paints a tile: the selection panel, the thumbnail centred in a square, the name below it."""

    def __init__(self, icon_side: int = ICON_SIDE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon_side = icon_side

    def set_icon_side(self, side: int) -> None:
        self.icon_side = max(MIN_ICON_SIDE, min(MAX_ICON_SIDE, side))

    def tile_size(self, font: QFont) -> QSize:
        line = QFontMetrics(font).lineSpacing()
        return QSize(self.icon_side + 2 * PADDING + 12, self.icon_side + 3 * PADDING + NAME_LINES * line)

    def text_width(self) -> int:
        return self.icon_side + 12

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.tile_size(option.font)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        text = opt.text
        opt.text = ""
        opt.icon = QIcon()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, widget)
        rect = opt.rect
        box = QRect(rect.x() + (rect.width() - self.icon_side) // 2, rect.y() + PADDING, self.icon_side, self.icon_side)
        painter.save()
        # the card: a quiet panel the size the slider sets, the preview centred on it, the badges
        # on its corner (a portrait preview leaves the panel's sides, and the badges stay on it)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(128, 128, 128, 40))
        painter.drawRoundedRect(box, 4, 4)
        pixmap = index.data(PIXMAP_ROLE)  # decoded at the tile's size: drawn without scaling
        if not isinstance(pixmap, QPixmap):
            icon = index.data(Qt.ItemDataRole.DecorationRole)
            pixmap = icon.pixmap(QSize(self.icon_side, self.icon_side)) if isinstance(icon, QIcon) \
                and not icon.isNull() else icon if isinstance(icon, QPixmap) else None
        if pixmap is not None and not pixmap.isNull():
            # fills the card; a thumbnail decoded at the card's size is drawn as it is
            size = pixmap.deviceIndependentSize().toSize().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pixmap)
        else:  # no preview (yet): a quiet frame keeps the tile's shape
            painter.setPen(QColor(128, 128, 128, 90))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(box.adjusted(0, 0, -1, -1))
        row = index.data(ROW_ROLE)
        if isinstance(row, AdapterRow):
            self._paint_badges(painter, box, badges_for(row))
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        painter.setFont(opt.font)
        line_height = QFontMetrics(opt.font).lineSpacing()
        top = box.bottom() + PADDING
        width = self.text_width()
        for i, line in enumerate(name_lines(text, opt.font, width)[0]):
            line_rect = QRect(rect.x() + (rect.width() - width) // 2, top + i * line_height, width, line_height)
            painter.drawText(line_rect, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), line)
        painter.restore()


    def _paint_badges(self, painter: QPainter, box: QRect, badges: list[Badge]) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        metrics = QFontMetrics(font)
        painter.setFont(font)
        y = box.top() + 3
        for badge in badges:
            rect = QRect(box.left() + 3, y, min(box.width() - 6, metrics.horizontalAdvance(badge.text) + 8),
                         metrics.height() + 2)
            if rect.bottom() > box.bottom() - 2:
                break
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(*badge.color, 225))
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter),
                             metrics.elidedText(badge.text, Qt.TextElideMode.ElideRight, rect.width() - 6))
            y = rect.bottom() + 3


def set_tile_side(view: QListView, delegate: GalleryDelegate, side: int) -> None:
    """Every tile at `side` pixels of thumbnail: the icon size and the grid follow."""
    delegate.set_icon_side(side)
    view.setIconSize(QSize(delegate.icon_side, delegate.icon_side))
    tile = delegate.tile_size(view.font())
    view.setGridSize(QSize(tile.width() + SPACING, tile.height() + SPACING))
    view.doItemsLayout()


def make_gallery(icon_side: int = ICON_SIDE) -> tuple[QListView, GalleryDelegate]:
    """An icon-mode list of fixed tiles that reflows with the width."""
    view = QListView()
    delegate = GalleryDelegate(icon_side, view)
    view.setItemDelegate(delegate)
    view.setViewMode(QListView.ViewMode.IconMode)
    set_tile_side(view, delegate, icon_side)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)  # safe: the size hint never depends on the data
    view.setWordWrap(True)
    view.setMovement(QListView.Movement.Static)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setMouseTracking(True)
    return view, delegate
