"""Every loader extractor (core and node packs) and `read_node`, what one active node enables."""
from __future__ import annotations

from lora_manager_gui.core.stacks.comfy_nodes import (
    CONSUMERS,
    EXTRACTORS,
    RUNTIME_SELECTORS,
    Extractor,
    Graph,
    GraphNode,
    NodeReading,
    read_unknown_lora_node,
)
from lora_manager_gui.core.stacks.pack_loaders import PACK_EXTRACTORS

ALL_EXTRACTORS: dict[str, Extractor] = {**EXTRACTORS, **PACK_EXTRACTORS}


def read_node(node: GraphNode, graph: Graph) -> NodeReading:
    """The enabled LoRAs of one (active) node, and anything uncertain about them."""
    reading = NodeReading()
    if node.type in RUNTIME_SELECTORS:
        reading.warnings.append(
            f"{node.type} #{node.id} picks LoRAs when the workflow runs; they are not part of the file's stack")
        return reading
    if node.type in CONSUMERS:
        return reading
    extractor = ALL_EXTRACTORS.get(node.type)
    if extractor is None:
        if "lora" not in node.type.replace("(LoraManager)", "").lower():
            return reading
        extractor = read_unknown_lora_node
    extractor(node, graph, reading)
    return reading
