"""Settings saved in the window reach the library at once; environment overrides are shown as such.

Real widgets (the Settings dialog, the task panel), the real jobs and services, two local CivitAI
servers on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox

from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.ui.settings import AppSettings, load_settings, save_settings
from tests.civitai_server import FakeCivitai
from tests.ui.conftest import wait_until

OLD_KEY = "old-key-7d1e0c55"
NEW_KEY = "new-key-94b2aa10"


def _model_file(folder: Path, name: str, servers: tuple[FakeCivitai, ...], version_id: int) -> tuple[Path, str]:
    path = write_safetensors(folder / f"{name}.safetensors", {"w": name.encode() * 8})
    sha = hashlib.sha256(path.read_bytes()).hexdigest().upper()
    for server in servers:  # both could answer: only the request logs tell which one was asked
        server.catalogue.add_synthetic(sha, version_id=version_id, model_id=version_id + 1)
    return path, sha


def _save_in_dialog(qtbot, window, *, base_url: str, api_key: str, workers: int):
    dialog = window.edit_settings()
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.base_url.isEnabled() and dialog.api_key.isEnabled()
    assert not dialog.base_url_note.isVisible() and not dialog.api_key_note.isVisible()
    dialog.base_url.setText(base_url)
    dialog.api_key.setText(api_key)
    dialog.workers.setValue(workers)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    return dialog


def test_saved_base_url_and_key_are_used_by_the_very_next_identify(run, open_window, fixture_library, ui_store,
                                                                    qtbot, tmp_path, monkeypatch, two_civitai_servers) -> None:
    first, second = two_civitai_servers
    monkeypatch.delenv("CIVITAI_BASE_URL", raising=False)  # tests/conftest.py points it nowhere
    save_settings(ui_store, AppSettings(base_url=first.base_url, api_key=OLD_KEY))
    folder = tmp_path / "to-identify"
    folder.mkdir()
    before, _ = _model_file(folder, "before", two_civitai_servers, 9100)
    after, after_sha = _model_file(folder, "after", two_civitai_servers, 9200)
    labels: list[str] = []

    async def identify(window, path: Path):
        task = window.start_job("Identifying", window.jobs.identify_paths([path]))
        row = window.task_panel.rows[id(task)]
        task.progress_changed.connect(lambda _p: labels.append(row.label.text()))
        await wait_until(lambda: not task.running, 20)
        return task, row

    async def scenario():
        window = await open_window(fixture_library)
        task, _ = await identify(window, before)  # the client for the first server is built and kept
        assert task.outcome.status == "done", task.outcome
        assert first.requests_to("by-hash") and not second.requests
        seen_by_first = len(first.requests)

        _save_in_dialog(qtbot, window, base_url=second.base_url, api_key=NEW_KEY, workers=3)
        await window.wait_idle()
        assert window.statusBar().currentMessage() == "Settings saved."

        task, row = await identify(window, after)  # the very next identify
        assert task.outcome.status == "done", task.outcome
        assert row.label.text() == "Identifying: done (1 item)"
        assert task.result.found == 1
        assert len(first.requests) == seen_by_first  # the old host saw nothing more
        async with window.ctx.library.use_hasher() as hasher:
            assert hasher.workers == 3

    run(scenario(), timeout=60)
    [lookup] = second.requests_to("by-hash")
    assert lookup.method == "POST" and after_sha in lookup.body
    assert lookup.header("Authorization") is None  # by-hash takes no key
    models = second.requests_to("/models")
    assert models and all(r.header("Authorization") == f"Bearer {NEW_KEY}" for r in models)
    assert all(NEW_KEY not in str(r.headers) for r in first.requests)  # the key reached only the new host
    assert any(r.header("Authorization") == f"Bearer {OLD_KEY}" for r in first.requests_to("/models"))
    stored = load_settings(ui_store)
    assert stored.base_url == second.base_url and stored.api_key == NEW_KEY and stored.hash_workers == 3
    assert labels and not any("_" in text for text in labels)  # Stage.label, never "looking_up"


def test_environment_overrides_are_shown_and_not_saved(run, open_window, fixture_library, ui_store, qtbot,
                                                       monkeypatch) -> None:
    monkeypatch.setenv("CIVITAI_BASE_URL", "http://127.0.0.1:9/from-the-environment")
    monkeypatch.setenv("CIVITAI_API_KEY", "env-key-never-shown")
    save_settings(ui_store, AppSettings(base_url="https://stored.example/api/v1", api_key="stored-key"))

    async def scenario():
        window = await open_window(fixture_library)
        dialog = window.edit_settings()
        qtbot.waitUntil(dialog.isVisible)
        assert not dialog.base_url.isEnabled()
        assert dialog.base_url.text() == "http://127.0.0.1:9/from-the-environment"
        assert dialog.base_url_note.isVisible()
        assert dialog.base_url_note.text() == "set by the environment variable CIVITAI_BASE_URL"
        assert not dialog.api_key.isEnabled() and dialog.api_key.text() == ""
        assert dialog.api_key_note.text() == "set by the environment variable CIVITAI_API_KEY"
        assert str(fixture_library) in dialog.database.text()
        dialog.workers.setValue(2)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        await window.wait_idle()
        settings = window.ctx.library.settings
        assert settings.civitai.base_url == "http://127.0.0.1:9/from-the-environment"  # the environment wins
        assert settings.civitai.api_key == "env-key-never-shown" and settings.hash_workers == 2

    run(scenario())
    stored = load_settings(ui_store)  # what the user stored is kept under the override
    assert stored.base_url == "https://stored.example/api/v1" and stored.api_key == "stored-key"
    assert stored.hash_workers == 2


def test_the_database_note_names_lora_manager_db(qtbot, tmp_path, monkeypatch) -> None:
    from lora_manager_gui.ui.settings import SettingsDialog

    db = tmp_path / "env.sqlite3"
    monkeypatch.setenv("LORA_MANAGER_DB", str(db))
    dialog = SettingsDialog(AppSettings(), db_path=db)
    qtbot.addWidget(dialog)
    assert dialog.database.text() == f"{db} (set by the environment variable LORA_MANAGER_DB)"
    other = SettingsDialog(AppSettings(), db_path=tmp_path / "given-with-db.sqlite3")  # --db wins over it
    qtbot.addWidget(other)
    assert "environment" not in other.database.text()


def test_an_identify_running_when_settings_are_saved_finishes_on_the_old_host(run, open_window, fixture_library,
                                                                              ui_store, qtbot, tmp_path,
                                                                              monkeypatch) -> None:
    slow, other = FakeCivitai(latency=0.3).start(), FakeCivitai().start()
    try:
        monkeypatch.delenv("CIVITAI_BASE_URL", raising=False)
        save_settings(ui_store, AppSettings(base_url=slow.base_url))
        folder = tmp_path / "running"
        folder.mkdir()
        running, _ = _model_file(folder, "running", (slow, other), 9300)
        following, _ = _model_file(folder, "following", (slow, other), 9400)

        async def scenario():
            window = await open_window(fixture_library)
            task = window.start_job("Identifying", window.jobs.identify_paths([running]))
            await wait_until(lambda: bool(slow.requests_to("by-hash")), 20)  # its answer is on the way
            _save_in_dialog(qtbot, window, base_url=other.base_url, api_key="", workers=0)
            await window.wait_idle()
            assert task.running  # saving did not wait for it
            await wait_until(lambda: not task.running, 20)
            assert task.outcome.status == "done" and task.result.found == 1, (task.outcome, task.problems)
            await window.ctx.library.settle()  # the old client is closed now that its user is done
            nxt = window.start_job("Identifying", window.jobs.identify_paths([following]))
            await wait_until(lambda: not nxt.running, 20)
            assert nxt.outcome.status == "done" and nxt.result.found == 1

        run(scenario(), timeout=60)
        assert len(slow.requests_to("by-hash")) == 1 and len(other.requests_to("by-hash")) == 1
    finally:
        slow.stop()
        other.stop()
