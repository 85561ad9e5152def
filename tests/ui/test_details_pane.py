"""The details pane as a user meets it (issue 16, defects 5 and 6): everything reachable and whole
in a narrow pane on a 1280x800 screen, hashes copyable, the folder opened through the file-manager
helper, stats in words, and a Copy button that never copies the row shown before."""
from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox

from lora_manager_gui.ui import file_manager
from lora_manager_gui.ui.details_widgets import stat_word, stats_lines
from tests.ui.conftest import wait_until
from tests.ui.test_adapters_view import names


async def _shown(window, name: str, *, size=(1280, 800), pane: int = 320):
    window.resize(*size)
    view = window.adapters
    view.splitter.setSizes([size[0] - pane, pane])
    view.select_row(names(window).index(name))
    await view.wait_idle()
    await wait_until(lambda: view.details.details is not None and view.details.details.row.name == name)
    for _ in range(5):
        QApplication.processEvents()
    return view.details


def test_a_narrow_pane_shows_every_action_whole_hashes_and_the_link(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        viewport_width = details.viewport().width()
        body = details.widget()
        assert body.width() <= viewport_width  # nothing wider than the pane: no cut-off right edge
        for button in body.findChildren(QAbstractButton):
            if button.isVisibleTo(body):
                left = button.mapTo(body, QPoint(0, 0)).x()
                assert left >= 0 and left + button.width() <= viewport_width, button.text()
                assert button.width() >= button.sizeHint().width(), button.text()
        link = details.civitai_link
        assert link.isVisibleTo(body) and "civitai.com/models/1000" in link.text()
        assert link.mapTo(body, QPoint(0, 0)).x() + link.width() <= viewport_width
        assert details.sha256.text() == "00" * 32  # whole, not elided, and all in view
        assert details.sha256.fits() and details.autov2.fits() and details.path.fits()
        pixmap = details.preview.pixmap()
        assert not pixmap.isNull() and pixmap.width() <= details.preview.width()

    run(scenario())


def test_each_hash_has_a_copy_button(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Inkwash Landscapes")
        details.sha256_row.button.click()
        assert QGuiApplication.clipboard().text() == "01" * 32
        details.autov2_row.button.click()
        assert QGuiApplication.clipboard().text() == ("01" * 32)[:10]
        assert details.sha256_row.button.accessibleName() == "Copy SHA-256"
        details.path_row.button.click()
        assert QGuiApplication.clipboard().text().endswith("inkwash-landscapes.safetensors")

    run(scenario())


def test_open_folder_goes_through_the_file_manager_helper(run, open_window, fixture_library, monkeypatch) -> None:
    opened = []

    def no_file_manager(url) -> bool:
        opened.append(url.toLocalFile())
        return False

    monkeypatch.setattr(file_manager, "open_url", no_file_manager)

    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        details.open_folder_button.click()
        folder = str(fixture_library.parent / "loras")
        assert opened == [folder]
        box = details.folder_box
        assert isinstance(box, QMessageBox) and folder in box.text()
        copy = next(b for b in box.buttons() if b.text() == "Copy path")
        copy.click()
        assert QGuiApplication.clipboard().text() == folder

    run(scenario())


def test_stats_are_in_words() -> None:
    assert stat_word("downloadCount") == "Downloads"
    assert stat_word("thumbsUpCount") == "Thumbs up"
    assert stat_word("someNewCount") == "Some new"
    assert stats_lines({"downloadCount": 12345, "rating": 4.75}) == ["Downloads: 12,345", "Rating: 4.75"]


def test_the_pane_shows_stats_in_words(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        assert details.stats.text() == "Downloads: 1,000"

    run(scenario())


def test_copy_tag_never_keeps_a_stale_value(run, open_window, fixture_library) -> None:
    """Defect 5's remainder: cleared or changed, the pane's Copy button copies nothing old."""
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        old = "<lora:pixel-art-xl:1>"
        assert details.prompt_tag.text() == old
        details.show_adapter(None)  # the selection cleared
        assert not details.copy_tag_button.isEnabled()
        assert old not in details.copy_tag_button.text() + details.copy_tag_button.toolTip()
        assert details.prompt_tag.text() == ""
        details = await _shown(window, "Anime Eyes")
        old = details.prompt_tag.text()
        QGuiApplication.clipboard().setText("untouched")
        view = window.adapters
        view.select_row(names(window).index("Inkwash Landscapes"))  # changed: the old row is gone at once
        details.copy_tag_button.click()
        assert QGuiApplication.clipboard().text() == "untouched"
        assert details.prompt_tag.text() != old
        await view.wait_idle()
        await wait_until(lambda: details.prompt_tag.text() == "<lora:inkwash-landscapes:1>")
        details.copy_tag_button.click()
        assert QGuiApplication.clipboard().text() == "<lora:inkwash-landscapes:1>"

    run(scenario())


def test_long_unbroken_values_do_not_widen_the_pane(run, open_window, fixture_library) -> None:
    """A name, tag list or trigger word with no space to wrap at stays inside the pane."""
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        long = "Wan2_1_self_forcing_" * 12
        for label in (details.title, details.version, details.creator, details.tags):
            label.setText(long)
        details.prompt_tag.set_value(f"<lora:{long}:1>")
        for _ in range(5):
            QApplication.processEvents()
        assert details.widget().width() <= details.viewport().width()
        assert details.prompt_tag.value.fits()

    run(scenario())


def test_deselecting_every_row_clears_the_pane(run, open_window, fixture_library) -> None:
    """Ctrl+click on the only selected row keeps it current but selects nothing: the pane empties."""
    from PySide6.QtCore import QItemSelectionModel

    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        assert details.prompt_tag.text() == "<lora:pixel-art-xl:1>"
        selection = window.adapters.table.selectionModel()
        current = selection.currentIndex()
        selection.select(current, QItemSelectionModel.SelectionFlag.Deselect | QItemSelectionModel.SelectionFlag.Rows)
        assert selection.currentIndex().isValid() and not selection.selectedRows()
        assert details.prompt_tag.text() == "" and not details.copy_tag_button.isEnabled()

    run(scenario())


def test_the_details_preview_follows_the_nsfw_blur_rule(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        details = await _shown(window, "Pixel Art XL")
        row = details.details.row
        view = window.adapters
        view.model.set_blur_above(row.nsfw_level - 1)  # this row is now above the chosen level
        assert details.blurred(row)
        view.model.set_blur_above(row.nsfw_level)
        assert not details.blurred(row)

    run(scenario())
