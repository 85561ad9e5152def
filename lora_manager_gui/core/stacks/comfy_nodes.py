"""What each ComfyUI LoRA node enables, read the same way from an API prompt or a UI workflow.

A `GraphNode` hides the difference: `value(name, position)` gives an input's literal value (API
`inputs[name]`, UI `widgets_values[position]`), or a `Link` when the input is wired to another
node; `graph.literal(link)` follows a link to a primitive node's value when there is one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lora_manager_gui.core.stacks.loratags import find_lora_tags
from lora_manager_gui.core.stacks.names import (
    MODEL_EXTENSIONS,
    as_float,
    as_strength,
    is_empty_name,
    is_switched_on,
)


@dataclass(frozen=True, slots=True)
class Link:
    origin_id: str
    origin_slot: int = 0


@dataclass(slots=True)
class GraphNode:
    id: str
    type: str
    inputs: dict[str, Any] = field(default_factory=dict)  # API literals/links; UI linked inputs
    widgets: Any = None  # UI widgets_values (a list, sometimes a dict), None in API prompts
    is_api: bool = False
    title: str | None = None  # the node's own title, when the file gives one
    path: tuple[str, ...] = ()  # the subgraph instances it sits in, outermost first (their titles)

    def value(self, name: str, position: int | None = None) -> Any:
        if name in self.inputs:
            return self.inputs[name]
        if self.is_api or position is None:
            return None
        if isinstance(self.widgets, list) and 0 <= position < len(self.widgets):
            return self.widgets[position]
        if isinstance(self.widgets, dict):
            return self.widgets.get(name)
        return None


class Graph(Protocol):
    def literal(self, link: Link) -> Any: ...


@dataclass
class RawLora:
    """One enabled row of a node, before it becomes a StackEntry."""

    name: str | None
    path: str | None
    strength: float | list[float] | None
    clip_strength: float | None
    raw: Any
    slot: int = 0


@dataclass
class NodeReading:
    loras: list[RawLora] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


Extractor = Callable[[GraphNode, Graph, NodeReading], None]


def _resolve(node: GraphNode, graph: Graph, name: str, position: int | None, reading: NodeReading) -> Any:
    value = node.value(name, position)
    if isinstance(value, Link):
        resolved = graph.literal(value)
        if resolved is None:
            reading.warnings.append(
                f"{node.type} #{node.id}: {name} comes from node #{value.origin_id} and is only "
                "known when the workflow runs")
        return resolved
    return value


def _strength(node: GraphNode, graph: Graph, name: str, position: int | None, reading: NodeReading):
    return as_strength(_resolve(node, graph, name, position, reading))


def _add(reading: NodeReading, path: Any, strength: Any, clip: Any, raw: Any, slot: int = 0,
         *, name: Any = None) -> None:
    if name is None and (not isinstance(path, str) or is_empty_name(path)):
        return
    if name is not None and (not isinstance(name, str) or is_empty_name(name)):
        return
    reading.loras.append(RawLora(
        name=name, path=path if isinstance(path, str) else None, strength=strength,
        clip_strength=clip if isinstance(clip, float) else None, raw=raw, slot=slot))


def read_lora_loader(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora_name", 0, reading)
    strength = _strength(node, graph, "strength_model", 1, reading)
    clip = as_float(_resolve(node, graph, "strength_clip", 2, reading))
    _add(reading, name, strength, clip, {"lora_name": name, "strength_model": strength, "strength_clip": clip})


def read_lora_loader_model_only(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora_name", 0, reading)
    strength = _strength(node, graph, "strength_model", 1, reading)
    _add(reading, name, strength, None, {"lora_name": name, "strength_model": strength})


def read_nunchaku(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora_name", 0, reading)
    strength = _strength(node, graph, "lora_strength", 1, reading)
    _add(reading, name, strength, None, {"lora_name": name, "lora_strength": strength})


def _power_rows(node: GraphNode) -> list[dict[str, Any]]:
    if node.is_api:
        return [v for k, v in node.inputs.items() if k.upper().startswith("LORA_") and isinstance(v, dict)]
    widgets = node.widgets if isinstance(node.widgets, list) else []
    rows = [w for w in widgets if isinstance(w, dict) and "lora" in w]
    # a row promoted out of a subgraph (proxyWidgets) or linked: its value replaces the saved one
    return [node.inputs[f"lora_{i}"] if isinstance(node.inputs.get(f"lora_{i}"), dict) else row
            for i, row in enumerate(rows, start=1)]


def read_power_lora_loader(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    for slot, row in enumerate(_power_rows(node)):
        if not all(key in row for key in ("on", "lora", "strength")) or not is_switched_on(row["on"]):
            continue
        strength = as_strength(row.get("strength"))
        clip = as_float(row["strengthTwo"]) if "strengthTwo" in row else strength
        _add(reading, row.get("lora"), strength, clip, row, slot)


def _lora_manager_rows(node: GraphNode) -> list[Any]:
    candidates: list[Any] = [node.inputs.get("loras")]  # API input, or a value promoted to it
    if isinstance(node.widgets, list):
        candidates.extend(node.widgets)
    elif isinstance(node.widgets, dict):
        candidates.append(node.widgets.get("loras"))
    for value in candidates:
        if isinstance(value, dict) and isinstance(value.get("__value__"), list):
            value = value["__value__"]
        if isinstance(value, list) and all(isinstance(row, dict) and "name" in row for row in value):
            return value
    return []


def read_lora_manager(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """Lora Manager loaders and stacker: the structured `loras` rows win over the text widget."""
    for slot, row in enumerate(_lora_manager_rows(node)):
        if not is_switched_on(row.get("active", True)):
            continue
        strength = as_strength(row.get("strength", 1.0))
        clip = as_float(row["clipStrength"]) if "clipStrength" in row else strength
        _add(reading, None, strength, clip, row, slot, name=row.get("name"))


def read_lora_text_loader(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    text = _resolve(node, graph, "lora_syntax", 0, reading)
    if not isinstance(text, str):
        return
    for slot, tag in enumerate(find_lora_tags(text, style="lora_manager")):
        _add(reading, None, tag.strength, tag.clip_strength, tag.raw, slot, name=tag.name)


def read_cr_lora_stack(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    for i in range(1, 4):
        base = (i - 1) * 4
        if not is_switched_on(_resolve(node, graph, f"switch_{i}", base, reading)):
            continue
        name = _resolve(node, graph, f"lora_name_{i}", base + 1, reading)
        strength = _strength(node, graph, f"model_weight_{i}", base + 2, reading)
        clip = as_float(_resolve(node, graph, f"clip_weight_{i}", base + 3, reading))
        _add(reading, name, strength, clip, {"slot": i, "lora_name": name, "model_weight": strength,
                                             "clip_weight": clip}, i - 1)


def read_efficiency_stacker(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    mode = _resolve(node, graph, "input_mode", 0, reading)
    count = as_float(_resolve(node, graph, "lora_count", 1, reading))
    slots = int(count) if count is not None and 0 < count <= 49 else 3
    for i in range(1, slots + 1):
        base = 2 + (i - 1) * 4
        name = _resolve(node, graph, f"lora_name_{i}", base, reading)
        if mode == "advanced":
            strength = _strength(node, graph, f"model_str_{i}", base + 2, reading)
            clip = as_float(_resolve(node, graph, f"clip_str_{i}", base + 3, reading))
        else:
            strength = _strength(node, graph, f"lora_wt_{i}", base + 1, reading)
            clip = strength if isinstance(strength, float) else None
        _add(reading, name, strength, clip, {"slot": i, "lora_name": name, "strength": strength,
                                             "clip_strength": clip}, i - 1)


def read_efficient_loader(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora_name", 3, reading)
    strength = _strength(node, graph, "lora_model_strength", 4, reading)
    clip = as_float(_resolve(node, graph, "lora_clip_strength", 5, reading))
    _add(reading, name, strength, clip, {"lora_name": name, "lora_model_strength": strength,
                                         "lora_clip_strength": clip})


def read_wan_select(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora", 0, reading)
    strength = _strength(node, graph, "strength", 1, reading)
    if strength == 0.0:
        return  # WanVideoLoraSelect adds nothing at a scalar strength of 0
    _add(reading, name, strength, None, {"lora": name, "strength": strength})


def read_wan_select_by_name(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _resolve(node, graph, "lora_name", 0, reading)
    strength = _strength(node, graph, "strength", 1, reading)
    if strength == 0.0:
        return
    _add(reading, name, strength, None, {"lora_name": name, "strength": strength})


def read_wan_select_multi(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    for i in range(5):
        name = _resolve(node, graph, f"lora_{i}", 2 * i, reading)
        strength = _strength(node, graph, f"strength_{i}", 2 * i + 1, reading)
        if strength == 0.0:
            continue
        _add(reading, name, strength, None, {"slot": i, "lora": name, "strength": strength}, i)


def read_unknown_lora_node(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """A custom node we do not know by name: API `lora_name`/`lora` + strength, or rgthree-style rows."""
    if _power_rows(node):
        read_power_lora_loader(node, graph, reading)
        return
    if _lora_manager_rows(node):
        read_lora_manager(node, graph, reading)
        return
    if node.is_api:
        for key in ("lora_name", "lora"):
            value = node.inputs.get(key)
            if isinstance(value, str):
                strength = next((node.inputs[k] for k in ("strength_model", "strength", "lora_strength",
                                 "model_strength", "weight") if k in node.inputs), 1.0)
                if isinstance(strength, Link):
                    strength = graph.literal(strength)
                clip = node.inputs.get("strength_clip", node.inputs.get("clip_strength"))
                _add(reading, value, as_strength(strength), as_float(clip), dict(
                    (k, v) for k, v in node.inputs.items() if not isinstance(v, Link)))
                return
        return
    widgets = node.widgets if isinstance(node.widgets, list) else []
    if (len(widgets) >= 2 and isinstance(widgets[0], str)
            and widgets[0].lower().endswith(MODEL_EXTENSIONS) and as_float(widgets[1]) is not None):
        clip = as_float(widgets[2]) if len(widgets) > 2 else None
        _add(reading, widgets[0], as_float(widgets[1]), clip, list(widgets[:3]))


EXTRACTORS: dict[str, Extractor] = {
    "LoraLoader": read_lora_loader,
    "LoraLoaderModelOnly": read_lora_loader_model_only,
    "NunchakuFluxLoraLoader": read_nunchaku,
    "Power Lora Loader (rgthree)": read_power_lora_loader,
    "Lora Loader (LoraManager)": read_lora_manager,
    "Lora Stacker (LoraManager)": read_lora_manager,
    "WanVideo Lora Select (LoraManager)": read_lora_manager,
    "LoRA Text Loader (LoraManager)": read_lora_text_loader,
    "CR LoRA Stack": read_cr_lora_stack,
    "LoRA Stacker": read_efficiency_stacker,
    "Efficient Loader": read_efficient_loader,
    "WanVideoLoraSelect": read_wan_select,
    "WanVideoLoraSelectByName": read_wan_select_by_name,
    "WanVideoLoraSelectMulti": read_wan_select_multi,
}

# Nodes that only consume a stack, or show information: no entries of their own.
CONSUMERS = frozenset({
    "WanVideoSetLoRAs", "CR Apply LoRA Stack", "Eff. Loader SDXL", "Lora Info (LoraManager)",
    "TriggerWord Toggle (LoraManager)", "Checkpoint Loader (LoraManager)", "Unet Loader (LoraManager)",
    "Prompt (LoraManager)", "Save Image (LoraManager)", "WanVideoLoraBlockEdit", "Debug Metadata (LoraManager)",
    "Lora Pool (LoraManager)",  # a filter a selector draws from; loads nothing itself
    "easy loraStackApply", "LoraModelLoader", "Lora Stack Combiner (LoraManager)",  # applies a stack / a trained LORA_MODEL, names no file
})

# Nodes that choose LoRAs when the workflow runs: what they load cannot be read from the file.
RUNTIME_SELECTORS = frozenset({
    "Lora Randomizer (LoraManager)", "Lora Cycler (LoraManager)",
    "CR Cycle LoRAs", "CR Load Scheduled LoRAs", "CR Random LoRA Stack",
})

PRIMITIVE_VALUE_KEYS = ("value", "string", "text", "float", "int", "number")


def is_primitive_type(node_type: str) -> bool:
    lowered = node_type.lower()
    return lowered.startswith("primitive") or lowered in ("string literal", "float literal", "int literal")


MAX_GRAPH_NODES = 200_000
