"""The main window on the screen it opens on: a default size that fits, a restored one clamped.

A geometry saved on another screen, or at another scale (1.5x makes the same logical size half as
big again in pixels), may no longer fit; the window is then shrunk to the available area (never
below its minimum size) and moved inside it.
"""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

DEFAULT_SIZE = QSize(1400, 860)
SCREEN_SHARE = 0.92  # a default window leaves a margin of the screen free
FRAME_GUESS = QSize(8, 34)  # window-manager borders and title bar, before the frame is known


def fitted(frame: QRect, available: QRect, minimum: QSize, extra: QSize) -> QRect:
    """The client rect for a window whose frame was `frame` so that the frame lies in `available`.

    `extra` is what the frame adds to the client size; the client never gets below `minimum`."""
    width = max(min(frame.width() - extra.width(), available.width() - extra.width()), minimum.width())
    height = max(min(frame.height() - extra.height(), available.height() - extra.height()), minimum.height())
    frame_w, frame_h = width + extra.width(), height + extra.height()
    x = min(max(frame.x(), available.x()), available.x() + available.width() - frame_w)
    y = min(max(frame.y(), available.y()), available.y() + available.height() - frame_h)
    return QRect(max(x, available.x()), max(y, available.y()), width, height)


def frame_of(window: QWidget) -> tuple[QRect, QSize]:
    """The window's frame and what it adds to the client size (guessed before the frame is known)."""
    frame, geometry = window.frameGeometry(), window.geometry()
    extra = QSize(frame.width() - geometry.width(), frame.height() - geometry.height())
    if window.isVisible() and (extra.width() or extra.height()):
        return frame, extra
    guess = QRect(geometry.x(), geometry.y(), geometry.width() + FRAME_GUESS.width(),
                  geometry.height() + FRAME_GUESS.height())
    return guess, FRAME_GUESS


def available_area(window: QWidget) -> QRect:
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, DEFAULT_SIZE.width(), DEFAULT_SIZE.height())


def default_size(window: QWidget) -> QSize:
    area = available_area(window)
    return QSize(min(DEFAULT_SIZE.width(), int(area.width() * SCREEN_SHARE)),
                 min(DEFAULT_SIZE.height(), int(area.height() * SCREEN_SHARE)))


def fit_to_screen(window: QWidget) -> bool:
    """Shrink and move `window` so that its frame lies on its screen's available area; True if it moved."""
    if window.isMaximized() or window.isFullScreen():
        return False
    frame, extra = frame_of(window)
    target = fitted(frame, available_area(window), window.minimumSizeHint().boundedTo(available_area(window).size()),
                    extra)
    changed = False
    if target.size() != window.size():
        window.resize(target.size())
        changed = True
    if target.topLeft() != frame.topLeft() and target.topLeft() != window.frameGeometry().topLeft():
        window.move(target.topLeft())  # move() places the frame
        changed = True
    return changed
