"""Drives the real app for the details pane and the themes (issue 16), on the display in DISPLAY.

    python -m tests.gui.details_driver --db LIB --out DIR --name NAME [--theme light|dark] [--size 1280x800]

The window is sized as on a 1280x800 screen; the driver selects the adapter with the longest name,
scrolls the details pane through, and writes DIR/NAME.json: the geometry of the pane's labels,
buttons and values, whether each wrapped value (hashes, path) shows all its lines, and for every
view a screenshot and its mean lightness. The window is then closed the way a user does.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from tests.gui.driver import RUNNING, _rect, _size, _widget_facts

RESULT: dict[str, Any] = {}


def _lightness(image: Any) -> float:
    """Mean lightness (0-255) of a grid of samples of the image."""
    from PySide6.QtGui import QColor

    total = count = 0
    for x in range(0, image.width(), max(1, image.width() // 40)):
        for y in range(0, image.height(), max(1, image.height() // 40)):
            total += QColor(image.pixel(x, y)).lightness()
            count += 1
    return total / max(1, count)


def _pane_facts(window: Any, pane: Any) -> dict[str, Any]:
    from PySide6.QtCore import QPoint

    from lora_manager_gui.ui.details_widgets import WrappedValue

    body = pane.widget()
    origin = pane.viewport().mapTo(window, QPoint(0, 0))
    values = []
    for value in body.findChildren(WrappedValue):
        if value.isVisibleTo(body):
            values.append({"name": value.accessibleName(), "text": value.text(), "fits": value.fits(),
                           "height": value.height(), "needs": value.needed_height(),
                           "right": value.mapTo(body, QPoint(0, 0)).x() + value.width()})
    widgets = [w for w in _widget_facts(window)
               if origin.x() <= w["geometry"][0] < origin.x() + pane.viewport().width()
               and w["geometry"][1] >= origin.y() - body.height()]
    return {"viewport": [origin.x(), origin.y(), *_size(pane.viewport().size())], "body_width": body.width(),
            "values": values, "widgets": widgets,
            "horizontal_scroll": pane.horizontalScrollBar().isVisible()}


async def _settle(window: Any) -> None:
    for _ in range(3):
        await asyncio.sleep(0.1)
        await window.wait_idle(20)


async def drive(window: Any, out: Path, name: str, size: tuple[int, int]) -> None:
    from PySide6.QtWidgets import QApplication

    from lora_manager_gui.ui.adapter_model import ROW_ROLE
    from lora_manager_gui.ui.demo import demo_dir

    out.mkdir(parents=True, exist_ok=True)
    try:
        await window.wait_idle(20)
        window.resize(*size)
        await _settle(window)
        view = window.adapters
        model = view.model
        rows = [model.data(model.index(r, 0), ROW_ROLE) for r in range(model.rowCount())]
        longest = max(range(len(rows)), key=lambda r: (bool(rows[r].sha256), len(rows[r].name)))
        view.select_row(longest)
        await _settle(window)
        pane = view.details
        RESULT.update({
            "theme": QApplication.instance().property("lm_theme"),
            "window": {"geometry": _rect(window.frameGeometry()), "size": _size(window.size())},
            "selected": rows[longest].name,
            "pane": _pane_facts(window, pane),
            "window_palette_lightness": window.palette().color(window.palette().ColorRole.Window).lightness(),
        })
        window.grab().save(str(out / f"{name}-details-top.png"), "PNG")
        pane.verticalScrollBar().setValue(pane.verticalScrollBar().maximum())
        await _settle(window)
        window.grab().save(str(out / f"{name}-details-end.png"), "PNG")
        RESULT["pane_end"] = _pane_facts(window, pane)
        RESULT["civitai_link"] = {"visible": pane.civitai_link.isVisible(), "text": pane.civitai_link.text()}
        views = {}
        for mode in ("Table", "Gallery"):
            view.mode.setCurrentText(mode)
            await _settle(window)
            image = window.grab().toImage()
            image.save(str(out / f"{name}-{mode.lower()}.png"), "PNG")
            views[mode.lower()] = _lightness(image)
        window.show_view("orphans")
        await _settle(window)
        image = window.grab().toImage()
        image.save(str(out / f"{name}-orphans.png"), "PNG")
        views["orphans"] = _lightness(image)
        window.show_view("stacks")
        await window.stacks.inspect_path(demo_dir() / "stacks" / "watercolor_noir_prompt.json")
        await _settle(window)
        image = window.grab().toImage()
        image.save(str(out / f"{name}-stacks.png"), "PNG")
        views["stacks"] = _lightness(image)
        RESULT["stacks_widgets"] = _widget_facts(window)
        RESULT["views_lightness"] = views
    except Exception:  # noqa: BLE001 - the test reads the failure from the JSON
        RESULT["error"] = traceback.format_exc()
    finally:
        (out / f"{name}.json").write_text(json.dumps(RESULT, indent=1), "utf-8")
        window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", default="details")
    parser.add_argument("--theme", default="light")
    parser.add_argument("--size", default="1280x770", help="the window's size (a 1280x800 screen less a title bar)")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))

    from lora_manager_gui.ui.main_window import MainWindow

    original_load = MainWindow.load

    async def load_then_drive(self: MainWindow) -> None:
        await original_load(self)
        RUNNING.append(asyncio.ensure_future(drive(self, args.out, args.name, size)))  # type: ignore[arg-type]

    MainWindow.load = load_then_drive  # type: ignore[method-assign]
    from lora_manager_gui.cli import run

    return run(["--db", args.db, "--theme", args.theme])


if __name__ == "__main__":
    sys.exit(main())
