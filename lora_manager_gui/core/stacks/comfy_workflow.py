"""ComfyUI UI workflows (`workflow` PNG chunk, saved `.json`): nodes[], links[], subgraphs.

Nodes are read in the file's order. A node with mode 2 (muted) or 4 (bypassed) is left out. A
node whose type is the id of a subgraph definition is an instance: the subgraph's nodes are read
in its place, and only when the instance itself is active. Nested instances are followed with an
explicit stack; a subgraph that contains itself (directly or further down) is read once per chain
and reported, never followed forever.

The entries are then put in the order the nodes apply them (`order.py`), level by level: inside a
subgraph by its own links, and at the instance's level the instance counts as one LoRA node.
Links are followed through every node, active or not (a bypassed node passes its input on), and
from a KJNodes GetNode to the SetNode of the same name.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lora_manager_gui.core.stacks.comfy_nodes import (
    Graph,
    GraphNode,
    Link,
    entries_from_nodes,
    is_primitive_type,
)
from lora_manager_gui.core.stacks.model import StackEntry, StackReadError, StackReadResult
from lora_manager_gui.core.stacks.order import NodeLinks, apply_order

INACTIVE_MODES = (2, 4)
MAX_SUBGRAPH_DEPTH = 64


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def _link_map(links: Any) -> dict[Any, Link]:
    """link id -> origin, from `[id, from, from_slot, to, to_slot, type]` or subgraph dict links."""
    result: dict[Any, Link] = {}
    if not isinstance(links, list):
        return result
    for link in links:
        if isinstance(link, list) and len(link) >= 3:
            result[link[0]] = Link(str(link[1]), link[2] if isinstance(link[2], int) else 0)
        elif isinstance(link, dict) and "id" in link and "origin_id" in link:
            slot = link.get("origin_slot")
            result[link["id"]] = Link(str(link["origin_id"]), slot if isinstance(slot, int) else 0)
    return result


class UiGraph:
    """One graph level (the workflow or a subgraph definition): its nodes and links."""

    def __init__(self, nodes: list[Any], links: Any) -> None:
        self.nodes = {str(n.get("id")): n for n in nodes if isinstance(n, dict)}
        self.links = _link_map(links)

    def literal(self, link: Link) -> Any:
        origin = self.nodes.get(link.origin_id)
        if origin is None or origin.get("mode", 0) in INACTIVE_MODES:
            return None
        if not is_primitive_type(str(origin.get("type", ""))):
            return None
        widgets = origin.get("widgets_values")
        if isinstance(widgets, list) and widgets:
            return widgets[0]
        if isinstance(widgets, dict):
            return widgets.get("value")
        return None

    def graph_node(self, node: dict[str, Any], node_id: str) -> GraphNode:
        inputs: dict[str, Any] = {}
        for item in node.get("inputs") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                link_id = item.get("link")
                if link_id is not None and link_id in self.links:
                    inputs[item["name"]] = self.links[link_id]
        return GraphNode(id=node_id, type=str(node.get("type")), inputs=inputs,
                         widgets=node.get("widgets_values"), is_api=False)


def _walk(data: dict[str, Any], source: str, warnings: list[str]) -> Iterator[tuple[GraphNode, Graph]]:
    subgraphs = _subgraph_definitions(data)
    top = UiGraph(data["nodes"], data.get("links"))
    # Frames: (graph, node iterator, id prefix, chain of subgraph ids above this level)
    frames: list[tuple[UiGraph, Iterator[Any], str, tuple[str, ...]]] = [
        (top, iter(data["nodes"]), "", ())
    ]
    while frames:
        graph, nodes, prefix, chain = frames[-1]
        node = next(nodes, None)
        if node is None:
            frames.pop()
            continue
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            continue
        if node.get("mode", 0) in INACTIVE_MODES:
            continue
        node_id = f"{prefix}{node.get('id')}"
        sub = subgraphs.get(node["type"])
        if sub is not None:
            if node["type"] in chain:
                warnings.append(f"subgraph {sub.get('name') or node['type']} contains itself (instance "
                                f"#{node_id}); its nested copy was not read again")
                continue
            if len(chain) >= MAX_SUBGRAPH_DEPTH:
                raise StackReadError("too_deep", source,
                                     f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} levels deep")
            frames.append((UiGraph(sub["nodes"], sub.get("links")), iter(sub["nodes"]),
                           f"{node_id}:", chain + (node["type"],)))
            continue
        yield graph.graph_node(node, node_id), graph


def _subgraph_definitions(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definitions = data.get("definitions")
    subgraphs: dict[str, dict[str, Any]] = {}
    if isinstance(definitions, dict) and isinstance(definitions.get("subgraphs"), list):
        for sg in definitions["subgraphs"]:
            if isinstance(sg, dict) and isinstance(sg.get("id"), str) and isinstance(sg.get("nodes"), list):
                subgraphs[sg["id"]] = sg
    return subgraphs


def _level_links(nodes: list[Any], links: Any) -> NodeLinks:
    """Upstream node ids of every node of one graph level, GetNode -> SetNode included."""
    link_map = _link_map(links)
    result = NodeLinks()
    setters: dict[str, list[str]] = {}
    getters: list[tuple[str, str]] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        node_id, node_type = str(node.get("id")), str(node.get("type"))
        result.types[node_id] = node_type
        upstream = result.upstream.setdefault(node_id, [])
        for item in node.get("inputs") or []:
            if isinstance(item, dict) and item.get("link") is not None and item["link"] in link_map:
                upstream.append(link_map[item["link"]].origin_id)
        widgets = node.get("widgets_values")
        name = widgets[0] if isinstance(widgets, list) and widgets and isinstance(widgets[0], str) else None
        if name and node_type == "SetNode":
            setters.setdefault(name, []).append(node_id)
        elif name and node_type == "GetNode":
            getters.append((node_id, name))
    for node_id, name in getters:
        result.upstream[node_id].extend(setters.get(name, ()))
    return result


def _part(node_id: str | None, depth: int) -> str:
    parts = (node_id or "").split(":")
    return parts[depth] if depth < len(parts) else parts[-1]


def _apply_order(entries: list[StackEntry], nodes: list[Any], links: Any,
                 subgraphs: dict[str, dict[str, Any]], depth: int, warnings: list[str]) -> list[StackEntry]:
    types = {str(n.get("id")): n.get("type") for n in nodes if isinstance(n, dict)}
    groups: dict[str, list[StackEntry]] = {}
    for entry in entries:
        groups.setdefault(_part(entry.node_id, depth), []).append(entry)
    flat: list[StackEntry] = []
    for unit, items in groups.items():
        sub = subgraphs.get(str(types.get(unit)))
        if sub is not None and len(items) > 1 and depth < MAX_SUBGRAPH_DEPTH:
            items = _apply_order(items, sub["nodes"], sub.get("links"), subgraphs, depth + 1, warnings)
        flat.extend(items)
    return apply_order(flat, _level_links(nodes, links), lambda entry: _part(entry.node_id, depth), warnings)


def read_ui_workflow(data: dict[str, Any], source: str) -> StackReadResult:
    warnings: list[str] = []
    entries, node_warnings = entries_from_nodes(_walk(data, source, warnings), source)
    entries = _apply_order(entries, data["nodes"], data.get("links"), _subgraph_definitions(data), 0,
                           node_warnings)
    for index, entry in enumerate(entries):
        entry.index = index
    return StackReadResult(source=source, format="comfy_workflow", entries=entries,
                           warnings=warnings + node_warnings)
