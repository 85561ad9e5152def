"""The window over a fixture library: rows, search, filters, sorting, selection and details."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from lora_manager_gui.ui.adapter_model import ROW_ROLE
from tests.ui.conftest import ADAPTERS, wait_until


def names(window) -> list[str]:
    model = window.adapters.model
    return [model.data(model.index(r, 0), ROW_ROLE).name for r in range(model.rowCount())]


def test_window_opens_over_fixture_library(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        assert window.isVisible()
        assert "library.sqlite3" in window.windowTitle()
        assert window.adapters.stack.currentWidget() is window.adapters.table
        assert sorted(names(window)) == sorted(a[0] for a in ADAPTERS)
        assert names(window) == sorted(names(window), key=str.lower)  # sorted by name in SQL
        assert window.adapters.count_label.text() == "6 adapters"

    run(scenario())


def test_search_and_filters_narrow_rows(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters

        async def rows_after(action) -> list[str]:
            action()
            view.apply_filters()
            await view.wait_idle()
            return sorted(names(window))

        # name, tag, trigger word, creator, file name, version
        assert await rows_after(lambda: view.search.setText("pixel")) == ["Pixel Art XL"]
        assert await rows_after(lambda: view.search.setText("anime")) == ["Anime Eyes"]
        assert await rows_after(lambda: view.search.setText("sparkling")) == ["Anime Eyes"]
        assert await rows_after(lambda: view.search.setText("sumi")) == ["Inkwash Landscapes"]
        assert await rows_after(lambda: view.search.setText("film-grain.safetensors")) == ["Film Grain"]
        assert await rows_after(lambda: view.search.setText("i2v")) == ["DetailZ Wan"]
        assert await rows_after(lambda: view.search.setText("100%")) == []
        assert view.stack.currentWidget() is view.no_match
        assert await rows_after(lambda: view.search.setText("")) == sorted(a[0] for a in ADAPTERS)

        assert "SDXL 1.0" in view.base_model.choices(), "base models are offered from the library"
        assert await rows_after(lambda: view.base_model.set_selected(["SDXL 1.0"])) == ["Anime Eyes", "Pixel Art XL", "Spicy Pose"]
        assert view.count_label.text() == "3 of 6"
        assert await rows_after(lambda: view.nsfw.setCurrentIndex(view.nsfw.findData(2))) == ["Anime Eyes", "Pixel Art XL"]
        assert await rows_after(lambda: view.identified.setCurrentIndex(view.identified.findData("yes"))) == ["Pixel Art XL"]
        view.base_model.clear_choices()
        view.nsfw.setCurrentIndex(0)
        assert await rows_after(lambda: view.identified.setCurrentIndex(view.identified.findData("no"))) == ["Anime Eyes", "Film Grain"]
        assert await rows_after(lambda: view.missing.setCurrentIndex(view.missing.findData("yes"))) == ["Film Grain"]
        assert await rows_after(lambda: view.identified.setCurrentIndex(0)) == ["Film Grain"]

    run(scenario())


def test_search_box_applies_after_typing_pause(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        window.adapters.search.setText("ink")
        await wait_until(lambda: window.adapters.model.rowCount() == 1)
        assert names(window) == ["Inkwash Landscapes"]

    run(scenario())


def test_sorting_by_a_column_runs_in_sql(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        model = window.adapters.model
        creator_col = 3
        window.adapters.table.sortByColumn(creator_col, Qt.SortOrder.DescendingOrder)
        await wait_until(lambda: model.query.sort_key == "creator")
        await window.adapters.wait_idle()
        creators = [model.data(model.index(r, creator_col)) for r in range(model.rowCount())]
        assert creators == sorted((a[2] for a in ADAPTERS), reverse=True)

    run(scenario())


def test_selecting_shows_details_and_copies(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        row = names(window).index("Pixel Art XL")
        view.select_row(row)
        await view.wait_idle()
        details = view.details
        assert details.title.text() == "Pixel Art XL"
        assert details.version.text() == "v1.1"
        assert details.creator.text() == "nerijs"
        assert details.base_model.text() == "SDXL 1.0"
        assert "pixel art" in details.triggers.text()
        assert details.tags.text() == "style, pixel art"
        assert "Downloads: 1,000" in details.stats.text()
        assert "civitai.com/models/1000?modelVersionId=2000" in details.civitai_link.text()
        assert details.sha256.text() == "00" * 32
        assert details.autov2.text() == ("00" * 32)[:10]
        assert details.modified.text() != "file missing"
        # description: rendered, without script text, remote image or javascript: link
        html = details.description.toHtml()
        assert "pixel art" in html and "alert" not in html and "evil" not in html
        assert "example.invalid" not in html and "javascript" not in html
        assert details.preview.pixmap() is not None and not details.preview.pixmap().isNull()
        # copying
        details.copy_tag_button.click()
        assert QGuiApplication.clipboard().text() == "<lora:pixel-art-xl:1>"
        details.triggers.linkActivated.emit("copy:0")
        assert QGuiApplication.clipboard().text() == "pixel art"

    run(scenario())


def test_multi_select_and_gallery_share_rows(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        view.table.selectAll()
        assert len(view.selected_rows()) == len(ADAPTERS)
        view.mode.setCurrentText("Gallery")
        assert view.stack.currentWidget() is view.gallery
        assert view.gallery.selectionModel() is view.table.selectionModel()
        model = view.model
        for r in range(model.rowCount()):
            model.data(model.index(r, 0), Qt.ItemDataRole.DecorationRole)  # what painting asks for
        await view.wait_idle()
        with_thumbs = [r for r in range(model.rowCount())
                       if not model.data(model.index(r, 0), Qt.ItemDataRole.DecorationRole).isNull()]
        assert len(with_thumbs) == 5  # every adapter with a model file has a preview beside it

    run(scenario())


def test_empty_library_offers_folder_and_demo(run, open_window, tmp_path) -> None:
    async def scenario():
        window = await open_window(tmp_path / "empty.sqlite3")
        view = window.adapters
        assert view.stack.currentWidget() is view.empty
        assert view.empty.add_button.text() == "Add a LoRA folder…"
        assert view.empty.demo_button.text() == "Open the demo library"
        assert view.empty.isVisible()

    run(scenario())
