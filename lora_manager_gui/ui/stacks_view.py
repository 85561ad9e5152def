"""Stacks: a drop zone for workflows, prompts, stack JSON and PNGs; the breakdown, summary and export.

The breakdown is drawn from the inspector's typed entries (`ResolvedEntry`: what each LoRA resolved
to, and where it sits: subgraph path, node title and id); the LoRAs the workflow does not run
(switched off, not connected to an output) are listed apart, with the reason. The lora_json
document is built only to export, on a worker thread.
"""
from __future__ import annotations

import html
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
from lora_manager_gui.core.lora_json import EMPTY_STACK_ERROR, ResolvedEntry, StackSummary
from lora_manager_gui.core.sizes import human_size
from lora_manager_gui.core.stacks.model import SkippedEntry, StackReadError
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.comfy_clipboard import copy_for_comfyui, rows_for_entries
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.safe_html import plain_tooltip

log = logging.getLogger(__name__)

HEADERS = ("#", "LoRA file", "Name", "Strength", "In the library", "On disk", "Hash", "CivitAI", "Where")
# Every format the inspector reads (core/stacks/reader.py): workflows, prompts and stacks as JSON,
# images with generation text (PNG, WEBP, JPEG) and A1111 parameters or <lora:…> tags as text.
OPEN_FILTER = ("Workflows, stacks and images (*.json *.png *.webp *.jpg *.jpeg *.txt);;"
               "JSON (*.json);;Images (*.png *.webp *.jpg *.jpeg);;Text (*.txt);;All files (*)")
ERROR_COLOR = "#d64545"  # readable on the light and the dark theme
WARNING_COLOR = "#c77700"
NO_STACK_IN_IMAGE = ("No LoRA stack found in this image: it carries no ComfyUI workflow or A1111 generation "
                     "text. (Images that hide it in their pixels, such as \u201cstealth\u201d PNGs, are not read.)")
MAX_TABLE_ROWS = 5_000  # a 100,000-node stack is not drawn row by row: the export holds every entry
SKIPPED_HEADERS = ("LoRA", "Strength", "Why it does not run", "Where")


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
    text = f"{name} (by {match})" if name and match else name or (f"file (by {match})" if match else "not in the library")
    problem = getattr(entry, "problem", None)
    return f"{text}; {problem}" if problem else text


def breakdown_rows(items: list[ResolvedEntry]) -> list[tuple[str, ...]]:
    """One row per resolved entry, in the order the stack applies them."""
    rows = []
    for index, item in enumerate(items):
        status = "present" if item.exists else "missing"
        if item.exists and item.size_bytes is not None:
            status += f" ({human_size(item.size_bytes)})"
        civitai = item.civitai
        match = "—"
        if civitai is not None:
            match = " / ".join(p for p in (civitai.model_name, civitai.version_name) if p) or "found"
        rows.append((str(index), item.entry.reference, item.display_name, strength_text(item.entry.strength),
                     resolved_text(item) or ("—" if not item.exists else ""), status,
                     (item.sha256 or "")[:10] if item.exists else "", match, item.entry.location))
    return rows


def skipped_rows(skipped: list[SkippedEntry]) -> list[tuple[str, ...]]:
    return [(item.entry.stem or item.entry.reference, strength_text(item.entry.strength), item.reason_text,
             item.entry.location) for item in skipped]


def summary_text(summary: StackSummary, skipped: int = 0, items: list[ResolvedEntry] | None = None) -> str:
    """The counts in words: the LoRAs found apart from those not in the library (no file), and of
    those found, the ones CivitAI knows apart from the ones only here."""
    if summary.count == 0:
        text = f"<span style='color:{ERROR_COLOR}'>{html.escape(EMPTY_STACK_ERROR)}</span>"
    else:
        found = summary.count - summary.missing_files
        local_only = (sum(1 for i in items if i.exists and i.civitai is None) if items is not None
                      else max(0, summary.local_only - summary.missing_files))
        parts = [f"<b>{summary.count}</b> LoRAs", f"{found} found"]
        if summary.missing_files:
            parts.append(f"{summary.missing_files} not in the library")
        parts += [f"{summary.civitai_matches} on CivitAI"]
        if local_only:
            parts.append(f"{local_only} local only (not on CivitAI)")
        parts.append(f"total {summary.total_size_human}")
        text = " · ".join(parts)
    if skipped:
        text += f" · {skipped} not run"
    tags = summary.tags
    return text + (f"<br>tags: {html.escape(', '.join(map(str, tags[:20])))}" if tags else "")


