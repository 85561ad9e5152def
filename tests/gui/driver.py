"""Runs the real app (`lora-manager --db DB`, through cli.run) on the display in DISPLAY and drives it.

    python -m tests.gui.driver --db LIB --out DIR [--mode Gallery|Table] [--name NAME]

The test that starts it has set DISPLAY, QT_QPA_PLATFORM=xcb and a private HOME/XDG_* (so the
settings, log and data folders are the test's). Before the app starts, the remembered adapters
mode is written to the user's settings as the window would have saved it. Once `MainWindow.load`
has run, the driver waits for rows and thumbnails, takes screenshots (QScreen.grabWindow of the
whole screen: what the window manager shows, and widget.grab of the window), writes DIR/NAME.json
with the geometry of every visible label, button, field and gallery tile, then closes the window
the way a user does, so the app's own shutdown runs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT: dict[str, Any] = {}
RUNNING: list[asyncio.Future[None]] = []  # not in a window tracker: the driver waits for those


def _rect(r: Any) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def _size(s: Any) -> list[int]:
    return [s.width(), s.height()]


def _widget_facts(window: Any) -> list[dict[str, Any]]:
    """Every visible label, button, line edit and combo box: its text, geometry and size hints."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit

    facts = []
    for w in window.findChildren(QLabel) + window.findChildren(QAbstractButton) + \
            window.findChildren(QLineEdit) + window.findChildren(QComboBox):
        if not w.isVisibleTo(window) or not w.isVisible():
            continue
        if isinstance(w, QLabel):
            text = w.text()
            kind = "label"
        elif isinstance(w, QAbstractButton):
            text = w.text()
            kind = "button"
        elif isinstance(w, QLineEdit):
            text = w.text() or w.placeholderText()
            kind = "line_edit"
        else:
            text = w.currentText()
            kind = "combo"
        if not text or (isinstance(w, QLabel) and w.pixmap() is not None and not w.pixmap().isNull()):
            continue
        top_left = w.mapTo(window, w.rect().topLeft())
        hint = w.sizeHint()
        min_hint = w.minimumSizeHint()
        entry = {
            "kind": kind, "class": type(w).__name__, "name": w.objectName(), "text": text,
            "accessible_name": w.accessibleName(),
            "geometry": [top_left.x(), top_left.y(), w.width(), w.height()],
            "size_hint": _size(hint), "minimum_size_hint": _size(min_hint),
            "word_wrap": bool(isinstance(w, QLabel) and w.wordWrap()),
            "height_for_width": w.heightForWidth(w.width()) if isinstance(w, QLabel) and w.wordWrap() else -1,
        }
        if kind == "line_edit":
            fm = w.fontMetrics()
            entry["text_width"] = fm.horizontalAdvance(text)
            entry["inner_width"] = w.width() - 2 * w.style().pixelMetric(w.style().PixelMetric.PM_DefaultFrameWidth) - 12
        facts.append(entry)
    return facts


def _gallery_facts(view: Any) -> dict[str, Any]:
    """The tiles the gallery shows: their rects, the size every tile is set to, elided names."""
    from PySide6.QtCore import Qt

    from lora_manager_gui.ui.gallery import name_lines

    gallery = view.gallery
    delegate = getattr(view, "gallery_delegate", None)
    width = delegate.text_width() if delegate is not None else gallery.gridSize().width()
    model = gallery.model()
    tiles = []
    viewport = gallery.viewport().rect()
    for r in range(model.rowCount()):
        index = model.index(r, 0)
        rect = gallery.visualRect(index)
        if not rect.isValid() or not viewport.intersects(rect):
            continue
        text = str(model.data(index, Qt.ItemDataRole.DisplayRole) or "")
        lines, elided = name_lines(text, gallery.font(), width)
        tiles.append({"row": r, "text": text, "rect": _rect(rect), "lines": lines, "elided": elided})
    return {"visible": gallery.isVisible(), "grid_size": _size(gallery.gridSize()),
            "icon_size": _size(gallery.iconSize()), "viewport": _size(gallery.viewport().size()),
            "tile_size": _size(delegate.tile_size(gallery.font()) if delegate is not None else gallery.gridSize()),
            "tiles": tiles}


