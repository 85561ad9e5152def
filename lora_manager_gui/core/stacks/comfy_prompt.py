"""ComfyUI API prompts (`prompt` PNG chunk, `/prompt` body): node id -> {class_type, inputs}.

Muted and bypassed nodes are already left out of an API prompt (links through a bypassed node
already point upstream of it), so every node present is active. Nodes are read in the prompt's own
order, then the entries are put in the order the nodes apply them (`order.py`). Ids of flattened
subgraph nodes ("3:12") are plain node ids here: links name them in full.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lora_manager_gui.core.stacks.comfy_nodes import (
    PRIMITIVE_VALUE_KEYS,
    Graph,
    GraphNode,
    Link,
    entries_from_nodes,
    is_primitive_type,
)
from lora_manager_gui.core.stacks.model import StackEntry, StackReadResult
from lora_manager_gui.core.stacks.order import NodeLinks, apply_order


def is_api_prompt(data: Any) -> bool:
    if not isinstance(data, dict) or not data:
        return False
    nodes = [v for v in data.values() if isinstance(v, dict) and isinstance(v.get("class_type"), str)]
    return len(nodes) > 0 and len(nodes) * 2 >= len(data)


class ApiGraph:
    def __init__(self, nodes: dict[str, dict[str, Any]]) -> None:
        self.nodes = nodes

    def literal(self, link: Link) -> Any:
        origin = self.nodes.get(link.origin_id)
        if origin is None or not is_primitive_type(str(origin.get("class_type", ""))):
            return None
        inputs = origin.get("inputs")
        if not isinstance(inputs, dict):
            return None
        for key in PRIMITIVE_VALUE_KEYS:
            value = inputs.get(key)
            if value is not None and not _is_link(value, self.nodes):
                return value
        return None


def _is_link(value: Any, nodes: dict[str, Any]) -> bool:
    return (
        isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
        and isinstance(value[1], int) and not isinstance(value[1], bool) and value[0] in nodes
    )


def _api_nodes(nodes: dict[str, dict[str, Any]], graph: Graph) -> Iterator[tuple[GraphNode, Graph]]:
    for node_id, node in nodes.items():
        raw_inputs = node.get("inputs")
        inputs: dict[str, Any] = {}
        if isinstance(raw_inputs, dict):
            for name, value in raw_inputs.items():
                inputs[str(name)] = Link(value[0], value[1]) if _is_link(value, nodes) else value
        yield GraphNode(id=node_id, type=node["class_type"], inputs=inputs, is_api=True), graph


def read_api_prompt(data: dict[str, Any], source: str) -> StackReadResult:
    nodes = {
        str(k): v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("class_type"), str)
    }
    entries, warnings = entries_from_nodes(_api_nodes(nodes, ApiGraph(nodes)), source)
    entries = apply_order(entries, _node_links(nodes), _node_of, warnings)
    for index, entry in enumerate(entries):
        entry.index = index
    return StackReadResult(source=source, format="comfy_prompt", entries=entries, warnings=warnings)


def _node_of(entry: StackEntry) -> str:
    return entry.node_id or ""


def _node_links(nodes: dict[str, dict[str, Any]]) -> NodeLinks:
    links = NodeLinks()
    for node_id, node in nodes.items():
        links.types[node_id] = str(node.get("class_type", ""))
        inputs = node.get("inputs")
        values = inputs.values() if isinstance(inputs, dict) else ()
        links.upstream[node_id] = [value[0] for value in values if _is_link(value, nodes)]
    return links
