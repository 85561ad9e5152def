"""The window's icon and About box; the version shown is the one --version prints."""
from __future__ import annotations

import subprocess
import sys

from lora_manager_gui import APP_DISPLAY_NAME, __version__


def test_about_box_shows_the_package_version(run, open_window, fixture_library) -> None:
    from lora_manager_gui.ui.about import about_text

    async def body():
        window = await open_window(fixture_library)
        help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
        assert window.about_action in help_menu.actions()
        assert window.about_action.text() == f"About {APP_DISPLAY_NAME}"
        assert not window.windowIcon().isNull()

    run(body())
    assert f"{APP_DISPLAY_NAME} {__version__}" in about_text()
    out = subprocess.run([sys.executable, "-m", "lora_manager_gui", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"lora-manager {__version__}"
