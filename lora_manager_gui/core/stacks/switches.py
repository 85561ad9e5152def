"""Which nodes of a flat graph run: constant switches, and what leads to an output node.

ComfyUI runs only the nodes an output node needs (`comfy_execution/graph.py`: execution starts from
the output nodes and pulls their inputs), and a lazy switch asks only for the branch it chooses
(`check_lazy_status`). So a LoRA counts when its node is reached from an output node, going up
through the inputs, and through a switch whose choice is a constant only along the chosen input.

Switches (their code read in each pack):
- `ComfySwitchNode`, `ComfySwitchNodeV2` (ComfyUI comfy_extras/nodes_logic.py): `switch` BOOLEAN,
  lazy `on_false` / `on_true`.
- `easy ifElse` (ComfyUI-Easy-Use logic.py) and `Switch any [Crystools]`: `boolean`, `on_true`,
  `on_false`.
- `ImpactSwitch` (Impact Pack GeneralSwitch): `select` INT, 1-based, over `input1`, `input2`...
- `ImpactConditionalBranch`: `cond` BOOLEAN, `tt_value` / `ff_value`.
- Comfyroll `CR * Input Switch`: `Input` INT 1 or 2 over inputs ending in 1 or 2 (`model1`...).
- rgthree `Any Switch (rgthree)`: the first input that is connected to a node that runs (muted
  nodes are not in the prompt, so their links are gone).
A switch whose choice is linked to a node that computes it at run time takes every branch.

Output nodes: the types ComfyUI marks `OUTPUT_NODE` that workflows use (below), any type with
"save" or "preview" in its name, and, for a type this module does not know, a node that consumes
something and feeds nothing and is not a loader (its name has no "load", "lora" or "switch"). A
graph with no output node at all (an excerpt, a hand-made fragment) cannot say what runs: then
every active node counts, as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lora_manager_gui.core.stacks.comfy_nodes import GraphNode, Link
from lora_manager_gui.core.stacks.graph import FlatGraph
from lora_manager_gui.core.stacks.model import SkipReason
from lora_manager_gui.core.stacks.names import as_float, is_switched_on

OUTPUT_TYPES = frozenset({
    "SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveVideo", "SaveWEBM",
    "SaveAudio", "PreviewAudio", "SaveLatent", "SaveGLB", "VHS_VideoCombine", "Image Save",
    "Save Image (LoraManager)", "Image Saver", "SaveImageWithMetaData", "SaveImageWithMetaDataUniversal",
    "PreviewAny", "ShowText|pysssss", "easy showAnything", "Display Any (rgthree)", "Image Comparer (rgthree)",
    "SaveImageExtended", "SaveImageWebsocket", "ETN_SendImageWebSocket",
})


@dataclass(frozen=True)
class Skip:
    reason: SkipReason
    by_node: str | None = None  # the switch, for SWITCHED_OFF

    def text(self) -> str:
        if self.reason is SkipReason.SWITCHED_OFF:
            return f"switched off by node #{self.by_node}"
        return "not connected to an output"


def _bool_choice(node: GraphNode, graph: FlatGraph, selector: str, true: str, false: str) -> frozenset[str] | None:
    value = node.value(selector, 0)
    if isinstance(value, Link):
        value = graph.literal(value)
    if value is None:
        return None
    return frozenset({true if is_switched_on(value) else false})


def _index_choice(node: GraphNode, graph: FlatGraph, selector: str, names: list[str]) -> frozenset[str] | None:
    """The input whose name ends with the selected number (`input3` for 3); none when out of range."""
    value = node.value(selector, 0)
    if isinstance(value, Link):
        value = graph.literal(value)
    number = as_float(value)
    if number is None:
        return None
    for name in names:
        digits = name[len(name.rstrip("0123456789")):]
        if digits and int(digits) == int(number):
            return frozenset({name})
    return frozenset()


def choose(node: GraphNode, graph: FlatGraph) -> frozenset[str] | None:
    """The input names a switch passes on, or None when it is not a switch with a constant choice."""
    kind = node.type
    if kind in ("ComfySwitchNode", "ComfySwitchNodeV2"):
        return _bool_choice(node, graph, "switch", "on_true", "on_false")
    if kind in ("easy ifElse", "Switch any [Crystools]"):
        return _bool_choice(node, graph, "boolean", "on_true", "on_false")
    if kind == "ImpactConditionalBranch":
        return _bool_choice(node, graph, "cond", "tt_value", "ff_value")
    if kind == "ImpactSwitch":
        return _index_choice(node, graph, "select", [n for n in node.inputs if n.startswith("input")])
    if kind.startswith("CR ") and kind.endswith("Input Switch"):
        return _index_choice(node, graph, "Input", [n for n in node.inputs if n[-1:] in ("1", "2")])
    if kind == "Any Switch (rgthree)":
        for name in sorted(n for n in node.inputs if n.startswith("any_")):
            value = node.inputs[name]
            if isinstance(value, Link) and value.origin_id in graph.nodes:
                return frozenset({name})
        return frozenset()
    return None


@lru_cache(maxsize=1024)  # a graph has few node types and many nodes
def _is_switch_type(kind: str) -> bool:
    """The types `choose` knows how to read."""
    return (kind in ("ComfySwitchNode", "ComfySwitchNodeV2", "easy ifElse", "Switch any [Crystools]",
                     "ImpactConditionalBranch", "ImpactSwitch", "Any Switch (rgthree)")
            or (kind.startswith("CR ") and kind.endswith("Input Switch")))


def choose_branches(graph: FlatGraph) -> None:
    for node in graph:
        if not _is_switch_type(node.type):
            continue
        chosen = choose(node, graph)
        if chosen is not None:
            graph.chosen[node.id] = chosen


_SELECTORS = {"switch", "boolean", "cond", "select", "sel_mode", "Input"}


@lru_cache(maxsize=1024)  # a graph has few node types and many nodes
def _type_rule(kind: str) -> tuple[bool, bool]:
    """(an output by its type, may be an output when it consumes and feeds nothing)."""
    lowered = kind.lower()
    if kind in OUTPUT_TYPES or "save" in lowered or "preview" in lowered:
        return True, True
    return False, not any(word in lowered for word in ("load", "lora", "switch"))


def _is_output(node: GraphNode, consumed: set[str]) -> bool:
    by_type, maybe = _type_rule(node.type)
    if by_type:
        return True
    if not maybe or node.id in consumed:
        return False
    return any(isinstance(v, Link) for v in node.inputs.values())


def what_runs(graph: FlatGraph) -> dict[str, Skip] | None:
    """For every node that does not run, why; None when the graph has no output node."""
    choose_branches(graph)
    consumed: set[str] = set()
    for node in graph:
        consumed.update(graph.upstream(node))  # fills graph.upstream_ids for every node
    outputs = [node.id for node in graph if _is_output(node, consumed)]
    if not outputs:
        return None
    live = _reach(graph, outputs, honour_switches=True)
    skips: dict[str, Skip] = {}
    for switch_id, chosen in graph.chosen.items():
        if switch_id not in live:
            continue
        node = graph.nodes[switch_id]
        off = [v.origin_id for name, v in node.inputs.items()
               if isinstance(v, Link) and name not in chosen and name not in _SELECTORS]
        for node_id in _reach(graph, off, honour_switches=True, stop=live):
            skips.setdefault(node_id, Skip(SkipReason.SWITCHED_OFF, switch_id))
    for node in graph:
        if node.id not in live and node.id not in skips:
            skips[node.id] = Skip(SkipReason.NOT_CONNECTED)
    return skips


def _reach(graph: FlatGraph, start: list[str], *, honour_switches: bool, stop: set[str] | None = None) -> set[str]:
    seen: set[str] = set()
    pending = list(start)
    nodes, upstream_ids, chosen_of = graph.nodes, graph.upstream_ids, graph.chosen
    while pending:
        node_id = pending.pop()
        if node_id in seen or node_id not in nodes or (stop is not None and node_id in stop):
            continue
        seen.add(node_id)
        chosen = chosen_of.get(node_id) if honour_switches else None
        if chosen is None:
            pending.extend(upstream_ids[node_id])
            continue
        for name, value in graph.nodes[node_id].inputs.items():
            if type(value) is Link and (name in chosen or name in _SELECTORS):
                pending.append(value.origin_id)
    return seen
