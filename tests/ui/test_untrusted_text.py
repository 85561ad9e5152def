"""Strings from sidecars and CivitAI in the details pane: literal text that opens nothing, and a
description bounded before Qt lays it out."""
from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lora_manager_gui.ui import safe_html
from lora_manager_gui.ui.safe_html import SafeTextBrowser, plain_tooltip, sanitize_html
from tests.fifo_watch import FifoWatch

NESTED_B = "<b>" * 100_000 + "deep" + "</b>" * 100_000  # ~700 KB, 100,000 levels


class _Depth(HTMLParser):
    VOID = {"br", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = self.deepest = self.elements = 0

    def handle_starttag(self, tag, attrs) -> None:
        self.elements += 1
        if tag not in self.VOID:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag) -> None:
        self.depth -= 1


def shape(markup: str) -> _Depth:
    parser = _Depth()
    parser.feed(markup)
    parser.close()
    return parser


@pytest.fixture
def hostile_library(tmp_path: Path):
    """A library whose one adapter has `<img src=FIFO>` in every text field and a nested
    description that also points an image at the FIFO; the FIFO is watched until the test's
    window is shut down (request this fixture first, so it outlives the window)."""
    from lora_manager_gui.db.database import close_database, open_database
    from lora_manager_gui.db.models import Adapter

    fifo = tmp_path / "trap.fifo"
    os.mkfifo(fifo)
    img = f'<img src="{fifo}">'
    db_path = tmp_path / "library.sqlite3"
    db = open_database(db_path)
    Adapter.create(
        name=img, version=f'<img src="file://{fifo}">', author_username=f"<b>{img}</b>",
        sd_version=img, tags=[img, "<i>x</i>"], trained_words=[img], stats={img: 1},
        description=img + NESTED_B, primary_file_name="trap.safetensors",
    )
    close_database(db)
    with FifoWatch(fifo) as watch:
        yield db_path, fifo, watch


def test_hostile_fields_render_as_literal_text_and_open_nothing(hostile_library, run, open_window) -> None:
    db_path, fifo, watch = hostile_library
    img = f'<img src="{fifo}">'

    async def scenario():
        window = await open_window(db_path)
        view = window.adapters
        view.select_row(0)
        await view.wait_idle()
        details = view.details
        window.grab()  # lay out and paint every label and the description now
        details.grab()
        assert watch.opened == 0, "the GUI thread opened the FIFO named in a model's text"
        assert details.title.text() == img
        assert details.version.text() == f'<img src="file://{fifo}">'
        assert details.creator.text() == f"<b>{img}</b>"
        assert details.base_model.text() == img
        assert details.tags.text() == f"{img}, <i>x</i>"
        assert details.stats.text() == f"{img}: 1"
        for label in (details.title, details.version, details.creator, details.base_model, details.tags,
                      details.stats, details.nsfw, details.size, details.modified):
            assert label.textFormat() == Qt.TextFormat.PlainText
        # the trigger word is a link made here; its text is escaped, so no image in it
        assert "&lt;img" in details.triggers.text() and "<img" not in details.triggers.text()
        # what reached Qt for the description: bounded, and without the image
        shown = details.description.shown_html
        assert "<img" not in shown and str(fifo) not in shown
        measured = shape(shown)
        assert measured.deepest <= safe_html.MAX_DEPTH
        assert measured.elements <= safe_html.MAX_ELEMENTS + 2
        assert len(shown) < 20 * safe_html.MAX_DEPTH + len(safe_html.TRUNCATED_MARK) + 200
        assert "(description shortened)" in details.description.toPlainText()

    run(scenario())


def test_sanitizer_bounds_depth_elements_and_text() -> None:
    deep = sanitize_html(NESTED_B)
    assert shape(deep).deepest == safe_html.MAX_DEPTH
    assert deep.endswith(safe_html.TRUNCATED_MARK)
    many = sanitize_html("<p>x</p>" * 20_000)  # 160 KB: cut at the source bound and the element bound
    assert shape(many).elements <= safe_html.MAX_ELEMENTS + 2
    long_text = sanitize_html("<p>" + "y" * 500_000 + "</p>")
    assert long_text.count("y") == safe_html.MAX_TEXT_CHARS - len("<p>")
    # within the bounds nothing changes and nothing is marked
    normal = "<p>Use <b>pixel art</b> in the <i>prompt</i>.</p>"
    assert sanitize_html(normal) == normal


def test_source_cut_never_leaves_half_a_tag() -> None:
    text = "a" * (safe_html.MAX_SOURCE_CHARS - 3) + "<b>bold</b>"
    out = sanitize_html(text)
    assert "&lt;" not in out and out.endswith(safe_html.TRUNCATED_MARK)


def test_description_image_pointing_at_fifo_is_never_opened(qtbot, tmp_path: Path) -> None:
    fifo = tmp_path / "img.fifo"
    os.mkfifo(fifo)
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    browser.show()
    with FifoWatch(fifo) as watch:
        # even raw markup that skips the sanitizer: loadResource answers nothing
        browser.setHtml(f'<p>x</p><img src="{fifo}"><img src="file://{fifo}">')
        browser.grab()
        browser.clear()  # before the watchdog stops: nothing left that could open the FIFO
    assert watch.opened == 0
    assert browser.refused  # the document asked, and was refused


def test_plain_tooltip_escapes() -> None:
    assert plain_tooltip('<img src="/x">') == "<qt>&lt;img src=&quot;/x&quot;&gt;</qt>"
    assert plain_tooltip("") == ""


def test_thumbnail_decoder_refuses_a_fifo(tmp_path: Path) -> None:
    from lora_manager_gui.ui.thumbnails import decode_thumbnail

    fifo = tmp_path / "m.preview.png"
    os.mkfifo(fifo)
    with FifoWatch(fifo):
        assert decode_thumbnail(fifo, 64) is None


def test_table_tool_tip_of_a_hostile_name_is_literal(hostile_library, run, open_window) -> None:
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    db_path, fifo, watch = hostile_library

    async def scenario():
        window = await open_window(db_path)
        table = window.adapters.table
        rect = table.visualRect(table.model().index(0, 0))
        pos = rect.center()
        event = QHelpEvent(QEvent.Type.ToolTip, pos, table.viewport().mapToGlobal(pos))
        QApplication.sendEvent(table.viewport(), event)
        tip = QToolTip.text()
        QToolTip.hideText()
        assert watch.opened == 0, "hovering the row opened the FIFO named in its text"
        assert tip.startswith("<qt>&lt;img") and str(fifo) in tip

    run(scenario())
