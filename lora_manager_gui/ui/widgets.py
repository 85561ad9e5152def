"""Small widgets the window shares: a label that elides (with the whole text as tooltip), a combo
box that may shrink below its contents at the window's minimum size, a visible splitter handle,
and the status bar's "added to the library folders" notice with its Undo."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSplitter, QWidget

from lora_manager_gui.ui.safe_html import plain_tooltip


class ElidedLabel(QLabel):
    """Plain text on one line; elided in the middle when short of room, whole in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_chars: int = 12,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.min_chars = min_chars
        self.mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(plain_tooltip(text))  # a path: never rendered as rich text

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * self.min_chars), hint.height())

    def elided_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), self.mode, self.contentsRect().width())

    def is_elided(self) -> bool:
        return self.elided_text() != self.text()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.elided_text())


class ShrinkingComboBox(QComboBox):
    """Asks for room for its longest item, but can be squeezed to a few characters."""

    def __init__(self, parent: QWidget | None = None, *, min_chars: int = 11) -> None:
        super().__init__(parent)
        self.min_chars = min_chars

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * self.min_chars + 36), hint.height())


SPLITTER_HANDLE_PX = 7


def style_splitter(splitter: QSplitter) -> None:
    """A handle one can see and grab: wider than the style's, a groove in the palette's mid tone."""
    splitter.setHandleWidth(SPLITTER_HANDLE_PX)
    splitter.setChildrenCollapsible(False)
    splitter.setStyleSheet(
        "QSplitter::handle { background: palette(midlight); border-left: 1px solid palette(mid);"
        " border-right: 1px solid palette(mid); margin: 2px 1px; }"
        "QSplitter::handle:hover { background: palette(highlight); }")


ROOTS_NOTICE_MS = 30_000


class RootsNotice(QWidget):
    """"Added … to the library folders" with an Undo button, in the status bar for a while."""

    def __init__(self, undo: Callable[[list[str]], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._undo = undo
        self.roots: list[str] = []
        self.label = ElidedLabel(min_chars=20)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setAccessibleName("Undo adding the folders to the library folders")
        self.undo_button.clicked.connect(self.undo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.undo_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ROOTS_NOTICE_MS)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_added(self, roots: list[str]) -> None:
        self.roots = list(roots)
        names = ", ".join(roots)
        self.label.setText(f"Added {names} to the library folders (Re-scan, F5, reads them).")
        self.show()
        self._timer.start()

    def undo(self) -> None:
        roots, self.roots = self.roots, []
        self.hide()
        if roots:
            self._undo(roots)
