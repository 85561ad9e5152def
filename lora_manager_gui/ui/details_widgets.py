"""Parts of the details pane: values that wrap anywhere (hashes, paths), a value with its Copy
button, the preview scaled to the pane, and CivitAI's stat keys in words."""
from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase, QPixmap, QResizeEvent, QTextOption
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QTextEdit, QToolButton, QWidget

STAT_WORDS: dict[str, str] = {
    "downloadCount": "Downloads",
    "thumbsUpCount": "Thumbs up",
    "thumbsDownCount": "Thumbs down",
    "favoriteCount": "Favorites",
    "commentCount": "Comments",
    "ratingCount": "Ratings",
    "rating": "Rating",
    "collectedCount": "Collected",
    "tippedAmountCount": "Buzz tipped",
    "imageCount": "Images",
}


def stat_word(key: str) -> str:
    """`downloadCount` -> "Downloads"; an unknown camelCase key -> its words ("fooBarCount" -> "Foo bar")."""
    if key in STAT_WORDS:
        return STAT_WORDS[key]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,60}", str(key)):
        return str(key)  # not an API key name: shown as written
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(key)).replace("_", " ").split()
    if len(words) > 1 and words[-1].lower() == "count":
        words = words[:-1]
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:] if text else str(key)


def stats_lines(stats: dict[str, Any]) -> list[str]:
    """One line per stat, in words: "Downloads: 1,000", "Rating: 4.8"."""
    lines = []
    for key, value in stats.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            lines.append(f"{stat_word(key)}: {value}")
        elif isinstance(value, float) and not value.is_integer():
            lines.append(f"{stat_word(key)}: {value:,.2f}".rstrip("0").rstrip("."))
        else:
            lines.append(f"{stat_word(key)}: {int(value):,}")
    return lines


class WrappedValue(QTextEdit):
    """A value shown whole, wrapped anywhere (a 64-digit hash, a deep path): selectable with mouse
    and keyboard, never elided, as tall as its lines. Plain text only."""

    def __init__(self, *, monospace: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(60)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextEdit { background: transparent; }")
        self.document().setDocumentMargin(1)
        if monospace:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._fit()

    def text(self) -> str:
        return self.toPlainText()

    def textFormat(self) -> Qt.TextFormat:  # noqa: N802 - as QLabel says it: always plain text
        return Qt.TextFormat.PlainText

    def setFont(self, font: QFont) -> None:  # noqa: N802
        super().setFont(font)
        self.document().setDefaultFont(font)
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802 - the QLabel/QLineEdit name callers use
        self.setPlainText(text)
        self._fit()

    def clear(self) -> None:
        super().clear()
        self._fit()

    def needed_height(self) -> int:
        doc = self.document()
        doc.setTextWidth(max(1, self.viewport().width()))
        return math.ceil(doc.size().height()) + 2 * self.frameWidth()

    def fits(self) -> bool:
        """The whole text is in view (the GUI tests ask)."""
        return self.height() >= self.needed_height()

    def _fit(self) -> None:
        height = self.needed_height()
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()


def breakable(text: str, every: int = 20) -> str:
    """`text` for display in a wrapping label, with a zero-width space in each run of `every`
    characters without one, so a long unbroken word wraps instead of widening the pane."""
    return re.sub(r"(\S{%d})(?=\S)" % every, "\\1\u200b", text)


class CopyRow(QWidget):
    """A value and a "Copy" button beside it; `copied(text, what)` when the button is pressed."""

    copied = Signal(str, str)

    def __init__(self, what: str, *, monospace: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.what = what
        self.value = WrappedValue(monospace=monospace)
        self.value.setAccessibleName(what)
        self.button = QToolButton()
        self.button.setText("Copy")
        self.button.setAccessibleName(f"Copy {what}")
        self.button.setToolTip(f"Copy the {what} to the clipboard")
        self.button.clicked.connect(self._copy)
        self.offers_button = True
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.set_value("")

    def text(self) -> str:
        return self.value.text()

    def set_value(self, text: str, *, copyable: bool = True) -> None:
        self.value.setText(text)
        self.button.setEnabled(bool(text) and copyable)
        if self.offers_button:  # an empty value offers nothing to copy
            self.button.setVisible(bool(text) and copyable)

    def set_offers_button(self, offers: bool) -> None:
        self.offers_button = offers
        self.button.setVisible(offers and self.button.isEnabled())

    def clear(self) -> None:
        self.set_value("")

    def _copy(self) -> None:
        if self.value.text():
            self.copied.emit(self.value.text(), self.what)


class PreviewLabel(QLabel):
    """The preview image, scaled down to the pane's width (and at most MAX_HEIGHT tall), never cut."""

    MAX_HEIGHT = 240

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setMinimumSize(1, 120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_source(self, pixmap: QPixmap | None) -> None:
        self._source = pixmap
        self._rescale()

    def setText(self, text: str) -> None:  # noqa: N802
        self._source = None
        super().setText(text)

    def clear(self) -> None:
        self._source = None
        super().clear()

    def _rescale(self) -> None:
        if self._source is None or self._source.isNull():
            return
        width = max(1, self.width())
        scaled = self._source
        if scaled.width() > width or scaled.height() > self.MAX_HEIGHT:
            scaled = scaled.scaled(width, self.MAX_HEIGHT, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(scaled)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._source is not None and event.size().width() != event.oldSize().width():
            self._rescale()
