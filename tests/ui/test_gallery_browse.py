"""The gallery and its browsing controls over real SQLite libraries: the folder sidebar, filters
that combine, the sort menu, tile sizes, badges, NSFW blur and video previews."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from lora_manager_gui.db.browse import AdapterRow
from lora_manager_gui.ui.adapter_model import PIXMAP_ROLE, ROW_ROLE
from lora_manager_gui.ui.gallery import badges_for, nsfw_name
from lora_manager_gui.ui.thumbnails import decode_thumbnail, find_preview
from tests.ui.conftest import ADAPTERS, wait_until


def names(view) -> list[str]:
    model = view.model
    return [model.data(model.index(r, 0), ROW_ROLE).name for r in range(model.rowCount())]


def _stripes(path: Path, size: int = 96) -> None:
    """A preview whose pixels change every 4 columns: a blur cannot leave them as they are."""
    from PIL import Image

    im = Image.new("RGB", (size, size))
    im.putdata([(255, 255, 255) if (x // 4) % 2 else (0, 0, 0) for _y in range(size) for x in range(size)])
    im.save(path)


# folder (relative to the root), name, creator, base model, nsfw, tags
TREE = [
    ("sdxl", "Alpha", "ann", "SDXL 1.0", 1, ["style"]),
    ("sdxl/characters", "Bravo", "bob", "SDXL 1.0", 16, ["character", "style"]),
    ("sdxl/characters", "Charlie", "ann", "SDXL 1.0", 1, ["character"]),
    ("flux", "Delta", "bob", "Flux.1 D", 1, ["style"]),
    ("flux/video", "Echo", "cat", "Wan Video 14B t2v", 1, ["motion"]),
]


@pytest.fixture
def tree_library(tmp_path: Path, ui_store) -> tuple[Path, Path]:
    """A library whose model files lie in nested folders under one root (the root in the settings);
    Bravo (NSFW 16) has a striped preview, Echo a video preview."""
    from lora_manager_gui.db.database import close_database, open_database
    from lora_manager_gui.db.models import Adapter

    root = tmp_path / "loras"
    db_path = tmp_path / "tree.sqlite3"
    db = open_database(db_path)
    for i, (folder, name, creator, base, nsfw, tags) in enumerate(TREE):
        where = root / folder
        where.mkdir(parents=True, exist_ok=True)
        model = where / f"{name.lower()}.safetensors"
        model.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        Adapter.create(name=name, version="v1", author_username=creator, base_model=base, sd_version=base,
                       nsfw_level=nsfw, tags=tags, file_path=str(model), primary_file_name=model.name,
                       primary_file_size_kb=10.0 * (i + 1), file_mtime_ns=1_000 * (5 - i))
    _stripes(root / "sdxl/characters/bravo.preview.png")
    (root / "flux/video/echo.preview.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    close_database(db)
    ui_store.setValue("library/roots", [str(root)])
    return db_path, root


def test_folder_sidebar_shows_the_roots_with_counts_and_filters_by_folder(run, open_window, tree_library) -> None:
    db_path, root = tree_library

    async def scenario():
        window = await open_window(db_path)
        window.resize(1400, 800)  # room for the tree (a narrow window hides it)
        view = window.adapters
        await wait_until(lambda: not view.sidebar.isHidden())
        sidebar = view.sidebar
        model = sidebar.tree_model
        assert model.index(0, 0).data() == "All folders  (5)"
        top = model.index(1, 0)
        assert top.data() == "loras  (5)" and top.data(Qt.ItemDataRole.ToolTipRole) == str(root)
        children = {model.index(r, 0, top).data() for r in range(model.rowCount(top))}
        assert children == {"flux  (2)", "sdxl  (3)"}
        characters = sidebar.index_of(str(root / "sdxl" / "characters"))
        assert characters is not None and characters.data() == "characters  (2)"

        sidebar.choose(str(root / "sdxl"))
        await view.wait_idle()
        assert names(view) == ["Alpha", "Bravo", "Charlie"]  # the folder and its subfolders
        sidebar.choose(str(root / "sdxl" / "characters"))
        await view.wait_idle()
        assert names(view) == ["Bravo", "Charlie"]
        view.creators.set_selected(["ann"])  # the folder combines with the other filters
        await view.wait_idle()
        assert names(view) == ["Charlie"]
        view.creators.clear_choices()
        sidebar.choose(None)
        await view.wait_idle()
        assert len(names(view)) == 5

        # keyboard: Shift+Tab from the search reaches the tree; arrows choose a folder
        view.search.setFocus()
        QTest.keyClick(view.search, Qt.Key.Key_Backtab)
        assert sidebar.hasFocus()
        QTest.keyClick(sidebar, Qt.Key.Key_Down)
        await view.wait_idle()
        assert sidebar.chosen == str(root) and len(names(view)) == 5
        assert sidebar.accessibleName() == "Library folders"

    run(scenario())


def test_a_prefix_of_a_folder_name_is_not_that_folder(run, open_window, tree_library) -> None:
    db_path, root = tree_library
    (root / "sdxl-extra").mkdir()

    async def scenario():
        window = await open_window(db_path)
        view = window.adapters
        view.folder = str(root / "sdx")  # "sdx" is a prefix of "sdxl" but no folder
        view.apply_filters()
        await view.wait_idle()
        assert names(view) == []

    run(scenario())


COMBINATIONS = [
    # (tags, base models, creators, identified, missing) -> names
    ((("style",), (), (), "", ""), ["Inkwash Landscapes", "Pixel Art XL"]),
    ((("style", "ink"), (), (), "", ""), ["Inkwash Landscapes"]),  # tags: all of them
    ((("STYLE", "Pixel Art"), (), (), "", ""), ["Pixel Art XL"]),  # without case
    (((), ("SDXL 1.0", "Flux.1 D"), (), "", ""), ["Anime Eyes", "Film Grain", "Pixel Art XL", "Spicy Pose"]),
    ((("style",), ("SDXL 1.0",), (), "", ""), ["Pixel Art XL"]),
    (((), ("SDXL 1.0",), ("kohaku", "poser"), "", ""), ["Anime Eyes", "Spicy Pose"]),
    (((), ("SDXL 1.0",), ("kohaku", "poser"), "yes", ""), ["Spicy Pose"]),
    (((), (), ("grainy", "kohaku"), "no", "yes"), ["Film Grain"]),
    (((), (), ("grainy", "kohaku"), "no", "no"), ["Anime Eyes"]),
    ((("film",), ("Flux.1 D",), ("grainy",), "no", "yes"), ["Film Grain"]),
    ((("film",), ("SDXL 1.0",), (), "", ""), []),
]


def test_filters_combine(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        view.tags.menu().aboutToShow.emit()  # the tags menu loads its choices when opened
        await view.wait_idle()
        assert {"style", "ink", "pixel art"} <= set(view.tags.choices())
        assert {"kohaku", "poser", "grainy"} <= set(view.creators.choices())
        for (tags, bases, creators, identified, missing), expected in COMBINATIONS:
            for menu in (view.tags, view.base_model, view.creators):
                menu.clear_choices()
            view.tags.set_choices(sorted({*view.tags.choices(), *tags}))
            view.tags.set_selected(tags)
            view.base_model.set_selected(bases)
            view.creators.set_selected(creators)
            view.identified.setCurrentIndex(view.identified.findData(identified))
            view.missing.setCurrentIndex(view.missing.findData(missing))
            await view.wait_idle()
            assert sorted(names(view)) == expected, (tags, bases, creators, identified, missing)
            if expected:
                assert view.count_label.text() == f"{len(expected)} of {len(ADAPTERS)}"
            else:
                assert view.stack.currentWidget() is view.no_match

    run(scenario())


def test_sort_menu_orders_rows_and_follows_the_headers(run, open_window, tree_library) -> None:
    db_path, _root = tree_library

    async def scenario():
        window = await open_window(db_path)
        view = window.adapters
        menu = view.sort_menu
        assert menu.text() == "Sort: Name ↑" and menu.accessibleName() == "Sort adapters by"
        menu.actions_by_key["size"].trigger()
        await view.wait_idle()
        assert names(view) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
        menu.descending_action.trigger()
        await view.wait_idle()
        assert names(view) == ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]
        assert menu.text() == "Sort: Size ↓"
        size_column = view.column_keys().index("size")
        assert view.table.horizontalHeader().sortIndicatorSection() == size_column
        menu.actions_by_key["modified"].trigger()  # no column: the header shows no indicator
        await view.wait_idle()
        assert names(view) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]  # newest mtime first
        assert view.table.horizontalHeader().sortIndicatorSection() == -1
        menu.actions_by_key["creator"].trigger()
        await view.wait_idle()
        assert [view.model.data(view.model.index(r, 0), ROW_ROLE).creator for r in range(5)] == \
            ["cat", "bob", "bob", "ann", "ann"]
        menu.actions_by_key["added"].trigger()
        await view.wait_idle()
        assert view.model.query.sort_key == "added" and view.model.rowCount() == 5
        # a header click sorts too, and the menu says so
        view.table.sortByColumn(view.column_keys().index("name"), Qt.SortOrder.AscendingOrder)
        await view.wait_idle()
        assert names(view) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
        assert menu.text() == "Sort: Name ↑" and menu.actions_by_key["name"].isChecked()

    run(scenario())


def test_nsfw_previews_are_blurred_above_the_chosen_level(run, open_window, tree_library, tmp_path) -> None:
    db_path, root = tree_library
    source = root / "sdxl/characters/bravo.preview.png"
    plain = decode_thumbnail(source, 96)
    blurred = decode_thumbnail(source, 96, blur=True)
    assert plain is not None and blurred is not None and plain[:2] == blurred[:2]
    assert plain[2] != blurred[2]

    async def scenario():
        window = await open_window(db_path)  # the stored preview level is PG (1): Bravo (16) is blurred
        view = window.adapters
        view.mode.setCurrentText("Gallery")
        row = view.model.row_index_of(next(r.id for r in map(lambda i: view.model.row_at(i), range(5)) if r.name == "Bravo"))
        index = view.model.index(row, 0)
        assert view.model.data(index, Qt.ItemDataRole.DecorationRole) is not None
        await view.wait_idle()
        image = view.model.data(index, Qt.ItemDataRole.DecorationRole).pixmap(96, 96).toImage()
        x, y = 1, image.height() // 2  # a black stripe of the source at the left edge
        assert QColor(image.pixel(x, y)) != QColor(0, 0, 0)
        assert image.pixelColor(x, y).lightness() > 40
        view.model.set_blur_above(16)  # "XXX" allowed: the same preview unblurred
        view.model.data(index, Qt.ItemDataRole.DecorationRole)
        await view.wait_idle()
        image = view.model.data(index, Qt.ItemDataRole.DecorationRole).pixmap(96, 96).toImage()
        assert image.pixelColor(x, y) == QColor(0, 0, 0)

    run(scenario())


def test_video_preview_gets_a_placeholder_frame(tree_library) -> None:
    _db, root = tree_library
    model = root / "flux/video/echo.safetensors"
    preview = find_preview(str(model))
    assert preview is not None and preview.suffix == ".mp4"
    width, height, data = decode_thumbnail(preview, 160)
    assert (width, height) == (160, 90) and len(data) == 160 * 90 * 4
    assert len(set(data[i:i + 4] for i in range(0, len(data), 4 * 97))) > 1  # a drawn mark, not a blank


def _row(**kw) -> AdapterRow:
    base = dict(id=1, name="n", version="", creator=None, base_model=None, nsfw_level=1, file_name=None,
                file_path=None, json_file_path=None, size_bytes=None, sha256=None, identified=False, missing=False)
    return AdapterRow(**{**base, **kw})


def test_badges_say_base_model_nsfw_level_and_identified() -> None:
    assert badges_for(_row()) == []
    badges = badges_for(_row(base_model="Wan Video 14B i2v 480p", nsfw_level=8, identified=True))
    assert [b.kind for b in badges] == ["base_model", "nsfw", "identified"]
    assert badges[0].text == "Wan Video 14B…" and badges[1].text == "X"
    assert [b.kind for b in badges_for(_row(), update_available=True)] == ["update"]
    assert nsfw_name(6) == "R" and nsfw_name(2) == "PG13"


def test_tiles_follow_the_size_slider_and_paint_their_badges(run, open_window, fixture_library, ui_store) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        view.mode.setCurrentText("Gallery")
        assert view.tile_size.isVisible() and view.tile_size.accessibleName() == "Gallery tile size"
        for side in (96, 256):
            view.tile_size.setValue(side)
            await view.wait_idle()
            assert view.gallery.iconSize().width() == side
            assert view.gallery.gridSize().width() > side
            rect = view.gallery.visualRect(view.model.index(0, 0))
            assert rect.width() == view.gallery_delegate.tile_size(view.gallery.font()).width()
            # once the slider rests, thumbnails are decoded at the tile's size and drawn unscaled
            await wait_until(lambda: view.thumbnails.max_side == side)
            first = view.model.index(0, 0)
            await wait_until(lambda: view.model.data(first, PIXMAP_ROLE) is not None)  # asked again, loaded
            pixmap = view.model.data(first, PIXMAP_ROLE)
            assert max(pixmap.width(), pixmap.height()) == min(side, 64)  # never enlarged
        assert int(ui_store.value("gallery/tile_size")) == 256
        # Anime Eyes (SDXL, NSFW 2): its tile shows the blue base-model badge at the thumbnail's corner
        view.model.set_blur_above(None)
        row = next(i for i in range(view.model.rowCount()) if view.model.row_at(i).name == "Anime Eyes")
        rect = view.gallery.visualRect(view.model.index(row, 0))
        image = view.gallery.viewport().grab(rect).toImage()
        dpr = image.devicePixelRatio()
        left = (rect.width() - view.gallery_delegate.icon_side) // 2
        probe = image.pixelColor(QPoint(int((left + 6) * dpr), int((6 + 5) * dpr)))
        assert abs(probe.blue() - 150) < 40 and probe.red() < 110, probe.name()
        window.close()

    run(scenario())


@pytest.mark.skipif(os.sep != "/", reason="paths in the fixture use '/'")
def test_folder_counts_come_from_sql(tree_library) -> None:
    from lora_manager_gui.db import browse
    from lora_manager_gui.db.database import close_database, open_database

    db_path, root = tree_library
    db = open_database(db_path)
    try:
        counts = {c.path: c.count for c in browse.folder_counts()}
        assert counts == {str(root / "sdxl"): 1, str(root / "sdxl/characters"): 2, str(root / "flux"): 1,
                          str(root / "flux/video"): 1}
    finally:
        close_database(db)


def test_choice_menus_are_checkable_actions(qtbot) -> None:
    from lora_manager_gui.ui.filters import ChoiceMenuButton

    menu = ChoiceMenuButton("Creators", "Creators filter")
    seen: list[tuple[str, ...]] = []
    menu.changed.connect(seen.append)
    menu.set_choices(["ann", "bob", "cat"])
    actions = menu.menu_actions()
    actions["bob"].trigger()
    actions["ann"].trigger()
    assert menu.selected() == ("bob", "ann") and menu.text() == "Creators: 2" and seen[-1] == ("bob", "ann")
    menu.set_choices(["ann", "cat"])  # bob is gone from the library
    assert menu.selected() == ("ann",)
    menu.menu_actions()["ann"].trigger()
    assert menu.selected() == () and menu.text() == "Creators"


def test_the_three_panes_are_remembered_and_an_old_two_pane_state_is_not_applied(run, open_window, fixture_library,
                                                                                   ui_store) -> None:
    from PySide6.QtWidgets import QSplitter

    old = QSplitter()
    for _ in range(2):
        old.addWidget(QSplitter())
    old.setSizes([900, 300])
    ui_store.setValue("window/adapters_splitter", old.saveState())  # saved before the sidebar

    async def scenario():
        window = await open_window(fixture_library)
        window.resize(1400, 800)
        await wait_until(lambda: not window.adapters.sidebar.isHidden() and window.adapters.splitter.sizes()[0] > 0)
        sizes = window.adapters.splitter.sizes()
        assert len(sizes) == 3 and all(s > 0 for s in sizes), sizes
        window.adapters.splitter.setSizes([150, 700, 300])
        window.save_state()
        assert window.adapters.splitter.sizes()[0] > 0
        window.close()

    run(scenario())
    assert ui_store.value("window/adapters_panes") is not None


def test_a_narrow_window_hides_the_folder_tree_and_a_wide_one_shows_it(run, open_window, tree_library) -> None:
    import asyncio

    db_path, _root = tree_library

    async def settle():
        for _ in range(5):
            await asyncio.sleep(0.05)

    async def scenario():
        window = await open_window(db_path)
        view = window.adapters
        window.resize(1400, 700)
        await settle()
        sizes = view.splitter.sizes()
        assert not view.sidebar.isHidden() and sizes[0] >= 140 and sizes[1] >= view.bar.sizeHint().width()
        window.resize(860, 700)
        await settle()
        assert view.sidebar.isHidden()
        assert view.splitter.sizes()[1] >= view.bar.sizeHint().width()  # the filters keep their width
        window.resize(1400, 700)
        await settle()
        assert not view.sidebar.isHidden() and view.splitter.sizes()[0] >= 140

    run(scenario())
