"""A LoRA stack as something ComfyUI's canvas takes on paste, or as a workflow file to drop on it.

What the ComfyUI frontend does on paste (Comfy-Org/ComfyUI_frontend, src/composables/usePaste.ts
with src/composables/useCopy.ts): image/video/audio items aside, it first reads the system
clipboard's `text/html` for `<span data-metadata="BASE64">` (newer builds also accept
`data-comfy-metadata`, and match the whole fragment that useCopy writes), decodes the base64 as
UTF-8 JSON, checks it has the shape of litegraph `ClipboardItems` (`nodes` with id/type/pos,
`links` with id/origin_id/target_id, ...) and adds those nodes to the open graph at the mouse
(`canvas._deserializeItems`). Failing that it parses `text/plain` as a workflow (`version`,
`nodes`, `extra`) and loads it as the whole graph (`app.loadGraphData`). Only then does it fall
back to litegraph's own paste, which reads `litegrapheditor_clipboard` from the page's
localStorage, where no other program can write.

So `paste_payload` gives both: `html` (the fragment, exactly as useCopy writes it, with
`data-metadata` so that older and newer frontends both read it) adds LoraLoader nodes to the
graph; `text` (a complete workflow) is what older frontends load; `workflow` is the same document
for a file to drop on the canvas. Pure Python: the window puts `html` and `text` on the clipboard.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NODE_TYPE = "LoraLoader"
NODE_SIZE = (315, 126)
NODE_GAP_X = 40
WORKFLOW_VERSION = 0.4
HTML_TEMPLATE = ('<meta charset="utf-8"><div><span data-metadata="{data}"></span></div>'
                 '<span style="white-space:pre-wrap;">Text</span>')


@dataclass(frozen=True)
class LoraRow:
    """One LoRA for a LoraLoader node: its name as ComfyUI lists it, and the two strengths."""

    name: str
    strength_model: float = 1.0
    strength_clip: float = 1.0


@dataclass(frozen=True)
class ComfyPaste:
    items: dict[str, Any]  # litegraph ClipboardItems: nodes, links, groups, reroutes, subgraphs
    workflow: dict[str, Any]  # a whole workflow (version 0.4) holding the same nodes
    html: str  # the clipboard's text/html: pasted as nodes into the open graph
    text: str  # the clipboard's text/plain: the workflow JSON


def _rows(rows: Iterable[LoraRow | tuple[str, float, float]]) -> list[LoraRow]:
    out = []
    for row in rows:
        if not isinstance(row, LoraRow):
            name, model, clip = row
            row = LoraRow(str(name), float(model), float(clip))
        if row.name.strip():
            out.append(row)
    return out


def _node(node_id: int, order: int, row: LoraRow, x: float, y: float,
          model_link: int | None, clip_link: int | None, out_links: tuple[list[int], list[int]]) -> dict[str, Any]:
    return {
        "id": node_id, "type": NODE_TYPE, "pos": [x, y], "size": list(NODE_SIZE), "flags": {},
        "order": order, "mode": 0,
        "inputs": [{"name": "model", "type": "MODEL", "link": model_link},
                   {"name": "clip", "type": "CLIP", "link": clip_link}],
        "outputs": [{"name": "MODEL", "type": "MODEL", "links": out_links[0], "slot_index": 0},
                    {"name": "CLIP", "type": "CLIP", "links": out_links[1], "slot_index": 1}],
        "properties": {"Node name for S&R": NODE_TYPE},
        "widgets_values": [row.name, row.strength_model, row.strength_clip],
    }


def chain_graph(rows: Iterable[LoraRow | tuple[str, float, float]], origin: tuple[float, float] = (0.0, 0.0)
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """LoraLoader nodes in a row, MODEL and CLIP of each feeding the next. (nodes, links as objects)"""
    rows = _rows(rows)
    links: list[dict[str, Any]] = []
    for index in range(1, len(rows)):
        for slot, kind in ((0, "MODEL"), (1, "CLIP")):
            links.append({"id": len(links) + 1, "origin_id": index, "origin_slot": slot,
                          "target_id": index + 1, "target_slot": slot, "type": kind})
    nodes = []
    for index, row in enumerate(rows):
        node_id = index + 1
        incoming = {lk["target_slot"]: lk["id"] for lk in links if lk["target_id"] == node_id}
        outgoing = ([lk["id"] for lk in links if lk["origin_id"] == node_id and lk["origin_slot"] == 0],
                    [lk["id"] for lk in links if lk["origin_id"] == node_id and lk["origin_slot"] == 1])
        x = origin[0] + index * (NODE_SIZE[0] + NODE_GAP_X)
        nodes.append(_node(node_id, index, row, x, origin[1], incoming.get(0), incoming.get(1), outgoing))
    return nodes, links


def clipboard_items(rows: Iterable[LoraRow | tuple[str, float, float]]) -> dict[str, Any]:
    nodes, links = chain_graph(rows)
    return {"nodes": nodes, "groups": [], "reroutes": [], "links": links, "subgraphs": []}


def workflow_document(rows: Iterable[LoraRow | tuple[str, float, float]]) -> dict[str, Any]:
    nodes, links = chain_graph(rows)
    return {
        "last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes,
        "links": [[lk["id"], lk["origin_id"], lk["origin_slot"], lk["target_id"], lk["target_slot"], lk["type"]]
                  for lk in links],
        "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}}, "version": WORKFLOW_VERSION,
    }


def clipboard_html(items: dict[str, Any]) -> str:
    data = base64.b64encode(json.dumps(items, ensure_ascii=False).encode("utf-8")).decode("ascii")
    return HTML_TEMPLATE.format(data=data)


def read_clipboard_html(html: str) -> dict[str, Any] | None:
    """The items in a fragment `clipboard_html` wrote (None if it holds none): for tests and tools."""
    start = html.find('data-metadata="')
    if start < 0:
        return None
    start += len('data-metadata="')
    end = html.find('"', start)
    try:
        value = json.loads(base64.b64decode(html[start:end], validate=True).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def paste_payload(rows: Iterable[LoraRow | tuple[str, float, float]]) -> ComfyPaste:
    rows = _rows(rows)
    items = clipboard_items(rows)
    workflow = workflow_document(rows)
    return ComfyPaste(items, workflow, clipboard_html(items), json.dumps(workflow, ensure_ascii=False))
