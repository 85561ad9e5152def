"""Settings live in QSettings (API key masked, never in the library); window state persists."""
from __future__ import annotations

from PySide6.QtWidgets import QLineEdit

from lora_manager_gui.ui.safe_html import SafeTextBrowser, sanitize_html
from lora_manager_gui.ui.settings import AppSettings, SettingsDialog, load_settings, save_settings


def test_settings_round_trip_and_masked_key(qtbot, ui_store) -> None:
    settings = AppSettings(library_roots=["/loras/a", "/mnt/nas/loras"], api_key="sk-secret-123",
                           base_url="http://127.0.0.1:8765/api/v1", preview_nsfw_level=4, hash_workers=3)
    save_settings(ui_store, settings)
    loaded = load_settings(ui_store)
    assert loaded == settings
    assert "sk-secret-123" not in repr(loaded)
    dialog = SettingsDialog(loaded)
    qtbot.addWidget(dialog)
    assert dialog.api_key.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.roots.count() == 2
    dialog.api_key.setText("  sk-new  ")
    dialog.workers.setValue(0)
    result = dialog.result_settings()
    assert result.api_key == "sk-new" and result.hash_workers == 0 and result.preview_nsfw_level == 4


def test_api_key_never_reaches_the_library_database(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        await window.ctx.apply_settings(AppSettings(api_key="sk-never-in-db-42"))
        window.adapters.select_row(0)
        await window.wait_idle()

    run(scenario())
    for path in fixture_library.parent.glob("library.sqlite3*"):
        assert b"sk-never-in-db-42" not in path.read_bytes()


def test_window_state_persists(run, open_window, fixture_library, ui_store) -> None:
    from lora_manager_gui.app import shutdown

    sizes: list[tuple[int, int]] = []

    async def first():
        window = await open_window(fixture_library)
        window.resize(window.minimumSizeHint().width() + 37, 470)
        sizes.append((window.width(), window.height()))
        window.show_view("stacks")
        window.adapters.mode.setCurrentText("Gallery")
        window.adapters.splitter.setSizes([600, 400])
        header = window.adapters.table.horizontalHeader()
        header.moveSection(3, 0)  # creator first
        header.resizeSection(1, 222)
        window.close()
        await shutdown(window, window.ctx)

    async def second():
        window = await open_window(fixture_library)
        assert window.current_view() == "stacks"
        assert window.adapters.mode.currentText() == "Gallery"
        header = window.adapters.table.horizontalHeader()
        assert header.logicalIndex(0) == 3 and header.sectionSize(1) == 222
        # restoreGeometry() fits the width to the (small) offscreen screen; the height is as saved
        assert window.height() == sizes[0][1] == 470 and window.width() < 1400

    run(first())
    run(second())


def test_sanitizer_keeps_formatting_and_drops_active_content(qtbot) -> None:
    dirty = ('<p onclick="x()">Hi <b>bold</b> <a href="https://civitai.com/m/1" style="color:red">link</a>'
             '<a href="javascript:alert(1)">js</a><script>alert("x")</script><style>p{}</style>'
             '<iframe src="https://evil.example"></iframe><img src="https://tracker.example/p.gif" alt="pic">'
             '<object data="x.swf"></object><unknown>kept text</unknown></p>')
    clean = sanitize_html(dirty)
    assert clean == ('<p>Hi <b>bold</b> <a href="https://civitai.com/m/1">link</a><a>js</a>[pic]'
                     'kept text</p>')
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QImage, QTextDocument

    browser.setHtml('<p>x</p>')
    doc = browser.document()
    for url in ("https://tracker.example/p.gif", "file:///etc/passwd"):
        # what layout asks when an <img> or stylesheet slips through: nothing is loaded
        loaded = doc.resource(QTextDocument.ResourceType.ImageResource.value, QUrl(url))
        # nothing, or the 1x1 placeholder that keeps Qt from loading the src itself
        assert not loaded or (isinstance(loaded, QImage) and loaded.width() == loaded.height() == 1), f"{url} was loaded"
    assert browser.refused == ["https://tracker.example/p.gif", "file:///etc/passwd"]
