"""Issue 16: the window as a new user meets it (first run, remembered gallery, selection, keys)."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.conftest import wait_until


def test_remembered_gallery_mode_shows_full_size_tiles(run, open_window, fixture_library, ui_store) -> None:
    """Defect 1: with Gallery remembered, tiles were thin strips (sized from a loading placeholder)."""
    ui_store.setValue("window/adapters_mode", "Gallery")

    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        assert view.stack.currentWidget() is view.gallery
        await wait_until(lambda: view.thumbnails.known(view.model.row_at(0).id))
        icon = view.gallery.iconSize()
        for r in range(view.model.rowCount()):
            rect = view.gallery.visualRect(view.model.index(r, 0))
            assert rect.width() >= icon.width() and rect.height() >= icon.height() + 2 * view.fontMetrics().height(), rect
        view.mode.setCurrentText("Table")
        view.mode.setCurrentText("Gallery")
        assert view.gallery.visualRect(view.model.index(0, 0)).height() >= icon.height()

    run(scenario())


def _fits(label) -> bool:
    """A label shows all its text: as wide as its hint, or (wrapped) as tall as its width needs."""
    if label.wordWrap():
        return label.height() >= label.heightForWidth(label.width())
    return label.width() >= label.sizeHint().width() and label.height() >= label.sizeHint().height()


def test_first_run_text_is_fully_visible(run, open_window, tmp_path) -> None:
    """Defect 4: the first-run explanation was clipped to two half-lines."""
    async def scenario():
        window = await open_window(tmp_path / "new.sqlite3")
        panel = window.adapters.empty
        assert window.adapters.stack.currentWidget() is panel
        for label in (panel.title, panel.text):
            assert label.isVisible() and _fits(label), (label.text(), label.size(), label.sizeHint())
        assert panel.text.height() >= 2 * panel.text.fontMetrics().lineSpacing()
        window.resize(1100, 700)
        await wait_until(lambda: _fits(panel.text))

    run(scenario())