async def drive(window: Any, out: Path, name: str) -> None:
    from PySide6.QtGui import QGuiApplication

    out.mkdir(parents=True, exist_ok=True)
    try:
        await window.wait_idle(20)
        for _ in range(3):
            await asyncio.sleep(0.15)
            await window.wait_idle(20)
        screen = window.screen() or QGuiApplication.primaryScreen()
        screen.grabWindow(0).save(str(out / f"{name}-screen.png"), "PNG")
        window.grab().save(str(out / f"{name}-window.png"), "PNG")
        view = window.adapters
        RESULT.update({
            "window": {"geometry": _rect(window.frameGeometry()), "size": _size(window.size()),
                       "minimum_size_hint": _size(window.minimumSizeHint()),
                       "title": window.windowTitle()},
            "screen": {"available": _rect(screen.availableGeometry()), "name": screen.name(),
                       "platform": QGuiApplication.platformName()},
            "mode": view.mode.currentText(),
            "stack_current": type(view.stack.currentWidget()).__name__,
            "empty_shown": view.stack.currentWidget() is view.empty,
            "rows": view.model.rowCount(),
            "widgets": _widget_facts(window),
            "gallery": _gallery_facts(view),
            "splitter_handle_width": view.splitter.handleWidth(),
            "sidebar": {"visible": view.sidebar.isVisible(), "geometry": _rect(view.sidebar.geometry()),
                        "rows": [view.sidebar.tree_model.index(r, 0).data()
                                 for r in range(view.sidebar.tree_model.rowCount())]},
            "tile_slider": view.tile_size.value() if view.tile_size.isVisible() else None,
        })
        if view.gallery.isVisible() and view.model.rowCount() > 400:  # the far end of a big library
            view.gallery.scrollToBottom()
            for _ in range(10):
                await asyncio.sleep(0.1)
                await window.wait_idle(20)
            window.grab().save(str(out / f"{name}-end.png"), "PNG")
            RESULT["gallery_end"] = _gallery_facts(view)
        # A finished task's message beside the "Library: …" label (they overlapped).
        async def quick_job(ctx: Any) -> None:
            from lora_manager_gui.core.tasks import ItemProblem, ProblemKind

            deep = "/mnt/nas/loras/" + "/".join(f"folder-{i:02d}" for i in range(8)) + "/broken.civitai.info"
            ctx.add_problem(ItemProblem(deep, ProblemKind.INVALID_JSON, "Expecting value: line 1 column 1 (char 0)"))
            ctx.add_problem(ItemProblem("/l/a.safetensors", ProblemKind.INVALID_MODEL_FILE, "header too large"))

        task = window.start_job("Checking the library", quick_job)
        while task.running:
            await asyncio.sleep(0.02)
        for _ in range(3):
            await asyncio.sleep(0.05)
        window.grab().save(str(out / f"{name}-message.png"), "PNG")
        bar, label = window.statusBar(), window.library_label
        RESULT["status"] = {"message": bar.currentMessage(),
                            "message_width": bar.fontMetrics().horizontalAdvance(bar.currentMessage()),
                            "label_visible": label.isVisible(), "label_text": label.text(),
                            "label_geometry": _rect(label.geometry())}
        dialog = window.task_panel.show_problems()
        for _ in range(3):
            await asyncio.sleep(0.05)
        dialog.grab().save(str(out / f"{name}-problems.png"), "PNG")
        RESULT["problems"] = {"rows": dialog.shown_rows(), "columns": [
            dialog.table.columnWidth(c) for c in range(dialog.model.columnCount())]}
        dialog.close()
        # The narrowest the window goes: what the search box still shows there.
        size_before = window.size()
        window.resize(window.minimumSizeHint())
        for _ in range(3):
            await asyncio.sleep(0.1)
        window.grab().save(str(out / f"{name}-narrow.png"), "PNG")
        search = view.search
        RESULT["narrow"] = {"size": _size(window.size()), "search_width": search.width(),
                            "search_needs": search.fontMetrics().horizontalAdvance("Search name, tags…"),
                            "widgets": _widget_facts(window)}
        window.resize(size_before)  # the size the app saves at close, as a user left it
        await asyncio.sleep(0.1)
    except Exception:  # noqa: BLE001 - the test reads the failure from the JSON
        RESULT["error"] = traceback.format_exc()
    finally:
        (out / f"{name}.json").write_text(json.dumps(RESULT, indent=1), "utf-8")
        window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--mode", default=None, help="the remembered adapters mode (Table or Gallery)")
    parser.add_argument("--name", default="shot")
    parser.add_argument("--tile-size", type=int, default=None, help="the remembered gallery tile size")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QSettings

    from lora_manager_gui import APP_NAME
    from lora_manager_gui.ui.main_window import MainWindow

    if args.mode or args.tile_size:  # what an earlier session of the window saved
        store = QSettings(APP_NAME, APP_NAME)
        if args.mode:
            store.setValue("window/adapters_mode", args.mode)
        if args.tile_size:
            store.setValue("gallery/tile_size", args.tile_size)
        store.sync()

    original_load = MainWindow.load

    async def load_then_drive(self: MainWindow) -> None:
        await original_load(self)
        RUNNING.append(asyncio.ensure_future(drive(self, args.out, args.name)))

    MainWindow.load = load_then_drive  # type: ignore[method-assign]
    from lora_manager_gui.cli import run

    return run(["--db", args.db])


if __name__ == "__main__":
    sys.exit(main())
