"""The LoRAs a flat graph (`graph.py`) runs, in the order it applies them, and those it does not run.

The same code reads a flattened UI workflow and an API prompt: each node's rows come from
`comfy_nodes.read_node`; a node that does not run (`switches.what_runs`: on a switch branch not
taken, or on no path to an output node) gives no entries, its LoRAs are listed apart as skipped,
with a warning. The entries are then put in the order the nodes apply them (`order.py`).
"""
from __future__ import annotations

from lora_manager_gui.core.stacks.comfy_nodes import MAX_GRAPH_NODES
from lora_manager_gui.core.stacks.extractors import read_node
from lora_manager_gui.core.stacks.graph import FlatGraph
from lora_manager_gui.core.stacks.model import SkippedEntry, StackEntry, StackReadError, StackReadResult
from lora_manager_gui.core.stacks.order import NodeLinks, apply_order
from lora_manager_gui.core.stacks.switches import what_runs


def _links(graph: FlatGraph) -> NodeLinks:
    links = NodeLinks()
    context = graph.context_upstream
    for node in graph:
        links.types[node.id] = node.type
        ups = graph.upstream(node)
        links.upstream[node.id] = ups + list(context[node.id]) if node.id in context else ups
    return links


def read_flat_graph(graph: FlatGraph, source: str, fmt: str) -> StackReadResult:
    if len(graph) > MAX_GRAPH_NODES:
        raise StackReadError("too_large", source, f"more than {MAX_GRAPH_NODES:,} nodes")
    skips = what_runs(graph)
    entries: list[StackEntry] = []
    skipped: list[SkippedEntry] = []
    warnings: list[str] = list(graph.warnings)
    seen: set[tuple[str, int, str, str]] = set()
    for node in graph:
        reading = read_node(node, graph)
        if not reading.loras and not reading.warnings:
            continue
        skip = skips.get(node.id) if skips is not None else None
        if skip is None:
            warnings.extend(reading.warnings)
        for lora in reading.loras:
            key = (node.id, lora.slot, lora.path or "", lora.name or "")  # one node's row reached twice
            if key in seen:
                continue
            seen.add(key)
            entry = StackEntry(
                index=len(entries), name=lora.name, path=lora.path, strength=lora.strength,
                clip_strength=lora.clip_strength, node_type=node.type, node_id=node.id, raw=lora.raw,
                node_title=node.title, subgraph_path=node.path)
            if skip is None:
                entries.append(entry)
            else:
                skipped.append(SkippedEntry(entry=entry, reason=skip.reason, by_node=skip.by_node))
                warnings.append(f"{entry.reference} ({node.type} #{node.id}) does not run: {skip.text()}")
    entries = apply_order(entries, _links(graph), _node_of, warnings)
    for index, entry in enumerate(entries):
        entry.index = index
    for index, item in enumerate(skipped):
        item.entry.index = index
    return StackReadResult(source=source, format=fmt, entries=entries, warnings=warnings, skipped=skipped)


def _node_of(entry: StackEntry) -> str:
    return entry.node_id or ""
