"""Stacks: a drop zone for workflows, prompts, stack JSON and PNGs; the breakdown, summary and export.

The breakdown is drawn from the lora_json document the inspector builds (the schema in
schemas/lora_json.schema.json), so what is shown is exactly what "Export lora_json…" writes.
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.safe_html import plain_tooltip
from lora_manager_gui.ui.context import AppContext, ServiceUnavailableError, require_module

log = logging.getLogger(__name__)

HEADERS = ("#", "LoRA", "Strength", "Resolved adapter", "File", "Hash", "CivitAI")


def strength_text(value: Any) -> str:
    if isinstance(value, list):
        nums = [v for v in value if isinstance(v, (int, float))]
        return f"{min(nums):g}…{max(nums):g} ({len(nums)} steps)" if nums else "schedule"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return "linked" if value is None else str(value)


def resolved_text(entry: Any) -> str:
    """How the inspector resolved an entry: the library adapter and by what (path, hash, name)."""
    if entry is None:
        return ""
    name = getattr(entry, "library_name", None)
    match = getattr(entry, "match", None)
    text = f"{name} (by {match})" if name and match else name or (f"file (by {match})" if match else "not in library")
    problem = getattr(entry, "problem", None)
    return f"{text}; {problem}" if problem else text


def breakdown_rows(document: dict[str, Any], entries: list[Any] | None = None) -> list[tuple[str, ...]]:
    rows = []
    entries = list(entries or [])
    for i, lora in enumerate(document.get("loras", [])):
        file = lora.get("file") or {}
        civitai = lora.get("civitai") or None
        resolved = resolved_text(entries[i] if i < len(entries) else None) or ("—" if not file.get("exists") else "")
        status = "present" if file.get("exists") else "missing"
        if file.get("exists") and file.get("size_human"):
            status += f" ({file['size_human']})"
        match = "—"
        if civitai:
            match = " / ".join(p for p in (civitai.get("civitai_name"), civitai.get("version_name")) if p) or "found"
        rows.append((str(lora.get("index", len(rows))), str(lora.get("display_name", "")),
                     strength_text(lora.get("strength")), str(resolved), status,
                     (lora.get("hash") or "")[:10], match))
    return rows


def summary_text(document: dict[str, Any]) -> str:
    if document.get("error"):
        return f"<span style='color:#b33'>{html.escape(str(document['error']))}</span>"
    s = document.get("summary") or {}
    parts = [f"<b>{s.get('count', 0)}</b> LoRAs",
             f"{s.get('missing_files', 0)} missing",
             f"{s.get('civitai_matches', 0)} on CivitAI",
             f"{s.get('local_only', 0)} local only",
             f"total {s.get('total_size_human', '0 B')}"]
    tags = s.get("tags") or []
    text = " · ".join(parts)
    return text + (f"<br>tags: {html.escape(', '.join(map(str, tags[:20])))}" if tags else "")


class DropZone(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumHeight(70)
        self.setStyleSheet("DropZone { border: 2px dashed #8a8f98; border-radius: 8px; }")
        self.label = QLabel("Drop a ComfyUI workflow or API prompt, a stack JSON or a PNG here (or anywhere "
                            "on the window) to see its LoRAs. Drop a folder to import it.")
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open…")
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.open_button)


class StacksView(QWidget):
    message_posted = Signal(str)
    inspection_shown = Signal(object)  # the lora_json document

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tracker = TaskTracker()
        self.document: dict[str, Any] | None = None
        self.source: Path | None = None
        self.drop_zone = DropZone()
        self.drop_zone.open_button.clicked.connect(self._choose_file)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # a file name: shown literally
        self.title.setStyleSheet("font-weight: 600;")
        self.summary = QLabel("Nothing inspected yet.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.lora_info = QPlainTextEdit()
        self.lora_info.setReadOnly(True)
        self.lora_info.setPlaceholderText("lora_info text")
        self.export_button = QPushButton("Export lora_json…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export_path)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.export_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.lora_info)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.drop_zone)
        layout.addLayout(head)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Inspect a stack", "", "Workflows, stacks and images (*.json *.png)")
        if path:
            self.inspect(Path(path))

    def inspect(self, path: Path) -> None:
        self.tracker.spawn(self.inspect_path(path), "inspect stack")

    async def inspect_path(self, path: Path) -> None:
        self.title.setText(f"{path.name}: reading…")
        try:
            inspector = require_module("services.inspector", "Stack inspection")
            inspection = await inspector.inspect_file(self.ctx.db, self.ctx.get_hasher(), path,
                                                      fallback_name=path.stem)
        except (LoraManagerError, ServiceUnavailableError, OSError, ValueError) as exc:
            self.show_failure(path, f"Cannot read {path.name}: {exc}")
            return
        self.show_document(path, inspection.document, inspection.lora_info, inspection.entries,
                           inspection.warnings)

    def show_failure(self, path: Path, message: str) -> None:
        self.source = path
        self.document = None
        self.title.setText(path.name)
        self.summary.setText(f"<span style='color:#b33'>{html.escape(message)}</span>")
        self.table.setRowCount(0)
        self.lora_info.clear()
        self.export_button.setEnabled(False)
        self.message_posted.emit(message)

    def show_document(self, path: Path, document: dict[str, Any], lora_info: str | None,
                      entries: list[Any] | None = None, warnings: list[str] | None = None) -> None:
        self.source = path
        self.document = document
        self.title.setText(path.name)
        notes = "".join(f"<br><span style='color:#a60'>⚠ {html.escape(w)}</span>" for w in (warnings or [])[:8])
        self.summary.setText(summary_text(document) + notes)
        rows = breakdown_rows(document, entries)
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tooltip(text))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.lora_info.setPlainText(lora_info or document.get("combined_display", ""))
        self.export_button.setEnabled(True)
        self.inspection_shown.emit(document)

    def _choose_export_path(self) -> None:
        if self.document is None:
            return
        suggested = (self.source.with_suffix("").name if self.source else "stack") + ".lora.json"
        path, _ = QFileDialog.getSaveFileName(self, "Export lora_json", suggested, "JSON (*.json)")
        if path:
            self.tracker.spawn(self.export_to(Path(path)), "export lora_json")

    async def export_to(self, path: Path) -> None:
        if self.document is None:
            return
        document = self.document
        try:
            exporter = require_module("services.exporter", "Export")
            writer = getattr(exporter, "write_document", None)
            if writer is not None:
                await self.ctx.pool.call(writer, document, path)
            else:
                await self.ctx.pool.call(_write_json, document, path)
        except (OSError, LoraManagerError, ServiceUnavailableError) as exc:
            self.message_posted.emit(f"Cannot export to {path}: {exc}")
            return
        self.message_posted.emit(f"Exported {len(document.get('loras', []))} LoRAs to {path}")

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)


def _write_json(document: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
    tmp.replace(path)
