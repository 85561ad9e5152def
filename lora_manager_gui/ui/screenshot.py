"""`--screenshot OUT.png [--view-mode table|gallery] [--theme light|dark]`: build the window
offscreen, wait for rows and thumbnails, save a PNG."""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from lora_manager_gui.ui.adapters_view import SIDEBAR_DEFAULT_WIDTH
from lora_manager_gui.ui.main_window import MainWindow

log = logging.getLogger(__name__)

SIZE = (1440, 880)


async def take_screenshot(window: MainWindow, out: Path, view: str | None, stack: str | None, *,
                          view_mode: str | None = None) -> int:
    """`view_mode`: "table" or "gallery" for the adapters (default: the table). The theme is the
    application's already (app.py applies `--theme` before the window is built)."""
    window.resize(*SIZE)
    window.show()
    await window.load()
    window.resize(*SIZE)
    if view_mode:
        window.adapters.mode.setCurrentText(view_mode.capitalize())
    # folders | rows | details, as a first start lays them out on a window of this size
    window.adapters.splitter.setSizes([SIDEBAR_DEFAULT_WIDTH, SIZE[0] - SIDEBAR_DEFAULT_WIDTH - 480, 480])
    if stack:
        view = view or "stacks"
        await window.stacks.inspect_path(Path(stack))
    window.show_view(view or "adapters")
    if (view or "adapters") == "adapters" and window.adapters.model.rowCount():
        window.adapters.select_row(0)
    await window.wait_idle(30)
    await asyncio.sleep(0.1)  # one more turn for the last paints
    await window.wait_idle(30)
    pixmap = window.grab()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not pixmap.save(str(out), "PNG"):
        print(f"lora-manager: error: cannot write {out}", file=sys.stderr)
        return 2
    log.info("saved a screenshot to %s", out)
    print(out)
    return 0