class DropZone(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumHeight(70)
        self.setStyleSheet("DropZone { border: 2px dashed #8a8f98; border-radius: 8px; }")
        self.label = QLabel("Drop a ComfyUI workflow or API prompt, a stack JSON or a PNG here (or anywhere "
                            "on the window) to see its LoRAs. Drop a folder to import it. Open… also reads "
                            "WEBP and JPEG images and A1111 parameters saved as text.")
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open…")
        self.open_button.setAccessibleName("Open a workflow, stack or image")
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.open_button)


class StacksView(QWidget):
    message_posted = Signal(str)
    inspection_shown = Signal(object)  # the Inspection shown

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tracker = TaskTracker()
        self.inspection: Any = None  # services.inspector.Inspection
        self.source: Path | None = None
        self.drop_zone = DropZone()
        self.drop_zone.open_button.clicked.connect(self._choose_file)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # a file name: shown literally
        self.title.setStyleSheet("font-weight: 600;")
        self.summary = QLabel("Nothing inspected yet.")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Stack summary")
        self.title.setAccessibleName("Stack file")
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setAccessibleName("LoRAs in the stack")
        self.skipped_label = QLabel("Not run: switched off, or not connected to an output")
        self.skipped_label.setStyleSheet(f"color: {WARNING_COLOR};")
        self.skipped_table = QTableWidget(0, len(SKIPPED_HEADERS))
        self.skipped_table.setHorizontalHeaderLabels(SKIPPED_HEADERS)
        self.skipped_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skipped_table.verticalHeader().hide()
        self.skipped_table.setAccessibleName("LoRAs that do not run")
        self.skipped_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        skipped_box = QWidget()
        skipped_layout = QVBoxLayout(skipped_box)
        skipped_layout.setContentsMargins(0, 0, 0, 0)
        skipped_layout.addWidget(self.skipped_label)
        skipped_layout.addWidget(self.skipped_table)
        self.skipped_box = skipped_box
        skipped_box.hide()
        self.lora_info = QPlainTextEdit()
        self.lora_info.setReadOnly(True)
        self.lora_info.setPlaceholderText("The stack as text, as the LoRA Info node prints it")
        self.lora_info.setAccessibleName("The stack as text")
        self.export_button = QPushButton("Export stack…")
        self.export_button.setAccessibleName("Export the stack as JSON")
        self.export_button.setToolTip("Save the stack as a lora_json file, with every LoRA and what it resolved to")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export_path)
        self.comfy_button = QPushButton("Copy for ComfyUI")
        self.comfy_button.setAccessibleName("Copy the stack as ComfyUI LoRA loader nodes")
        self.comfy_button.setToolTip("Put a chain of LoraLoader nodes with these strengths on the clipboard: "
                                     "paste it into ComfyUI's canvas (Ctrl+V)")
        self.comfy_button.setEnabled(False)
        self.comfy_button.clicked.connect(self.copy_for_comfyui)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.comfy_button)
        head.addWidget(self.export_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(skipped_box)
        splitter.addWidget(self.lora_info)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.drop_zone)
        layout.addLayout(head)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Inspect a stack", "", OPEN_FILTER)
        if path:
            self.inspect(Path(path))

    def inspect(self, path: Path) -> None:
        self.tracker.spawn(self.inspect_path(path), "inspect stack")

    async def inspect_path(self, path: Path) -> None:
        self.title.setText(f"{path.name}: reading…")
        try:
            from lora_manager_gui.services.inspector import inspect_file  # preloaded at start-up

            async with self.ctx.library.use_hasher() as hasher:
                inspection = await inspect_file(self.ctx.db, hasher, path, fallback_name=path.stem)
            await self.ctx.pool.call(lambda: inspection.lora_info)  # its text, off the UI thread
        except StackReadError as exc:
            if exc.kind == "no_metadata":  # an image without generation text: nothing wrong with it
                self.show_notice(path, NO_STACK_IN_IMAGE)
            else:
                self.show_failure(path, f"Cannot read {path.name}: {exc.reason}")
            return
        except (LoraManagerError, OSError, ValueError) as exc:
            self.show_failure(path, f"Cannot read {path.name}: {exc}")
            return
        self.show_inspection(path, inspection)

    @property
    def document(self) -> dict[str, Any] | None:
        """The lora_json document of the stack shown (built on first request: export)."""
        return self.inspection.document if self.inspection is not None else None

    @document.setter
    def document(self, value: Any) -> None:
        if value is None:
            self.inspection = None

    def show_notice(self, path: Path, message: str) -> None:
        """A file that holds no stack, said calmly (not an error)."""
        self.show_failure(path, message, error=False)

    def show_failure(self, path: Path, message: str, *, error: bool = True) -> None:
        self.source = path
        self.inspection = None
        self.title.setText(path.name)
        self.summary.setText(f"<span style='color:{ERROR_COLOR}'>{html.escape(message)}</span>" if error
                             else html.escape(message))
        self.table.setRowCount(0)
        self.skipped_table.setRowCount(0)
        self.skipped_box.hide()
        self.lora_info.clear()
        self.export_button.setEnabled(False)
        self.comfy_button.setEnabled(False)
        self.message_posted.emit(message)

    def show_inspection(self, path: Path, inspection: Any) -> None:
        """Show a services.inspector.Inspection: its typed entries, the LoRAs not run, the warnings."""
        self.source = path
        self.title.setText(path.name)
        warnings = inspection.warnings or []
        notes = "".join(f"<br><span style='color:{WARNING_COLOR}'>⚠ {html.escape(w)}</span>" for w in warnings[:8])
        shown = ""
        if len(inspection.entries) > MAX_TABLE_ROWS:
            shown = (f"<br>the first {MAX_TABLE_ROWS:,} of {len(inspection.entries):,} LoRAs are listed; "
                     "the export holds them all")
        self.summary.setText(summary_text(inspection.summary, len(inspection.skipped), inspection.entries)
                             + shown + notes)
        _fill(self.table, breakdown_rows(inspection.entries[:MAX_TABLE_ROWS]))
        _fill(self.skipped_table, skipped_rows(inspection.skipped[:MAX_TABLE_ROWS]))
        self.skipped_box.setVisible(bool(inspection.skipped))
        text = inspection.lora_info
        if len(inspection.entries) > MAX_TABLE_ROWS:  # the summary line, then the first bullets
            lines = text.split("\n", MAX_TABLE_ROWS + 1)
            text = "\n".join(lines[:MAX_TABLE_ROWS + 1]) + f"\n… {len(inspection.entries) - MAX_TABLE_ROWS:,} more"
        self.lora_info.setPlainText(text)
        self.inspection = inspection
        self.export_button.setEnabled(bool(inspection.entries))  # nothing to export from an empty stack
        self.comfy_button.setEnabled(bool(rows_for_entries(inspection.entries)))
        self.inspection_shown.emit(inspection)

    def _choose_export_path(self) -> None:
        if self.inspection is None:
            return
        suggested = (self.source.with_suffix("").name if self.source else "stack") + ".lora.json"
        path, _ = QFileDialog.getSaveFileName(self, "Export the stack", suggested, "JSON (*.json)")
        if path:
            self.tracker.spawn(self.export_to(Path(path)), "export the stack")

    def copy_for_comfyui(self) -> None:
        inspection = self.inspection
        count = copy_for_comfyui(rows_for_entries(inspection.entries)) if inspection is not None else 0
        if count:
            self.message_posted.emit(f"Copied {count} LoRA loader node{'s' if count != 1 else ''}: paste them into ComfyUI")

    async def export_to(self, path: Path) -> None:
        inspection = self.inspection
        if inspection is None:
            return
        try:
            from lora_manager_gui.services.exporter import write_document  # preloaded at start-up

            # the document is built here, on the worker, from the typed entries
            await self.ctx.pool.call(lambda: write_document(inspection.document, path))
        except (OSError, LoraManagerError) as exc:
            self.message_posted.emit(f"Cannot export to {path}: {exc}")
            return
        self.message_posted.emit(f"Exported {len(inspection.entries)} LoRAs to {path}")

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, text in enumerate(values):
            item = QTableWidgetItem(text)  # plain text: names from files are never rich text here
            item.setToolTip(plain_tooltip(text))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
