"""The flattened graph ComfyUI runs: what a UI workflow becomes when it is queued, and what an API
prompt already is. Both readers build a `FlatGraph`; everything after (switches, what reaches an
output, the LoRA rows, their order) reads only this, so a workflow gives the same entries whether
it is read as a UI workflow or as the API prompt ComfyUI makes of it.

Node ids are execution ids: the subgraph instance ids from the top, then the node's own id, joined
with `:` (ComfyUI_frontend `ExecutableNodeDTO.id`). An input is a `Link` to another flat node's
output, or a literal value (a widget value promoted through a subgraph, a primitive's value).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lora_manager_gui.core.stacks.comfy_nodes import PRIMITIVE_VALUE_KEYS, GraphNode, Link, is_primitive_type

MAX_LITERAL_HOPS = 64


@dataclass
class FlatGraph:
    """Executable nodes in file order (subgraph nodes in place of their instance)."""

    nodes: dict[str, GraphNode] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # id -> the input names a constant switch takes (set by switches.choose_branches)
    chosen: dict[str, frozenset[str]] = field(default_factory=dict)
    # id -> what feeds the subgraph instances it sits in (the order treats an instance as one node)
    context_upstream: dict[str, tuple[str, ...]] = field(default_factory=dict)
    upstream_ids: dict[str, list[str]] = field(default_factory=dict, repr=False)  # id -> origins, input order

    def add(self, node: GraphNode, upstream: list[str] | None = None) -> None:
        """Add a node (the first of an id wins); `upstream`: its inputs' origins, when already known."""
        if node.id not in self.nodes:
            self.nodes[node.id] = node
            if upstream is not None:
                self.upstream_ids[node.id] = upstream

    def __iter__(self) -> Iterator[GraphNode]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def upstream(self, node: GraphNode) -> list[str]:
        """The flat ids this node's inputs link from, in input order (worked out once per node)."""
        known = self.upstream_ids.get(node.id)
        if known is None:
            known = self.upstream_ids[node.id] = [v.origin_id for v in node.inputs.values() if type(v) is Link]
        return known

    def literal(self, link: Link) -> Any:
        """The constant a link carries: a primitive node's value, or what a constant switch passes on
        from its chosen input. None when it is only known when the workflow runs."""
        for _ in range(MAX_LITERAL_HOPS):
            origin = self.nodes.get(link.origin_id)
            if origin is None:
                return None
            chosen = self.chosen.get(origin.id)
            if chosen is not None and len(chosen) == 1:
                value = origin.inputs.get(next(iter(chosen)))
                if isinstance(value, Link):
                    link = value
                    continue
                return value
            if not is_primitive_type(origin.type):
                return None
            return primitive_value(origin)
        return None


def primitive_value(node: GraphNode) -> Any:
    for key in PRIMITIVE_VALUE_KEYS:
        value = node.inputs.get(key)
        if value is not None and not isinstance(value, Link):
            return value
    widgets = node.widgets
    if isinstance(widgets, list) and widgets:
        return widgets[0]
    if isinstance(widgets, dict):
        return widgets.get("value")
    return None
