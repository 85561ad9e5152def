"""Stack readers on every format: plain stacks, LORA_STACK tuples, ComfyUI API prompts and UI workflows."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lora_manager_gui.core.stacks import StackReadError, read_stack_bytes, read_stack_data, read_stack_file

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"


def _summary(result):
    return [(e.stem, e.strength, e.clip_strength) for e in result.entries]


def test_wanvideo_stack_keeps_paths_names_and_per_step_strengths() -> None:
    result = read_stack_file(FORMATS / "wanvideo_stack.json")
    assert result.format == "stack"
    assert [e.name for e in result.entries] == [
        "wan/Wan21_I2V_14B_lightx2v_cfg_step_distill_lora_rank64", "wan/detailz-wan-v2", "wan/motion_boost_i2v_480p"]
    assert result.entries[0].path.endswith("/wan/Wan21_I2V_14B_lightx2v_cfg_step_distill_lora_rank64.safetensors")
    assert result.entries[1].strength == 0.65
    assert result.entries[2].strength == [1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]
    assert [e.index for e in result.entries] == [0, 1, 2]
    assert result.entries[1].raw["layer_filter"] == ["img_emb"]


def test_nested_stacks_under_every_key_are_read_in_order() -> None:
    data = {"stack": [
        {"path": "a.safetensors", "strength": 0.1},
        {"loras": [{"children": [{"items": [{"chain": [{"path": "b.safetensors", "strength": 0.2}]}]}]}]},
        {"path": "c.safetensors", "strength": 0.3, "children": [{"path": "d.safetensors", "strength": 0.4}]},
    ]}
    result = read_stack_data(data)
    assert _summary(result) == [("a", 0.1, None), ("b", 0.2, None), ("c", 0.3, None), ("d", 0.4, None)]


def test_lora_stack_tuples_from_each_producer() -> None:
    data = json.loads((FORMATS / "lora_stack_tuples.json").read_text())
    result = read_stack_data(data["comfyroll_CR_LoRA_Stack"])
    assert _summary(result) == [("pixel-art-xl-v1.1", 0.8, 1.0), ("add-detail-xl", 1.1, 0.5)]
    assert result.entries[0].path == "sdxl\\styles\\pixel-art-xl-v1.1.safetensors"
    # The whole fixture: three stacks, the same two files -> deduplicated on (path, name), order kept.
    whole = read_stack_file(FORMATS / "lora_stack_tuples.json")
    assert [e.stem for e in whole.entries] == ["pixel-art-xl-v1.1", "add-detail-xl"]


def test_bare_string_dict_and_list_each_name_one_lora() -> None:
    assert _summary(read_stack_data("loras/x.safetensors")) == [("x", None, None)]
    assert _summary(read_stack_data({"name": "flux.1-turbo", "strength": 0.5})) == [("flux.1-turbo", 0.5, None)]
    assert _summary(read_stack_data(["one.safetensors", "two.pt"])) == [("one", None, None), ("two", None, None)]
    assert _summary(read_stack_bytes(b'"solo.safetensors"', "drop.json")) == [("solo", None, None)]


def test_shared_reference_and_cycles_are_read_once() -> None:
    shared = {"path": "shared.safetensors", "strength": 0.5}
    stack: list = [shared, {"stack": [shared]}, {"path": "other.safetensors", "strength": 1}]
    stack.append(stack)  # the list contains itself
    loop: dict = {"path": "loop.safetensors", "strength": 0.7}
    loop["children"] = [loop]
    stack.append(loop)
    result = read_stack_data(stack)
    assert [e.stem for e in result.entries] == ["shared", "other", "loop"]


def test_plain_data_deduplicates_on_path_and_name_keeping_first() -> None:
    data = [{"path": "a.safetensors", "strength": 1}, {"path": "b.safetensors", "strength": 1},
            {"path": "a.safetensors", "strength": 0.5}]
    assert _summary(read_stack_data(data)) == [("a", 1.0, None), ("b", 1.0, None)]


def test_100000_deep_nesting_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"stack": ' * 100_000 + "[]" + "}" * 100_000)
    with pytest.raises(StackReadError) as info:
        read_stack_file(deep)
    assert info.value.kind == "too_deep"
    assert "deep.json" in str(info.value)
    nested: list = []
    cursor = nested
    for _ in range(100_000):
        inner: list = []
        cursor.append({"stack": inner})
        cursor = inner
    with pytest.raises(StackReadError) as info:
        read_stack_data(nested)
    assert info.value.kind == "too_deep"


def test_disabled_rows_are_left_out_of_plain_stacks() -> None:
    data = [{"name": "on", "strength": 1, "active": True}, {"name": "off", "strength": 1, "active": False},
            {"lora": "r.safetensors", "on": False, "strength": 1}, {"file_name": "x", "exclude": True, "strength": 1}]
    assert [e.stem for e in read_stack_data(data).entries] == ["on"]


def test_api_prompt_loaders_and_power_lora_loader() -> None:
    result = read_stack_file(FORMATS / "comfy_prompt_api.json")
    assert result.format == "comfy_prompt"
    assert _summary(result) == [
        ("pixel-art-xl-v1.1", 0.8, 0.8), ("add-detail-xl", 1.1, 0.5),
        ("knight_armor_v3", 0.7, 0.7), ("ink_wash_v2", 0.6, 0.3)]  # lora_2 is off
    assert [e.node_id for e in result.entries] == ["10", "11", "12", "12"]
    assert result.entries[2].path == "sdxl\\characters\\knight_armor_v3.safetensors"


def test_api_prompt_lora_manager_rows_and_linked_wan_strength() -> None:
    result = read_stack_file(FORMATS / "comfy_prompt_api_lora_manager_and_wan.json")
    assert _summary(result) == [
        ("pixel-art-xl-v1.1", 0.8, 0.8), ("add-detail-xl", 1.1, 0.5), ("detailz-wan-v2", 0.65, 0.65),
        ("motion_boost_i2v_480p", None, None)]
    assert result.entries[0].path is None and result.entries[0].name == "pixel-art-xl-v1.1"
    assert any("#23" in w and "strength" in w for w in result.warnings)


def test_ui_excerpt_reads_widgets_of_each_loader() -> None:
    result = read_stack_file(FORMATS / "comfy_workflow_ui_excerpt.json")
    assert result.format == "comfy_workflow"
    assert _summary(result) == [
        ("pixel-art-xl-v1.1", 0.8, 0.8), ("knight_armor_v3", 0.7, 0.7), ("ink_wash_v2", 0.6, 0.3),
        ("motion_boost_i2v_480p", 1.0, None)]


def _node(node_id, node_type, widgets, mode=0, inputs=None):
    return {"id": node_id, "type": node_type, "mode": mode, "inputs": inputs or [], "outputs": [],
            "widgets_values": widgets}


def test_ui_workflow_modes_duplicates_paths_subgraphs_and_linked_text() -> None:
    sub_id = "5f7c0000-0000-4000-8000-000000000001"
    bypassed_sub = "5f7c0000-0000-4000-8000-000000000002"
    workflow = {
        "nodes": [
            _node(1, "LoraLoader", ["Wan\\Ünïcödé\\加速.safetensors", 0.5, 1]),
            _node(2, "LoraLoader", ["muted.safetensors", 1, 1], mode=2),
            _node(3, "LoraLoaderModelOnly", ["bypassed.safetensors", 1], mode=4),
            _node(4, "WanVideoLoraSelect", ["same.safetensors", 1, False, False]),
            _node(5, "WanVideoLoraSelect", ["same.safetensors", 3, False, False],
                  inputs=[{"name": "prev_lora", "type": "WANVIDLORA", "link": 1}]),
            _node(6, sub_id, []),
            _node(7, bypassed_sub, [], mode=4),
            _node(8, "PrimitiveStringMultiline", ["<lora:Comic book opus 3:0.51>\n<lora:b:0.2:0.1>"]),
            _node(9, "LoRA Text Loader (LoraManager)", None,
                  inputs=[{"name": "lora_syntax", "type": "STRING", "link": 2}]),
            _node(10, "CR LoRA Stack", ["On", "cr1.safetensors", 0.9, 1.0, "Off", "cr2.safetensors", 1, 1,
                                        "On", "None", 1, 1]),
            _node(11, "WanVideoLoraSelectMulti", ["m0.safetensors", 0.4, "none", 0, "m2.safetensors", 0,
                                                  "none", 0, "none", 0, False, False]),
        ],
        "links": [[1, 4, 0, 5, 0, "WANVIDLORA"], [2, 8, 0, 9, 1, "STRING"]],
        "definitions": {"subgraphs": [
            {"id": sub_id, "name": "inner", "nodes": [
                _node(1, "LoraLoaderModelOnly", ["inner.safetensors", 0.25]),
                _node(2, "LoraLoaderModelOnly", ["inner_off.safetensors", 0.25], mode=4),
                _node(3, sub_id, []),  # the subgraph contains itself: a cycle
            ], "links": []},
            {"id": bypassed_sub, "name": "off", "nodes": [
                _node(1, "LoraLoaderModelOnly", ["never.safetensors", 1])], "links": []},
        ]},
    }
    result = read_stack_data(workflow, "wf.json")
    assert _summary(result) == [
        ("加速", 0.5, 1.0), ("same", 1.0, None), ("same", 3.0, None), ("inner", 0.25, None),
        ("Comic book opus 3", 0.51, 0.51), ("b", 0.2, 0.1), ("cr1", 0.9, 1.0), ("m0", 0.4, None)]
    assert result.entries[0].path == "Wan\\Ünïcödé\\加速.safetensors"
    assert result.entries[3].node_id == "6:1"
    assert any("contains itself" in w for w in result.warnings)


def test_same_node_listed_twice_counts_once() -> None:
    node = _node(1, "LoraLoader", ["a.safetensors", 1, 1])
    result = read_stack_data({"nodes": [node, node], "links": []})
    assert [e.stem for e in result.entries] == ["a"]


def test_wrong_json_types_are_skipped_per_item() -> None:
    workflow = {"nodes": [
        "not a node", {"id": 1, "type": 5}, _node(2, "LoraLoader", [17, "x", None]),
        _node(3, "LoraLoader", ["good.safetensors", "abc", None]),
        _node(4, "Lora Loader (LoraManager)", [{"v": 1}, "", [{"name": "row", "strength": "0.5", "active": True}]]),
    ], "links": "broken"}
    result = read_stack_data(workflow)
    assert _summary(result) == [("good", None, None), ("row", 0.5, 0.5)]


def test_run_time_selectors_are_reported_not_guessed() -> None:
    workflow = {"nodes": [_node(1, "Lora Randomizer (LoraManager)", [{"last_used": [{"name": "x", "strength": 1}]}])]}
    result = read_stack_data(workflow)
    assert result.entries == []
    assert "when the workflow runs" in result.warnings[0]


@pytest.mark.parametrize("content, kind", [
    (b'{"nodes": [', "malformed"),
    (b'[{"path": "a.safetensors", "strength": 1}', "malformed"),
    (b"", "not_a_stack"),
    (b"{}", "not_a_stack"),
    (b"just some words", "not_a_stack"),
    (b"\xff\xfe\x00garbage", "malformed"),
])
def test_broken_or_foreign_files_get_a_classified_error(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(StackReadError) as info:
        read_stack_file(path)
    assert info.value.kind == kind
    assert str(path) in str(info.value)


def test_sidecars_and_model_files_are_not_stacks(tmp_path: Path) -> None:
    for name in ("civitai_info.json", "civitai_model_api.json", "tiny_test_lora.safetensors"):
        with pytest.raises(StackReadError) as info:
            read_stack_file(FORMATS / name)
        assert info.value.kind == "not_a_stack", name
    with pytest.raises(StackReadError) as info:
        read_stack_file(tmp_path)
    assert info.value.kind == "unreadable"
    with pytest.raises(StackReadError) as info:
        read_stack_file(tmp_path / "missing.json")
    assert info.value.kind == "unreadable"


def test_empty_stack_is_a_result_with_no_entries() -> None:
    assert read_stack_bytes(b"[]", "empty.json").entries == []
    assert read_stack_bytes(b'{"loras": []}', "empty.json").entries == []


def test_recipe_and_saved_lora_json_are_stacks_with_hash_hints() -> None:
    recipe = read_stack_file(FORMATS / "lora_manager_recipe.json")
    assert [(e.name, e.strength) for e in recipe.entries] == [("pixel-art-xl-v1.1", 0.8), ("add-detail-xl", 1.1)]
    assert recipe.entries[0].hashes["sha256"].startswith("27b7f2b8")
    saved = {"loras": [{"index": 0, "display_name": "X", "hash": "A" * 64, "strength": 0.7,
                        "file": {"exists": True, "path": "/lib/x.safetensors"},
                        "original": {"raw": None, "name": "x", "path": "x.safetensors"}, "civitai": None}],
             "summary": {}, "combined_display": "X"}
    entries = read_stack_data(saved).entries
    assert [(e.path, e.name, e.strength, e.hashes) for e in entries] == [
        ("/lib/x.safetensors", "x", 0.7, {"sha256": "a" * 64})]
