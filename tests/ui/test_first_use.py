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
        from PySide6.QtWidgets import QLabel

        panel = window.adapters.empty
        assert window.adapters.stack.currentWidget() is panel
        labels = {label.text()[:20]: label for label in panel.findChildren(QLabel)}
        title, text = labels["Your LoRA library is"], labels["Add a folder of LoRA"]
        for label in (title, text):
            assert label.isVisible() and _fits(label), (label.text(), label.size(), label.sizeHint())
        assert text.height() >= 2 * text.fontMetrics().lineSpacing()
        window.resize(1100, 700)
        await wait_until(lambda: _fits(text))

    run(scenario())


def test_window_fits_the_screen_and_a_narrow_window_keeps_the_search_readable(run, open_window, fixture_library,
                                                                              ui_store, qapp) -> None:
    """Defect 6: minimum width ~1013 px with the search box "S…"; a restored geometry spilled off screen."""
    from PySide6.QtCore import QRect

    async def scenario():
        window = await open_window(fixture_library)
        area = window.screen().availableGeometry()
        await wait_until(lambda: area.contains(window.frameGeometry()))
        assert window.minimumSizeHint().width() <= 800
        window.resize(window.minimumSizeHint())
        await wait_until(lambda: window.width() <= 800)
        search = window.adapters.search
        assert search.width() >= search.fontMetrics().horizontalAdvance("Search name, tags…")
        # A geometry saved at 1.5x on a bigger screen: clamped into this one at the next start.
        window.setGeometry(QRect(area.x() + 200, area.y() + 100, int(area.width() * 1.5), int(area.height() * 1.5)))
        window.close()
        await window.shutdown()
        await window.ctx.close()
        again = await open_window(fixture_library)
        await wait_until(lambda: area.contains(again.frameGeometry()))

    run(scenario())


def test_splitter_handle_can_be_seen(run, open_window, fixture_library) -> None:
    """Defect 6: the splitter handle between the rows and the details was invisible."""
    async def scenario():
        window = await open_window(fixture_library)
        splitter = window.adapters.splitter
        handle = splitter.handle(1)
        assert splitter.handleWidth() >= 5 and handle.width() >= 5
        image = handle.grab().toImage()
        background = window.adapters.palette().window().color()
        centre = image.pixelColor(image.width() // 2, image.height() // 2)
        assert abs(centre.lightness() - background.lightness()) >= 8 or centre != background

    run(scenario())


def test_window_title_names_the_library_once(run, open_window, fixture_library) -> None:
    """Defect 11: "LoRA Manager — library.sqlite3 — LoRA Manager" (the platform adds the app name)."""
    from lora_manager_gui import APP_DISPLAY_NAME

    async def scenario():
        window = await open_window(fixture_library)
        assert window.windowTitle() == "library.sqlite3"
        assert APP_DISPLAY_NAME not in window.windowTitle()

    run(scenario())


def test_sorting_and_a_finished_task_keep_the_selection(run, open_window, fixture_library) -> None:
    """Defect 5: sorting, or any finished task, dropped the selection and reset the details."""
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        names = [view.model.row_at(r).name for r in range(view.model.rowCount())]
        view.select_row(names.index("Inkwash Landscapes"))
        await wait_until(lambda: view.details.details is not None and view.details.details.row.name == "Inkwash Landscapes")
        view.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # creator
        await view.wait_idle()
        assert view.model.query.sort_key == "creator"
        assert [r.name for r in view.selected_rows()] == ["Inkwash Landscapes"]
        current = view.table.selectionModel().currentIndex()
        assert view.model.row_at(current.row()).name == "Inkwash Landscapes"

        async def job(ctx):
            return None

        task = window.start_job("Re-scanning", job)
        await wait_until(lambda: not task.running)
        await window.wait_idle()
        assert [r.name for r in view.selected_rows()] == ["Inkwash Landscapes"]
        assert view.details.details is not None and view.details.details.row.name == "Inkwash Landscapes"
        assert view.details.copy_tag_button.isEnabled()

    run(scenario())


def test_selection_count_is_shown(run, open_window, fixture_library) -> None:
    """Defect 9: no selection count."""
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        view.table.selectAll()
        assert view.count_label.text() == "6 adapters · 6 selected"
        view.select_row(0)
        assert view.count_label.text() == "6 adapters"

    run(scenario())


def test_finished_task_message_does_not_cover_the_library_label(run, open_window, fixture_library) -> None:
    """Defect 7: the message of a finished task was drawn over the "Library: …" label."""
    async def scenario():
        window = await open_window(fixture_library)

        async def job(ctx):
            return None

        task = window.start_job("Hashing 3 files", job)
        await wait_until(lambda: not task.running)
        bar = window.statusBar()
        message = bar.currentMessage()
        assert message.startswith("Hashing 3 files: ")
        label = window.library_label
        assert label.isVisible() and label.text().startswith("Library: ")
        assert label.x() >= bar.fontMetrics().horizontalAdvance(message), (label.geometry(), message)

    run(scenario())
