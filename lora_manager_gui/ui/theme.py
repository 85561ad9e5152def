"""Light and dark: the Fusion style with a palette for each, and the app's style sheet from
`resources/style/<scheme>.qss` (found through core/resources.py).

The choice (Settings: System, Light or Dark) is stored as `ThemeChoice`. "System" follows the
desktop's colour scheme (`QStyleHints.colorScheme()`, Qt 6.5+) and changes with it while the app
runs; where the platform reports no scheme, it is light. Widgets take their colours from the
palette (`palette(...)` in style sheets) so every view reads in both.
"""
from __future__ import annotations

import logging
from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from lora_manager_gui.core.resources import ResourceMissingError, resource_path

log = logging.getLogger(__name__)


class ThemeChoice(StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"

    @classmethod
    def parse(cls, value: object) -> ThemeChoice:
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.SYSTEM


class Scheme(StrEnum):
    LIGHT = "light"
    DARK = "dark"


THEME_LABELS: tuple[tuple[str, ThemeChoice], ...] = (
    ("Follow the system", ThemeChoice.SYSTEM), ("Light", ThemeChoice.LIGHT), ("Dark", ThemeChoice.DARK),
)


def system_scheme() -> Scheme:
    """The desktop's colour scheme; light when the platform does not say."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None and scheme() == Qt.ColorScheme.Dark:
        return Scheme.DARK
    return Scheme.LIGHT


def resolve(choice: ThemeChoice | str) -> Scheme:
    choice = ThemeChoice.parse(choice)
    if choice is ThemeChoice.SYSTEM:
        return system_scheme()
    return Scheme(choice.value)


HIGHLIGHT = "#2b65b8"  # white text on it reads (contrast over 4.5) in both schemes


def _dark_palette() -> QPalette:
    p = QPalette()
    roles = QPalette.ColorRole
    colors = {
        roles.Window: "#2b2d31", roles.WindowText: "#e6e6e6", roles.Base: "#1f2023",
        roles.AlternateBase: "#2a2c30", roles.ToolTipBase: "#33363b", roles.ToolTipText: "#eeeeee",
        roles.PlaceholderText: "#9a9ea6", roles.Text: "#e6e6e6", roles.Button: "#35383d",
        roles.ButtonText: "#e6e6e6", roles.BrightText: "#ff6b6b", roles.Highlight: HIGHLIGHT,
        roles.HighlightedText: "#ffffff", roles.Link: "#7fb2ff", roles.LinkVisited: "#c39bff",
        roles.Light: "#4a4d53", roles.Midlight: "#3c3f44", roles.Mid: "#2f3135", roles.Dark: "#1a1b1e",
        roles.Shadow: "#000000",
    }
    for role, color in colors.items():
        p.setColor(QPalette.ColorGroup.All, role, QColor(color))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, QColor("#7c8088"))
    p.setColor(disabled, roles.Highlight, QColor("#4a4d53"))
    return p


def _light_palette(app: QApplication) -> QPalette:
    p = QPalette(app.style().standardPalette())
    p.setColor(QPalette.ColorGroup.All, QPalette.ColorRole.Highlight, QColor(HIGHLIGHT))
    p.setColor(QPalette.ColorGroup.All, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    return p


def palette_for(scheme: Scheme, app: QApplication) -> QPalette:
    if scheme is Scheme.DARK:
        return _dark_palette()
    return _light_palette(app)


def style_sheet(scheme: Scheme) -> str:
    """The shipped style sheet for `scheme` (empty, with a log line, when the file is missing)."""
    try:
        return resource_path(f"style/{scheme.value}.qss").read_text("utf-8")
    except (ResourceMissingError, OSError) as exc:
        log.warning("no style sheet for the %s theme: %s", scheme.value, exc)
        return ""


class ThemeController:
    """Applies a choice to the application and, for "System", follows the desktop's changes."""

    def __init__(self, app: QApplication) -> None:
        self.app = app
        self.choice = ThemeChoice.SYSTEM
        self.scheme: Scheme | None = None
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._system_changed)

    def apply(self, choice: ThemeChoice | str) -> Scheme:
        self.choice = ThemeChoice.parse(choice)
        scheme = resolve(self.choice)
        if scheme is not self.scheme:
            self.app.setStyle("Fusion")
            self.app.setPalette(palette_for(scheme, self.app))
            self.app.setStyleSheet(style_sheet(scheme))
            self.app.setProperty("lm_theme", scheme.value)
            self.scheme = scheme
        return scheme

    def _system_changed(self, *_: object) -> None:
        if self.choice is ThemeChoice.SYSTEM:
            self.apply(ThemeChoice.SYSTEM)


def controller(app: QApplication | None = None) -> ThemeController | None:
    """The application's theme controller, made on first use (None without a QApplication)."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    if not isinstance(app, QApplication):
        return None
    existing = getattr(app, "_lm_theme", None)
    if existing is None:
        existing = ThemeController(app)
        app._lm_theme = existing  # type: ignore[attr-defined]
    return existing


def apply_theme(choice: ThemeChoice | str, app: QApplication | None = None) -> Scheme | None:
    """Apply `choice` to the running application (what app.py and a saved Settings dialog call)."""
    ctl = controller(app)
    return ctl.apply(choice) if ctl is not None else None


def current_scheme(app: QApplication | None = None) -> Scheme:
    ctl = controller(app)
    return ctl.scheme if ctl is not None and ctl.scheme is not None else Scheme.LIGHT
