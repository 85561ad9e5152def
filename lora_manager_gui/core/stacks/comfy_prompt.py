"""ComfyUI API prompts (`prompt` PNG chunk, `/prompt` body): node id -> {class_type, inputs}.

Muted and bypassed nodes are already left out of an API prompt (links through a bypassed node
already point upstream of it), so every node present is active. Ids of flattened subgraph nodes
("3:12") are the execution ids the frontend gives them, the same as `flatten_ui.py` makes of the
UI workflow, so both read through one `FlatGraph` (`comfy_graph.py`): the same entries either way.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.stacks.comfy_graph import read_flat_graph
from lora_manager_gui.core.stacks.comfy_nodes import MAX_GRAPH_NODES, GraphNode, Link
from lora_manager_gui.core.stacks.graph import FlatGraph
from lora_manager_gui.core.stacks.model import StackReadError, StackReadResult


def is_api_prompt(data: Any) -> bool:
    if not isinstance(data, dict) or not data:
        return False
    nodes = 0
    for value in data.values():
        if isinstance(value, dict) and isinstance(value.get("class_type"), str):
            nodes += 1
    return nodes > 0 and nodes * 2 >= len(data)


def _is_link(value: Any, nodes: dict[str, Any]) -> bool:
    return (
        isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
        and isinstance(value[1], int) and not isinstance(value[1], bool) and value[0] in nodes
    )


def flatten_api_prompt(data: dict[str, Any], source: str) -> FlatGraph:
    nodes = {str(k): v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("class_type"), str)}
    if len(nodes) > MAX_GRAPH_NODES:
        raise StackReadError("too_large", source, f"more than {MAX_GRAPH_NODES:,} nodes")
    graph = FlatGraph()
    for node_id, node in nodes.items():
        raw_inputs = node.get("inputs")
        inputs: dict[str, Any] = {}
        upstream: list[str] = []
        if isinstance(raw_inputs, dict):
            for name, value in raw_inputs.items():
                if (type(value) is list and len(value) == 2 and type(value[0]) is str
                        and type(value[1]) is int and value[0] in nodes):
                    upstream.append(value[0])
                    value = Link(value[0], value[1])
                inputs[name if type(name) is str else str(name)] = value
        meta = node.get("_meta")
        title = meta.get("title") if isinstance(meta, dict) else None
        path: tuple[str, ...] = ()
        if ":" in node_id:
            parts = node_id.split(":")[:-1]
            path = tuple(f"#{':'.join(parts[:i + 1])}" for i in range(len(parts)))
        graph.add(GraphNode(id=node_id, type=node["class_type"], inputs=inputs, is_api=True,
                            title=title if isinstance(title, str) else None, path=path), upstream)
    return graph


def read_api_prompt(data: dict[str, Any], source: str) -> StackReadResult:
    return read_flat_graph(flatten_api_prompt(data, source), source, "comfy_prompt")
