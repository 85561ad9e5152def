"""Drops anywhere on the window: stacks show their breakdown, folders import, junk gets a message;
export writes a schema-valid lora_json; the demo library opens as a library of its own."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from lora_manager_gui.ui import demo
from tests.ui.conftest import wait_until

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "lora_json.schema.json").read_text("utf-8"))


def drop(widget, mime: QMimeData) -> bool:
    """A synthesized drag-enter then drop at the middle of `widget`; returns whether the enter was accepted."""
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    accepted = enter.isAccepted()
    event = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return accepted


def files_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def table_texts(view) -> list[list[str]]:
    t = view.table
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def close_message_boxes() -> list[str]:
    texts = []
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox) and w.isVisible():
            texts.append(w.text())
            w.close()
    return texts


def test_drop_of_a_stack_json_shows_the_breakdown(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        assert window.current_view() == "adapters"
        # dropped on the adapters table, far from the Stacks view: the window takes it
        assert drop(window.adapters.table.viewport(), files_mime(FIXTURES / "formats" / "comfy_prompt_api.json"))
        await wait_until(lambda: window.stacks.document is not None)
        assert window.current_view() == "stacks"
        rows = table_texts(window.stacks)
        assert [r[2] for r in rows] == ["pixel-art-xl-v1.1", "add-detail-xl", "knight armor v3", "ink wash v2"]
        assert [r[3] for r in rows] == ["0.8", "1.1", "0.7", "0.6"]
        assert all(r[5] == "missing" for r in rows)
        summary = window.stacks.summary.text()
        assert "<b>4</b> LoRAs" in summary and "4 not in the library" in summary and "local only" not in summary
        assert "pixel-art-xl-v1.1" in window.stacks.lora_info.toPlainText()
        assert window.stacks.export_button.isEnabled()

    run(scenario())


def test_drop_of_a_png_on_a_text_field_shows_the_breakdown(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        search = window.adapters.search
        assert drop(search, files_mime(FIXTURES / "formats" / "comfy_output.png"))
        await wait_until(lambda: window.stacks.document is not None)
        assert search.text() == "", "the file was not pasted into the search box as text"
        assert [r[2] for r in table_texts(window.stacks)][:2] == ["pixel-art-xl-v1.1", "add-detail-xl"]
        assert window.stacks.title.text() == "comfy_output.png"

    run(scenario())


def test_export_writes_a_schema_valid_lora_json(run, open_window, fixture_library, tmp_path, monkeypatch) -> None:
    out = tmp_path / "export" / "stack.lora.json"
    out.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "JSON (*.json)"))

    async def scenario():
        window = await open_window(fixture_library)
        drop(window, files_mime(FIXTURES / "formats" / "a1111_output.png"))
        await wait_until(lambda: window.stacks.document is not None)
        window.stacks.export_button.click()
        await wait_until(out.exists)
        await window.stacks.wait_idle()

    run(scenario())
    document = json.loads(out.read_text("utf-8"))
    jsonschema.validate(document, SCHEMA)
    assert [l["display_name"] for l in document["loras"]] == ["tiny test lora", "add detail"]
    assert document["summary"]["count"] == 2


def test_junk_drops_get_a_clear_message(run, open_window, fixture_library, tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    broken = tmp_path / "broken.json"
    broken.write_text("{ this is not json")
    broken_png = tmp_path / "broken.png"
    broken_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)

    async def scenario():
        window = await open_window(fixture_library)
        messages: list[str] = []
        window.drop_rejected.connect(messages.append)

        drop(window, files_mime(notes))
        await wait_until(lambda: messages)
        assert "notes.txt" in messages[-1] and "neither" in messages[-1]
        await wait_until(lambda: close_message_boxes())

        web = QMimeData()
        web.setUrls([QUrl("https://civitai.com/models/1")])
        drop(window, web)
        await wait_until(lambda: len(messages) == 2)
        assert "not web links" in messages[-1]
        close_message_boxes()

        text = QMimeData()
        text.setText("just some text")
        drop(window, text)
        await wait_until(lambda: len(messages) == 3)
        assert "only files and folders" in messages[-1]
        close_message_boxes()

        for bad in (broken, broken_png):
            window.stacks.document = None
            drop(window, files_mime(bad))
            await wait_until(lambda: "Cannot read" in window.stacks.summary.text())
            assert bad.name in window.stacks.summary.text()
            assert window.stacks.table.rowCount() == 0 and not window.stacks.export_button.isEnabled()
            window.stacks.summary.setText("")
        assert window.isVisible()

    run(scenario())


def test_demo_library_opens_separately_and_imports(run, open_window, tmp_path, monkeypatch) -> None:
    demo_db = tmp_path / "demo-library.sqlite3"
    monkeypatch.setattr(demo, "demo_db_path", lambda: demo_db)
    user_db = tmp_path / "mine.sqlite3"

    async def scenario():
        window = await open_window(user_db)
        assert window.adapters.stack.currentWidget() is window.adapters.empty
        window.adapters.empty.demo_button.click()
        await wait_until(lambda: window.ctx.db_path == demo_db)
        await wait_until(lambda: window.tasks.running == [] and window.adapters.library_size == 10, timeout=20)
        await window.wait_idle()
        assert window.adapters.model.rowCount() == 10
        assert window.windowTitle().endswith("demo-library.sqlite3")
        window.show_view("orphans")
        await window.orphans.wait_idle()
        names = sorted(Path(r.path).name for r in window.orphans.model.rows)
        assert names == ["mystery_style_v3.safetensors", "untitled_lora_e12.safetensors"]
        # the demo stack resolves against the demo library
        drop(window, files_mime(demo.demo_dir() / "stacks" / "watercolor_noir_prompt.json"))
        await wait_until(lambda: window.stacks.document is not None)
        rows = table_texts(window.stacks)
        assert rows[0][1] == "sdxl/watercolor-wash.safetensors" and rows[0][2] == "Watercolor Wash"
        assert "Watercolor Wash" in rows[0][4] and rows[0][5].startswith("present")
        assert rows[2][4] == "not in the library" and rows[2][5] == "missing"

    run(scenario(), timeout=40)
    assert demo_db.exists()
    # the user's library was not touched by the demo import
    import sqlite3

    with sqlite3.connect(user_db) as conn:
        assert conn.execute("SELECT count(*) FROM adapter").fetchone()[0] == 0


def test_dropped_folder_is_imported(run, open_window, tmp_path) -> None:
    folder = tmp_path / "dropped"
    shutil.copytree(demo.demo_root() / "sd15", folder)

    async def scenario():
        window = await open_window(tmp_path / "lib.sqlite3")
        drop(window, files_mime(folder))
        await wait_until(lambda: window.adapters.library_size == 3 and not window.tasks.running, timeout=20)
        assert str(folder) in window.ctx.settings.library_roots

    run(scenario(), timeout=30)


def test_stacks_view_shows_where_each_entry_sits_and_the_loras_not_run(run, open_window, fixture_library, tmp_path) -> None:
    """Issue 14: typed entries with their subgraph path and node title; switched-off LoRAs apart."""
    from tests.core.test_stack_subgraphs import _switched, lora_subgraph, top_with, workflow

    nested = workflow(top_with([(5, ["promoted.safetensors", 0.8], {"title": "Style block"})]), lora_subgraph())
    nested_file = tmp_path / "nested.json"
    nested_file.write_text(json.dumps(nested))
    switched_file = tmp_path / "switched.json"
    switched_file.write_text(json.dumps(_switched(False)))

    async def scenario():
        window = await open_window(fixture_library)
        drop(window, files_mime(nested_file))
        await wait_until(lambda: window.stacks.inspection is not None)
        rows = table_texts(window.stacks)
        assert [(r[2], r[3], r[8]) for r in rows] == [("promoted", "0.8", "Style block › Style LoRA (#5:1)")]
        assert not window.stacks.skipped_box.isVisibleTo(window.stacks)
        window.stacks.document = None
        drop(window, files_mime(switched_file))
        await wait_until(lambda: window.stacks.inspection is not None)
        assert [r[2] for r in table_texts(window.stacks)] == ["when false"]
        skipped = window.stacks.skipped_table
        assert [[skipped.item(r, c).text() for c in range(skipped.columnCount())] for r in range(skipped.rowCount())] == [
            ["when_true", "1", "switched off by node #4", "LoraLoaderModelOnly (#2)"]]
        assert window.stacks.skipped_box.isVisibleTo(window.stacks)
        assert "1 not run" in window.stacks.summary.text()

    run(scenario())


def test_a_huge_stack_lists_its_first_rows_and_says_so(run, open_window, fixture_library, tmp_path, monkeypatch) -> None:
    from lora_manager_gui.ui import stacks_view

    monkeypatch.setattr(stacks_view, "MAX_TABLE_ROWS", 3)
    prompt = {str(i): {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": f"l{i}.safetensors",
                                                                        "strength_model": 1}} for i in range(7)}
    source = tmp_path / "many.json"
    source.write_text(json.dumps(prompt))

    async def scenario():
        window = await open_window(fixture_library)
        drop(window, files_mime(source))
        await wait_until(lambda: window.stacks.inspection is not None)
        assert window.stacks.table.rowCount() == 3
        assert "the first 3 of 7 LoRAs are listed" in window.stacks.summary.text()
        assert window.stacks.lora_info.toPlainText().endswith("… 4 more")
        assert len(window.stacks.inspection.document["loras"]) == 7

    run(scenario())
