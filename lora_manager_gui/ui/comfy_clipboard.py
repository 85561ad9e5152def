""""Copy for ComfyUI": a chain of LoraLoader nodes on the system clipboard, as ComfyUI's canvas
pastes it (core/comfy_paste.py says which formats and why: `text/html` carrying litegraph
clipboard items, pasted as nodes into the open graph, and `text/plain` carrying a whole workflow)."""
from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from lora_manager_gui.core.comfy_paste import LoraRow, paste_payload
from lora_manager_gui.core.lora_json import ResolvedEntry


def comfy_name(reference: str) -> str:
    """A LoRA reference as ComfyUI's LoraLoader lists it: relative, with `/` between folders."""
    return reference.replace("\\", "/").lstrip("/")


def rows_for_entries(entries: Iterable[ResolvedEntry]) -> list[LoraRow]:
    """The stack's LoRAs at their strengths (a per-step or unknown strength becomes 1.0)."""
    rows = []
    for resolved in entries:
        entry = resolved.entry
        reference = entry.path or entry.name
        if not reference:
            continue
        model = entry.strength if isinstance(entry.strength, (int, float)) else 1.0
        clip = entry.clip_strength if isinstance(entry.clip_strength, (int, float)) else model
        rows.append(LoraRow(comfy_name(reference), float(model), float(clip)))
    return rows


def copy_for_comfyui(rows: list[LoraRow]) -> int:
    """Put the chain on the clipboard; returns how many LoRAs it holds (0: nothing was copied)."""
    if not rows:
        return 0
    payload = paste_payload(rows)
    mime = QMimeData()
    mime.setHtml(payload.html)
    mime.setText(payload.text)
    QGuiApplication.clipboard().setMimeData(mime)
    return len(rows)
