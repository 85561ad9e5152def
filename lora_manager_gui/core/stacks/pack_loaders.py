"""Loader nodes of popular node packs, each read by its input names (API) and widget positions (UI).

Names and positions follow each node's INPUT_TYPES in its repository: ComfyUI-Custom-Scripts
(`LoraLoader|pysssss`), ComfyUI-Inspire-Pack (`LoraLoaderBlockWeight //Inspire`), Comfyroll
(`CR Load LoRA`), rgthree-comfy (`Lora Loader Stack (rgthree)`), ComfyUI-Easy-Use (`easy loraStack`),
ComfyUI-nunchaku and ComfyUI-QwenImageLoraLoader (FLUX / Qwen-Image loader and stacks),
ComfyUI-HunyuanVideoWrapper (`HyVideoLoraSelect`), ComfyUI-Lora-Manager (`WanVideoLoraSelectFromText`,
`Create Hook LoRA (LoraManager)`). `extractors.py` joins them with the core ones.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.stacks.comfy_nodes import (
    Extractor,
    Graph,
    GraphNode,
    NodeReading,
    _add,
    _resolve,
    _strength,
    read_lora_manager,
    read_nunchaku,
    read_wan_select,
)
from lora_manager_gui.core.stacks.loratags import find_lora_tags
from lora_manager_gui.core.stacks.names import as_float, is_switched_on


def _name_value(value: Any) -> Any:
    """pysssss's LoraLoader stores `{"content": name, "image": ...}` where others store the name."""
    return value.get("content") if isinstance(value, dict) and "content" in value else value


def read_pysssss_loader(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    name = _name_value(_resolve(node, graph, "lora_name", 0, reading))
    strength = _strength(node, graph, "strength_model", 1, reading)
    clip = as_float(_resolve(node, graph, "strength_clip", 2, reading))
    _add(reading, name, strength, clip, {"lora_name": name, "strength_model": strength, "strength_clip": clip})


def read_inspire_block_weight(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """LoraLoaderBlockWeight //Inspire: widgets category_filter, lora_name, strength_model, strength_clip..."""
    name = _resolve(node, graph, "lora_name", 1, reading)
    strength = _strength(node, graph, "strength_model", 2, reading)
    clip = as_float(_resolve(node, graph, "strength_clip", 3, reading))
    _add(reading, name, strength, clip, {"lora_name": name, "strength_model": strength, "strength_clip": clip})


def read_cr_load_lora(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """CR Load LoRA: switch, lora_name, strength_model, strength_clip."""
    if not is_switched_on(_resolve(node, graph, "switch", 0, reading)):
        return
    name = _resolve(node, graph, "lora_name", 1, reading)
    strength = _strength(node, graph, "strength_model", 2, reading)
    clip = as_float(_resolve(node, graph, "strength_clip", 3, reading))
    _add(reading, name, strength, clip, {"lora_name": name, "strength_model": strength, "strength_clip": clip})


def read_rgthree_stack(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """Lora Loader Stack (rgthree): lora_01..04 with strength_01..04; a strength of 0 loads nothing."""
    for i in range(1, 5):
        name = _resolve(node, graph, f"lora_{i:02d}", 2 * (i - 1), reading)
        strength = _strength(node, graph, f"strength_{i:02d}", 2 * (i - 1) + 1, reading)
        if strength == 0.0:
            continue
        _add(reading, name, strength, strength if isinstance(strength, float) else None,
             {"slot": i, "lora": name, "strength": strength}, i - 1)


def read_easy_lora_stack(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """easy loraStack: toggle, mode, num_loras, then lora_i_name/strength/model_strength/clip_strength."""
    if not is_switched_on(_resolve(node, graph, "toggle", 0, reading)):
        return
    mode = _resolve(node, graph, "mode", 1, reading)
    count = as_float(_resolve(node, graph, "num_loras", 2, reading))
    slots = int(count) if count is not None and 0 < count <= 10 else 10
    for i in range(1, slots + 1):
        base = 3 + 4 * (i - 1)
        name = _resolve(node, graph, f"lora_{i}_name", base, reading)
        if mode == "advanced":
            strength = _strength(node, graph, f"lora_{i}_model_strength", base + 2, reading)
            clip = as_float(_resolve(node, graph, f"lora_{i}_clip_strength", base + 3, reading))
        else:
            strength = _strength(node, graph, f"lora_{i}_strength", base + 1, reading)
            clip = strength if isinstance(strength, float) else None
        _add(reading, name, strength, clip, {"slot": i, "lora_name": name, "strength": strength}, i - 1)


def read_nunchaku_stack(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """Nunchaku FLUX / Qwen-Image LoRA stacks: lora_name_i, lora_strength_i (FLUX: lora_count first)."""
    widgets = node.widgets if isinstance(node.widgets, list) else []
    offset = 1 if widgets and isinstance(widgets[0], int) and not isinstance(widgets[0], bool) else 0
    count = as_float(node.value("lora_count", 0)) if offset or node.is_api else None
    slots = int(count) if count is not None and 0 < count <= 15 else 15
    for i in range(1, slots + 1):
        base = offset + 2 * (i - 1)
        name = _resolve(node, graph, f"lora_name_{i}", base, reading)
        if not isinstance(name, str) and base >= len(widgets) and not node.is_api:
            break
        strength = _strength(node, graph, f"lora_strength_{i}", base + 1, reading)
        _add(reading, name, strength, None, {"slot": i, "lora_name": name, "lora_strength": strength}, i - 1)



def read_wan_select_from_text(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """WanVideoLoraSelectFromText (Lora Manager): `<lora:name:strength>` tags of its linked
    `lora_syntax` text (a forced input: no widget position)."""
    text = _resolve(node, graph, "lora_syntax", None, reading)
    if not isinstance(text, str):
        return
    for slot, tag in enumerate(find_lora_tags(text, style="lora_manager")):
        _add(reading, None, tag.strength, tag.clip_strength, tag.raw, slot, name=tag.name)


def read_hook_lora(node: GraphNode, graph: Graph, reading: NodeReading) -> None:
    """Create Hook LoRA (LoraManager): its `loras` rows; a row at model and clip strength 0 loads nothing."""
    before = len(reading.loras)
    read_lora_manager(node, graph, reading)
    reading.loras[before:] = [lora for lora in reading.loras[before:]
                              if not (lora.strength == 0.0 and lora.clip_strength in (0.0, None))]


PACK_EXTRACTORS: dict[str, Extractor] = {
    "WanVideoLoraSelectFromText": read_wan_select_from_text,
    "Create Hook LoRA (LoraManager)": read_hook_lora,
    "LoraLoader|pysssss": read_pysssss_loader,
    "LoraLoaderBlockWeight //Inspire": read_inspire_block_weight,
    "CR Load LoRA": read_cr_load_lora,
    "Lora Loader Stack (rgthree)": read_rgthree_stack,
    "easy loraStack": read_easy_lora_stack,
    "NunchakuFluxLoraStack": read_nunchaku_stack,
    "NunchakuQwenImageLoraLoader": read_nunchaku,
    "NunchakuQwenImageLoraStack": read_nunchaku_stack,
    "HyVideoLoraSelect": read_wan_select,
}
