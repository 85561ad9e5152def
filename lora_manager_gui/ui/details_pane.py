"""The details of the current adapter: preview, names, trigger words, description, stats, file facts."""
from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import AdapterDetails, AdapterRow
from lora_manager_gui.core.sizes import display_size
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.details_widgets import CopyRow, PreviewLabel, WrappedValue, breakable, stats_lines
from lora_manager_gui.ui.file_manager import open_containing_folder
from lora_manager_gui.ui.safe_html import SafeTextBrowser, plain_tooltip, sanitize_html
from lora_manager_gui.ui.thumbnails import ThumbnailCache


def lora_prompt_tag(details: AdapterDetails) -> str:
    """`<lora:name:weight>` with the file stem A1111 and ComfyUI prompt syntax expect."""
    row = details.row
    source = row.file_name or (os.path.basename(row.file_path) if row.file_path else "") or row.name
    name = Path(source).stem if Path(source).suffix.lower() in (".safetensors", ".pt", ".bin", ".ckpt") else source
    weight = details.weight if details.weight else 1.0
    return f"<lora:{name}:{weight:g}>"


def _plain(label: QLabel) -> QLabel:
    """A label that shows its text literally. Names, versions, creators, tags and stats come from
    sidecars and CivitAI: as rich text, `<img src="/a/fifo">` in a name would have the GUI thread
    open that file, and deep nesting would hold it for minutes."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


MAX_LABEL_CHARS = 2_000  # a field longer than this from a sidecar is shown cut, with "…"
MAX_TRIGGER_WORDS = 200


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS] + "…"


def _details_for_display(adapter_id: int) -> tuple[AdapterDetails, str] | None:
    """(On the database thread.) The details and their description, sanitized and bounded there,
    so a long or hostile description costs the GUI thread nothing but the bounded layout."""
    details = browse.adapter_details(adapter_id)
    if details is None:
        return None
    return details, sanitize_html(details.description_html or details.model_description_html)


def _form() -> QFormLayout:
    """A form whose rows put a long value under its label when the pane is narrow."""
    form = QFormLayout()
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _format_mtime(ns: int | None) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")


class DetailsPane(QScrollArea):
    """The details of one adapter, in a scroll area: every section reachable at any pane size,
    nothing cut (the preview scales to the width, long values wrap, actions sit one per line)."""

    message_posted = Signal(str)
    details_shown = Signal(int)  # adapter id

    def __init__(self, ctx: AppContext, previews: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.previews = previews
        self.tracker = TaskTracker()
        self.details: AdapterDetails | None = None
        self._trigger_words: list[str] = []
        self._generation = 0
        self._shown_id: int | None = None
        self.folder_box: QWidget | None = None  # the "no file manager" box, when one was shown
        self.blurred: Callable[[AdapterRow], bool] = lambda row: False  # the view's NSFW blur rule
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(300)
        self.setAccessibleName("Adapter details")
        body = QWidget()
        body.setObjectName("details_body")
        self.setWidget(body)
        layout = QVBoxLayout(body)

        self.preview = PreviewLabel()
        self.title = WrappedValue()  # values from files wrap anywhere: a long unbroken name stays in the pane
        self.title.setObjectName("details_title")
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(16)
        title_font.setWeight(QFont.Weight.DemiBold)
        self.title.setFont(title_font)
        self.title.setText("Select an adapter")
        self.version = WrappedValue()
        layout.addWidget(self.preview)
        layout.addWidget(self.title)
        layout.addWidget(self.version)

        form = _form()
        self.creator = WrappedValue()
        self.base_model = WrappedValue()
        self.nsfw = _plain(QLabel())
        self.triggers = QLabel()  # rich text: links made here, each word escaped
        self.triggers.setTextFormat(Qt.TextFormat.RichText)
        self.triggers.setWordWrap(True)
        self.triggers.setToolTip("Click a word to copy it")
        self.triggers.linkActivated.connect(self._copy_trigger)
        self.tags = WrappedValue()
        self.stats = WrappedValue()
        form.addRow("Creator", self.creator)
        form.addRow("Base model", self.base_model)
        form.addRow("NSFW level", self.nsfw)
        form.addRow("Trigger words", self.triggers)
        form.addRow("Tags", self.tags)
        form.addRow("Stats", self.stats)
        layout.addLayout(form)

        # Actions, one per line: a long tag or a narrow pane never pushes one out of view.
        self.prompt_tag = CopyRow("prompt tag", monospace=True)
        self.prompt_tag.copied.connect(self._copy)
        self.copy_tag_button = QPushButton("Copy <lora:…>")
        self.copy_tag_button.setAccessibleName("Copy the prompt tag")
        self.copy_tag_button.clicked.connect(self._copy_prompt_tag)
        self.prompt_tag.set_offers_button(False)  # the labelled button below copies it
        self.open_folder_button = QPushButton("Open containing folder")
        self.open_folder_button.setAccessibleName("Open the containing folder")
        self.open_folder_button.clicked.connect(self._open_folder)
        self.civitai_link = QLabel()  # rich text: a link made here from ids, escaped
        self.civitai_link.setObjectName("civitai_link")
        self.civitai_link.setTextFormat(Qt.TextFormat.RichText)
        self.civitai_link.setOpenExternalLinks(True)
        self.civitai_link.setWordWrap(True)
        self.civitai_link.setAccessibleName("CivitAI page")
        layout.addWidget(self.prompt_tag)
        for widget in (self.copy_tag_button, self.open_folder_button):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.civitai_link)

        facts = _form()
        self.path_row = CopyRow("file path")
        self.path_row.copied.connect(self._copy)
        self.path = self.path_row.value
        self.size = _plain(QLabel())
        self.modified = _plain(QLabel())
        self.sha256_row = CopyRow("SHA-256", monospace=True)
        self.autov2_row = CopyRow("AutoV2", monospace=True)
        self.autov3_row = CopyRow("AutoV3", monospace=True)
        for row in (self.sha256_row, self.autov2_row, self.autov3_row):
            row.copied.connect(self._copy)
        self.sha256, self.autov2, self.autov3 = self.sha256_row.value, self.autov2_row.value, self.autov3_row.value
        facts.addRow("File", self.path_row)
        facts.addRow("Size", self.size)
        facts.addRow("Modified", self.modified)
        facts.addRow("SHA-256", self.sha256_row)
        facts.addRow("AutoV2", self.autov2_row)
        facts.addRow("AutoV3", self.autov3_row)
        layout.addLayout(facts)
        self.description = SafeTextBrowser()
        self.description.setMinimumHeight(160)
        self.description.setAccessibleName("Description")
        layout.addWidget(QLabel("<b>Description</b>"))
        self.description.setMaximumHeight(360)  # long ones scroll inside; the facts stay near
        self.description.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.description)

        layout.addStretch(1)
        previews.thumbnail_loaded.connect(self._preview_loaded)
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.copy_tag_button, self.open_folder_button):
            w.setEnabled(enabled)

    def show_adapter(self, adapter_id: int | None) -> None:
        self._generation += 1
        if adapter_id is None:
            self.clear()
            return
        if adapter_id != self._shown_id:  # until the new row lands, nothing of the old one is copied
            self.details = None
            self._shown_id = None
            self.prompt_tag.clear()
            self._set_enabled(False)
        self.tracker.spawn(self._load(adapter_id, self._generation), "details")

    async def _load(self, adapter_id: int, generation: int) -> None:
        loaded = await self.ctx.db.call(_details_for_display, adapter_id)
        if generation != self._generation:
            return
        if loaded is None:
            self.clear()
            return
        self.render(*loaded)
        self.details_shown.emit(adapter_id)

    def clear(self) -> None:
        self.details = None
        self._shown_id = None
        self.title.setText("Select an adapter")
        for label in (self.version, self.creator, self.base_model, self.nsfw, self.triggers, self.tags,
                      self.stats, self.size, self.modified, self.civitai_link, self.prompt_tag, self.path_row,
                      self.sha256_row, self.autov2_row, self.autov3_row):
            label.clear()
        self.preview.clear()
        self.description.clear()
        self._set_enabled(False)

    def render(self, d: AdapterDetails, clean_description: str | None = None) -> None:
        """Show `d`; `clean_description`: its description already through sanitize_html."""
        self.details = d
        row = d.row
        self._shown_id = row.id
        self.title.setText(_short(row.name))
        self.version.setText(_short(row.version))
        self.creator.setText(_short(row.creator or "unknown"))
        self.base_model.setText(_short(row.base_model or "unknown"))
        self.nsfw.setText(str(row.nsfw_level))
        words = d.trained_words or ([d.activation_text] if d.activation_text else [])
        self.triggers.setText(" · ".join(
            f'<a href="copy:{i}">{html.escape(breakable(_short(w)))}</a>' for i, w in enumerate(words[:MAX_TRIGGER_WORDS]))
            or "none")
        self._trigger_words = words
        self.tags.setText(_short(", ".join(d.tags)) or "none")
        self.stats.setText(_short("\n".join(stats_lines(d.stats))) or "none")
        if clean_description is None:
            clean_description = sanitize_html(d.description_html or d.model_description_html)
        self.description.set_clean_description(clean_description)
        if d.civitai_url:
            self.civitai_link.setText(f'<a href="{html.escape(d.civitai_url)}">Open the CivitAI page</a>')
            self.civitai_link.setToolTip(plain_tooltip(d.civitai_url))
        else:
            self.civitai_link.setText("Not identified on CivitAI")
            self.civitai_link.setToolTip("")
        self.path_row.set_value(row.file_path or "(no model file recorded)", copyable=bool(row.file_path))
        self.size.setText(display_size(d.file_size if d.file_size is not None else row.size_bytes))
        self.modified.setText(_format_mtime(d.file_mtime_ns) if d.file_exists else "file missing")
        if row.sha256:
            self.sha256_row.set_value(row.sha256)
        else:
            self.sha256_row.set_value("not hashed", copyable=False)
        self.autov2_row.set_value(d.autov2 or "")
        self.autov3_row.set_value(d.autov3 or "")
        self._set_enabled(True)
        self.open_folder_button.setEnabled(bool(row.file_path or row.json_file_path))
        tag = lora_prompt_tag(d)
        self.prompt_tag.set_value(tag)
        self.copy_tag_button.setToolTip(plain_tooltip(f"Copy {tag}"))
        self._show_preview()

    def _show_preview(self) -> None:
        if self.details is None:
            return
        row = self.details.row
        pixmap = self.previews.get(("details", row.id), row.file_path, row.json_file_path, blur=self.blurred(row))
        if pixmap is not None:
            self.preview.set_source(pixmap)
        elif self.previews.known(("details", row.id)):
            self.preview.setText("no preview")
        else:
            self.preview.setText("loading preview…")

    def _preview_loaded(self, key: object) -> None:
        if self.details is not None and key == ("details", self.details.row.id):
            self._show_preview()

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.message_posted.emit(f"Copied {what}: {text}")

    def _copy_trigger(self, link: str) -> None:
        index = int(link.split(":", 1)[1])
        if 0 <= index < len(self._trigger_words):
            self._copy(self._trigger_words[index], "trigger word")

    def _copy_prompt_tag(self) -> None:
        if self.details is not None:
            self._copy(lora_prompt_tag(self.details), "prompt tag")

    def _open_folder(self) -> None:
        if self.details is None:
            return
        target = self.details.row.file_path or self.details.row.json_file_path
        if target:
            self.folder_box = open_containing_folder(self, target)
