"""What one can do with the adapters under the cursor: the context menu, Return and double-click.

Copying prompt tags reads each adapter's preferred weight (`browse.adapter_details`) on the
database thread; at most MAX_TAGS tags are copied at once.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMenu

from lora_manager_gui.core.comfy_paste import LoraRow
from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import AdapterRow
from lora_manager_gui.db.models import LibraryFile
from lora_manager_gui.ui.comfy_clipboard import comfy_name, copy_for_comfyui
from lora_manager_gui.ui.details_pane import lora_prompt_tag
from lora_manager_gui.ui.file_manager import open_containing_folder

if TYPE_CHECKING:
    from lora_manager_gui.ui.adapters_view import AdaptersView

MAX_TAGS = 200
NO_REMOVE_TEXT = ("Adapters are not removed from the library here: delete or move their files, then re-scan "
                  "(F5). Files that are gone are flagged as missing, never deleted.")


class AdapterActions:
    """The actions of the adapters view, shared by its table, its gallery and the main window."""

    def __init__(self, view: AdaptersView, hash_paths: Callable[[], None], identify: Callable[[], None]) -> None:
        self.view = view
        self.copy_tags = self._action("Copy <lora:…> prompt tags", self.copy_prompt_tags, QKeySequence.StandardKey.Copy)
        self.copy_paths = self._action("Copy file paths", self.copy_file_paths, "Ctrl+Shift+C")
        self.copy_comfy = self._action("Copy for ComfyUI (LoRA loader nodes)", self.copy_for_comfyui)
        self.open_folder = self._action("Open containing folder", self.open_folder_of_current)
        self.open_civitai = self._action("Open on CivitAI", self.open_on_civitai)
        self.hash = self._action("Hash", hash_paths)
        self.identify = self._action("Identify on CivitAI", identify)
        self.select_all = self._action("Select all", view.table.selectAll, QKeySequence.StandardKey.SelectAll)
        self.remove = self._action("Remove from library…", self.explain_remove, QKeySequence.StandardKey.Delete)
        for widget in (view.table, view.gallery):
            widget.setContextMenuPolicy(widget.contextMenuPolicy().CustomContextMenu)
            widget.customContextMenuRequested.connect(lambda pos, w=widget: self.show_menu(w, pos))
            widget.activated.connect(lambda _index: self.copy_prompt_tags())
            for action in (self.copy_tags, self.copy_paths, self.select_all, self.remove):
                widget.addAction(action)  # their keys work where the rows have the focus

    def _action(self, text: str, slot: Callable[[], object], shortcut: object = None) -> QAction:
        action = QAction(text, self.view)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(action.shortcutContext().WidgetWithChildrenShortcut)
        action.triggered.connect(lambda *_: slot())
        return action

    def menu(self) -> QMenu:
        rows = self.view.selected_rows()
        current = self.current_row()
        menu = QMenu(self.view)
        for action in (self.copy_tags, self.copy_paths, self.copy_comfy):
            action.setEnabled(bool(rows))
            menu.addAction(action)
        menu.addSeparator()
        self.open_folder.setEnabled(bool(current and (current.file_path or current.json_file_path)))
        self.open_civitai.setEnabled(bool(current and current.identified))
        menu.addAction(self.open_folder)
        menu.addAction(self.open_civitai)
        menu.addSeparator()
        with_files = any(r.file_path and not r.missing for r in rows)
        for action in (self.hash, self.identify):
            action.setEnabled(with_files)
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.select_all)
        self.remove.setEnabled(bool(rows))
        menu.addAction(self.remove)
        return menu

    def show_menu(self, widget: QAbstractItemView, pos: QPoint) -> QMenu:
        menu = self.menu()
        menu.popup(widget.viewport().mapToGlobal(pos))
        return menu

    def current_row(self) -> AdapterRow | None:
        rows = self.view.selected_rows()
        index = self.view.table.selectionModel().currentIndex()
        row = self.view.model.row_at(index.row()) if index.isValid() else None
        return row if row is not None else (rows[0] if rows else None)

    # ---- the actions --------------------------------------------------------------------------
    def copy_prompt_tags(self) -> None:
        rows = self.view.selected_rows()[:MAX_TAGS]
        if rows:
            self.view.tracker.spawn(self._copy_tags([r.id for r in rows]), "copy prompt tags")

    async def _copy_tags(self, ids: list[int]) -> str:
        def read() -> list[str]:
            return [lora_prompt_tag(d) for i in ids if (d := browse.adapter_details(i)) is not None]

        tags = await self.view.ctx.db.call(read)
        text = ", ".join(tags)
        QGuiApplication.clipboard().setText(text)
        self.view.message_posted.emit(f"Copied {text}" if len(tags) == 1 else f"Copied {len(tags):,} prompt tags")
        return text

    def copy_for_comfyui(self) -> None:
        rows = self.view.selected_rows()[:MAX_TAGS]
        if rows:
            self.view.tracker.spawn(self._copy_comfy([r.id for r in rows]), "copy for ComfyUI")

    async def _copy_comfy(self, ids: list[int]) -> int:
        def read() -> list[LoraRow]:
            out = []
            for adapter_id in ids:
                details = browse.adapter_details(adapter_id)
                if details is None or not details.row.file_path:
                    continue
                # ComfyUI lists a LoRA by its path under the loras folder: the library root's
                rel = LibraryFile.select(LibraryFile.rel_path).where(LibraryFile.adapter_id == adapter_id).scalar()
                out.append(LoraRow(comfy_name(rel or os.path.basename(details.row.file_path)), details.weight, details.weight))
            return out

        count = copy_for_comfyui(await self.view.ctx.db.call(read))
        if count:
            self.view.message_posted.emit(f"Copied {count} LoRA loader node{'s' if count != 1 else ''}: paste them into ComfyUI")
        return count

    def copy_file_paths(self) -> None:
        paths = [r.file_path or r.json_file_path for r in self.view.selected_rows()]
        paths = [p for p in paths if p]
        if paths:
            QGuiApplication.clipboard().setText("\n".join(paths))
            self.view.message_posted.emit(f"Copied {len(paths):,} file path{'s' if len(paths) != 1 else ''}")

    def open_folder_of_current(self) -> None:
        row = self.current_row()
        target = row and (row.file_path or row.json_file_path)
        if target:
            open_containing_folder(self.view.window(), target)

    def open_on_civitai(self) -> None:
        row = self.current_row()
        if row is not None and row.identified:
            self.view.tracker.spawn(self._open_civitai(row.id), "open on CivitAI")

    async def _open_civitai(self, adapter_id: int) -> None:
        details = await self.view.ctx.db.call(browse.adapter_details, adapter_id)
        url = details.civitai_url if details is not None else None
        if url:
            QDesktopServices.openUrl(QUrl(url))

    def explain_remove(self) -> None:
        if self.view.selected_rows():
            self.view.message_posted.emit(NO_REMOVE_TEXT)
