"""Loader nodes of current shared workflows, each read by its input names (API) and widget positions (UI).

Positions and names follow each node's INPUT_TYPES in its repository (rgthree-comfy, ComfyUI-Easy-Use,
ComfyUI-nunchaku and ComfyUI-QwenImageLoraLoader, ComfyUI-Inspire-Pack, Comfyroll,
ComfyUI-Custom-Scripts, ComfyUI-HunyuanVideoWrapper).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from lora_manager_gui.core.stacks import read_stack_bytes


def read(data: dict[str, Any]):
    return read_stack_bytes(json.dumps(data).encode(), "graph.json")


def rows(result) -> list[tuple[str, Any, Any]]:
    return [(e.stem, e.strength, e.clip_strength) for e in result.entries]


CASES = [
    ("Lora Loader Stack (rgthree)",
     {"lora_01": "a.safetensors", "strength_01": 0.5, "lora_02": "None", "strength_02": 1,
      "lora_03": "zero.safetensors", "strength_03": 0, "lora_04": "d.safetensors", "strength_04": 1.2},
     ["a.safetensors", 0.5, "None", 1, "zero.safetensors", 0, "d.safetensors", 1.2],
     [("a", 0.5, 0.5), ("d", 1.2, 1.2)]),
    ("easy loraStack",
     {"toggle": True, "mode": "advanced", "num_loras": 2,
      "lora_1_name": "a.safetensors", "lora_1_strength": 1, "lora_1_model_strength": 0.7, "lora_1_clip_strength": 0.3,
      "lora_2_name": "b.safetensors", "lora_2_strength": 1, "lora_2_model_strength": 0.4, "lora_2_clip_strength": 0.2,
      "lora_3_name": "beyond_count.safetensors", "lora_3_strength": 1, "lora_3_model_strength": 1, "lora_3_clip_strength": 1},
     [True, "advanced", 2, "a.safetensors", 1, 0.7, 0.3, "b.safetensors", 1, 0.4, 0.2,
      "beyond_count.safetensors", 1, 1, 1],
     [("a", 0.7, 0.3), ("b", 0.4, 0.2)]),
    ("NunchakuFluxLoraStack",
     {"lora_count": 2, "lora_name_1": "a.safetensors", "lora_strength_1": 0.8,
      "lora_name_2": "b.safetensors", "lora_strength_2": 0.6, "lora_name_3": "c.safetensors", "lora_strength_3": 1},
     [2, "a.safetensors", 0.8, "b.safetensors", 0.6, "c.safetensors", 1],
     [("a", 0.8, None), ("b", 0.6, None)]),
    ("NunchakuQwenImageLoraLoader", {"lora_name": "q.safetensors", "lora_strength": 0.9},
     ["q.safetensors", 0.9], [("q", 0.9, None)]),
    ("NunchakuQwenImageLoraStack",
     {"lora_name_1": "a.safetensors", "lora_strength_1": 1, "lora_name_2": "None", "lora_strength_2": 1},
     ["a.safetensors", 1, "None", 1], [("a", 1.0, None)]),
    ("LoraLoaderBlockWeight //Inspire",
     {"category_filter": "All", "lora_name": "bw.safetensors", "strength_model": 0.6, "strength_clip": 0.4},
     ["All", "bw.safetensors", 0.6, 0.4, False, 0, "fixed", 4, 1, "Preset", ""], [("bw", 0.6, 0.4)]),
    ("CR Load LoRA", {"switch": "On", "lora_name": "cr.safetensors", "strength_model": 0.7, "strength_clip": 0.5},
     ["On", "cr.safetensors", 0.7, 0.5], [("cr", 0.7, 0.5)]),
    ("LoraLoader|pysssss", {"lora_name": "p.safetensors", "strength_model": 0.9, "strength_clip": 1},
     [{"content": "p.safetensors", "image": "loras/p.png"}, 0.9, 1], [("p", 0.9, 1.0)]),
    ("HyVideoLoraSelect", {"lora": "hy.safetensors", "strength": 0.75}, ["hy.safetensors", 0.75, False],
     [("hy", 0.75, None)]),
]


@pytest.mark.parametrize("node_type, inputs, widgets, expected", CASES, ids=[c[0] for c in CASES])
def test_loader_reads_the_same_from_api_and_ui(node_type, inputs, widgets, expected) -> None:
    api = read({"1": {"class_type": node_type, "inputs": inputs}})
    ui = read({"nodes": [{"id": 1, "type": node_type, "mode": 0, "inputs": [], "widgets_values": widgets}], "links": []})
    assert rows(api) == expected
    assert rows(ui) == expected


def test_easy_lora_stack_switched_off_gives_nothing() -> None:
    result = read({"1": {"class_type": "easy loraStack", "inputs": {
        "toggle": False, "mode": "simple", "num_loras": 1, "lora_1_name": "a.safetensors", "lora_1_strength": 1}}})
    assert result.entries == []


def test_lora_manager_text_and_hook_nodes() -> None:
    # ComfyUI-Lora-Manager py/nodes/wanvideo_lora_select_from_text.py and create_hook_lora.py
    api = read({
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "<lora:wan_a:0.7> <lora:wan_b:0.3:0.2>"}},
        "2": {"class_type": "WanVideoLoraSelectFromText", "inputs": {"low_mem_load": False, "merge_lora": True,
                                                                     "lora_syntax": ["1", 0]}},
        "3": {"class_type": "Create Hook LoRA (LoraManager)", "inputs": {"text": "", "loras": {"__value__": [
            {"name": "hooked", "strength": 0.6, "clipStrength": 0.4, "active": True},
            {"name": "zero", "strength": 0, "clipStrength": 0, "active": True},
            {"name": "off", "strength": 1, "active": False}]}}},
        "4": {"class_type": "Lora Stack Combiner (LoraManager)", "inputs": {}},
    })
    assert rows(api) == [("wan_a", 0.7, 0.7), ("wan_b", 0.3, 0.2), ("hooked", 0.6, 0.4)]
    ui = read({"nodes": [
        {"id": 1, "type": "PrimitiveStringMultiline", "mode": 0, "widgets_values": ["<lora:wan_a:0.7>"]},
        {"id": 2, "type": "WanVideoLoraSelectFromText", "mode": 0, "widgets_values": [False, True],
         "inputs": [{"name": "lora_syntax", "type": "STRING", "link": 1}]}],
        "links": [[1, 1, 0, 2, 0, "STRING"]]})
    assert rows(ui) == [("wan_a", 0.7, 0.7)]
