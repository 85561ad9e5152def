"""Issue 16, defects 11 and 12: a folder manager that is not there, the library that was open last,
adding a folder to the library folders said aloud with an Undo, where the log and settings are."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from lora_manager_gui.ui import file_manager
from tests.ui.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_open_folder_without_a_file_manager_says_so_and_offers_the_path(qapp, monkeypatch, tmp_path) -> None:
    model = tmp_path / "loras" / "a.safetensors"
    model.parent.mkdir()
    model.write_bytes(b"x")
    opened = []
    monkeypatch.setattr(file_manager, "open_url", lambda url: opened.append(url.toLocalFile()) or False)
    box = file_manager.open_containing_folder(None, model)
    assert opened == [str(model.parent)]
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert str(model.parent) in box.text() and "No file manager" in box.windowTitle()
    copy = next(b for b in box.buttons() if b.text() == "Copy path")
    copy.click()
    assert QGuiApplication.clipboard().text() == str(model.parent)
    monkeypatch.setattr(file_manager, "open_url", lambda url: True)
    assert file_manager.open_containing_folder(None, model) is None


def test_context_menu_open_folder_uses_the_fallback(run, open_window, fixture_library, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr(file_manager, "open_url", lambda url: False)
    from lora_manager_gui.ui import adapter_actions

    monkeypatch.setattr(adapter_actions, "open_containing_folder",
                        lambda parent, path: shown.append(path) or file_manager.open_containing_folder(parent, path))

    async def scenario():
        window = await open_window(fixture_library)
        window.adapters.select_row(0)
        window.adapter_actions.open_folder.trigger()
        assert shown and shown[0].endswith(".safetensors")
        boxes = [w for w in QGuiApplication.topLevelWindows() if w.isVisible() and w.title() == "No file manager"]
        assert boxes

    run(scenario())


def test_the_last_opened_library_is_opened_again(run, open_window, fixture_library, ui_store, tmp_path,
                                                 monkeypatch) -> None:
    from lora_manager_gui.ui.last_library import choose_db_path

    monkeypatch.delenv("LORA_MANAGER_DB", raising=False)
    other = tmp_path / "other" / "second.sqlite3"
    other.parent.mkdir()

    async def scenario():
        window = await open_window(fixture_library)
        await window.switch_library(other)
        assert window.windowTitle() == "second.sqlite3"

    run(scenario())
    assert choose_db_path(None, ui_store) == other  # what app.run_window opens next time
    assert choose_db_path(str(fixture_library), ui_store) == fixture_library  # --db wins
    monkeypatch.setenv("LORA_MANAGER_DB", str(tmp_path / "env.sqlite3"))
    assert choose_db_path(None, ui_store) == tmp_path / "env.sqlite3"


def test_adding_a_folder_says_it_joins_the_library_folders_with_undo(run, open_window, fixture_library,
                                                                     tmp_path) -> None:
    folder = tmp_path / "new-loras"
    folder.mkdir()

    class NoJobs:
        def import_roots(self, roots):
            async def job(ctx):
                return None
            return job

    async def scenario():
        window = await open_window(fixture_library, jobs=NoJobs())
        task = window.import_folders([folder])
        await wait_until(lambda: not task.running)
        notice = window.roots_notice
        assert notice.isVisible() and str(folder) in notice.label.text()
        assert "library folders" in notice.label.text()
        assert str(folder) in window.ctx.settings.library_roots
        notice.undo_button.click()
        assert str(folder) not in window.ctx.settings.library_roots
        assert not notice.isVisible()
        assert "no longer" in window.statusBar().currentMessage()

    run(scenario())


def test_kept_problems_file_has_the_umask_mode(tmp_path) -> None:
    from lora_manager_gui.ui import problems_store

    path = tmp_path / "lib.problems.json"
    problems_store.save(path, [])
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_log_and_settings_locations_are_in_readme_and_about(qapp, tmp_path) -> None:
    from lora_manager_gui.core import config
    from lora_manager_gui.ui.about import about_text

    text = about_text(tmp_path / "library.sqlite3")
    assert str(config.log_dir() / "lora-manager.log") in text
    assert "lora-manager.conf" in text or "lora-manager" in text.split("Settings", 1)[1]
    assert str(tmp_path / "library.sqlite3") in text
    readme = (REPO / "README.md").read_text("utf-8")
    assert "lora-manager.log" in readme and "~/.local/state/lora-manager/log/" in readme
    assert "~/.config/lora-manager/lora-manager.conf" in readme


def test_return_on_an_orphan_opens_its_folder_or_says_why_not(run, open_window, tmp_path, monkeypatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from lora_manager_gui.db.browse import OrphanRow

    opened = []
    monkeypatch.setattr(file_manager, "open_url", lambda url: opened.append(url.toLocalFile()) or False)

    async def scenario():
        window = await open_window(tmp_path / "lib.sqlite3")
        window.show_view("orphans")
        view = window.orphans
        view.model.set_rows([OrphanRow(1, str(tmp_path / "loose" / "a.safetensors"), str(tmp_path / "loose"),
                                       10, 1, None, None)])
        view.table.selectRow(0)
        view.table.setFocus()
        QTest.keyClick(view.table, Qt.Key.Key_Return)
        assert opened == [str(tmp_path / "loose")]
        boxes = [w for w in QGuiApplication.topLevelWindows() if w.isVisible() and w.title() == "No file manager"]
        assert boxes

    run(scenario())
