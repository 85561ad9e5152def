"""Light and dark (issue 16): the choice in Settings, System following the desktop's scheme, the
style sheets shipped in resources/style, and text that reads in both (contrast of the palette's
pairs and of the colours the views put in their own text)."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from lora_manager_gui.core.resources import resource_path
from lora_manager_gui.ui import stacks_view, theme
from lora_manager_gui.ui.settings import AppSettings, SettingsDialog, load_settings, save_settings
from lora_manager_gui.ui.theme import Scheme, ThemeChoice


@pytest.fixture
def restore_look(qapp):
    style, palette, sheet = qapp.style().name(), QPalette(qapp.palette()), qapp.styleSheet()
    yield qapp
    ctl = theme.controller(qapp)
    ctl.choice, ctl.scheme = ThemeChoice.SYSTEM, None
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_choice_is_stored_and_offered(ui_store, qapp) -> None:
    assert load_settings(ui_store).theme is ThemeChoice.SYSTEM
    save_settings(ui_store, AppSettings(theme=ThemeChoice.DARK))
    assert load_settings(ui_store).theme is ThemeChoice.DARK
    ui_store.setValue("appearance/theme", "purple")  # junk falls back to following the system
    assert load_settings(ui_store).theme is ThemeChoice.SYSTEM
    dialog = SettingsDialog(AppSettings(theme=ThemeChoice.LIGHT))
    assert [dialog.theme.itemText(i) for i in range(dialog.theme.count())] == ["Follow the system", "Light", "Dark"]
    assert dialog.theme.currentText() == "Light"
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    assert dialog.result_settings().theme is ThemeChoice.DARK


def test_system_follows_the_desktop_scheme(restore_look, monkeypatch) -> None:
    scheme = [Scheme.DARK]
    monkeypatch.setattr(theme, "system_scheme", lambda: scheme[0])
    ctl = theme.controller()
    assert ctl.apply(ThemeChoice.SYSTEM) is Scheme.DARK
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    scheme[0] = Scheme.LIGHT  # the desktop switched
    ctl._system_changed()
    assert ctl.scheme is Scheme.LIGHT
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 180
    ctl.apply(ThemeChoice.DARK)  # a fixed choice does not follow
    ctl._system_changed()
    assert ctl.scheme is Scheme.DARK


def test_each_scheme_applies_fusion_its_palette_and_its_style_sheet(restore_look) -> None:
    for scheme in (Scheme.LIGHT, Scheme.DARK):
        assert resource_path(f"style/{scheme.value}.qss").is_file()
        assert theme.apply_theme(scheme.value) is scheme
        app = QApplication.instance()
        dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert dark == (scheme is Scheme.DARK)
        assert f"{scheme.value} theme" in app.styleSheet()
        assert app.property("lm_theme") == scheme.value


@pytest.mark.parametrize("scheme", [Scheme.LIGHT, Scheme.DARK])
def test_text_reads_in_both_schemes(restore_look, scheme) -> None:
    theme.apply_theme(scheme.value)
    p = QApplication.palette()
    r = QPalette.ColorRole
    for fg, bg in ((r.WindowText, r.Window), (r.Text, r.Base), (r.ButtonText, r.Button),
                   (r.HighlightedText, r.Highlight), (r.ToolTipText, r.ToolTipBase), (r.Link, r.Base),
                   (r.Link, r.Window)):
        assert contrast(p.color(fg), p.color(bg)) >= 4.5, (scheme, fg, bg)
    assert contrast(p.color(r.PlaceholderText), p.color(r.Base)) >= 3, scheme
    for color in (stacks_view.ERROR_COLOR, stacks_view.WARNING_COLOR):  # the views' own text colours
        assert contrast(QColor(color), p.color(r.Window)) >= 3, (scheme, color)


def test_saving_settings_changes_the_colours_at_once(run, open_window, fixture_library, restore_look) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        await window.apply_settings(AppSettings(theme=ThemeChoice.DARK))
        assert QApplication.instance().property("lm_theme") == "dark"
        assert window.palette().color(QPalette.ColorRole.Window).lightness() < 80
        await window.apply_settings(AppSettings(theme=ThemeChoice.LIGHT))
        assert window.palette().color(QPalette.ColorRole.Window).lightness() > 180

    run(scenario())
