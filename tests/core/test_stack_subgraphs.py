"""Every LoRA a modern workflow runs: subgraphs, promoted widgets, switches, what reaches an output.

Each graph is hand-made and read through the public reader (bytes in, entries out). Each test names
the ComfyUI_frontend code (Comfy-Org/ComfyUI_frontend) whose behaviour it pins; where an API prompt
is given, it is the prompt that frontend makes of the same workflow (ids joined with `:`), and both
must give the same entries.
"""
from __future__ import annotations

import json
from typing import Any

from lora_manager_gui.core.stacks import read_stack_bytes
from lora_manager_gui.core.stacks.model import SkipReason


def read(data: dict[str, Any]):
    return read_stack_bytes(json.dumps(data).encode(), "graph.json")


def summary(result) -> list[tuple[str, float | None, str | None]]:
    return [(e.stem, e.strength, e.node_id) for e in result.entries]


class Level:
    """One graph level: nodes, and links as the top level (`[id, ...]`) or a subgraph (dicts) stores them."""

    def __init__(self, *, top: bool) -> None:
        self.top = top
        self.nodes: list[dict[str, Any]] = []
        self.links: list[Any] = []
        self.next_link = 1 if top else 1000

    def node(self, node_id: int, node_type: str, widgets: Any = None, *, mode: int = 0,
             inputs: list[tuple[str, str, bool]] = (), outputs: list[str] = (), **extra: Any) -> dict:
        node = {"id": node_id, "type": node_type, "mode": mode,
                "inputs": [{"name": n, "type": t, "link": None, **({"widget": {"name": n}} if w else {})}
                           for n, t, w in inputs],
                "outputs": [{"name": t, "type": t, "links": []} for t in outputs], **extra}
        if widgets is not None:
            node["widgets_values"] = widgets
        self.nodes.append(node)
        return node

    def link(self, origin: int, origin_slot: int, target: int, input_name: str, kind: str = "*") -> None:
        link_id = self.next_link
        self.next_link += 1
        if target >= 0:
            node = next(n for n in self.nodes if n["id"] == target)
            slot = next(i for i, item in enumerate(node["inputs"]) if item["name"] == input_name)
            node["inputs"][slot]["link"] = link_id
        else:
            slot = int(input_name)
        if self.top:
            self.links.append([link_id, origin, origin_slot, target, slot, kind])
        else:
            self.links.append({"id": link_id, "origin_id": origin, "origin_slot": origin_slot,
                               "target_id": target, "target_slot": slot, "type": kind})


def subgraph(sub_id: str, name: str, level: Level, inputs: list[tuple[str, str]],
             outputs: list[tuple[str, str]] = ()) -> dict[str, Any]:
    return {"id": sub_id, "name": name, "nodes": level.nodes, "links": level.links,
            "inputs": [{"id": f"{sub_id}-in-{i}", "name": n, "type": t} for i, (n, t) in enumerate(inputs)],
            "outputs": [{"id": f"{sub_id}-out-{i}", "name": n, "type": t} for i, (n, t) in enumerate(outputs)]}


def workflow(top: Level, *subgraphs: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": top.nodes, "links": top.links, "definitions": {"subgraphs": list(subgraphs)}}


LORA_INPUTS = [("model", "MODEL", False), ("lora_name", "COMBO", True), ("strength_model", "FLOAT", True)]


def lora_subgraph(sub_id: str = "sub-lora", inner_name: str = "inner_default.safetensors") -> dict[str, Any]:
    """model in -> LoraLoaderModelOnly (lora_name, strength promoted) -> model out."""
    inner = Level(top=False)
    inner.node(1, "LoraLoaderModelOnly", [inner_name, 0.5], inputs=LORA_INPUTS, outputs=["MODEL"], title="Style LoRA")
    inner.link(-10, 0, 1, "model", "MODEL")
    inner.link(-10, 1, 1, "lora_name", "COMBO")
    inner.link(-10, 2, 1, "strength_model", "FLOAT")
    inner.link(1, 0, -20, "0", "MODEL")
    return subgraph(sub_id, "LoRA block", inner,
                    [("model", "MODEL"), ("lora_name", "COMBO"), ("strength_model", "FLOAT")], [("MODEL", "MODEL")])


def top_with(instances: list[tuple[int, Any, dict[str, Any]]], sub_id: str = "sub-lora") -> Level:
    """Checkpoint -> instance(s) in a chain -> KSampler -> SaveImage."""
    top = Level(top=True)
    top.node(1, "CheckpointLoaderSimple", ["base.safetensors"], outputs=["MODEL"])
    previous = 1
    for node_id, widgets, extra in instances:
        top.node(node_id, sub_id, widgets, inputs=[("model", "MODEL", False), ("lora_name", "COMBO", True),
                                                   ("strength_model", "FLOAT", True)],
                 outputs=["MODEL"], **extra)
        top.link(previous, 0, node_id, "model", "MODEL")
        previous = node_id
    top.node(90, "KSampler", [1, "fixed", 20], inputs=[("model", "MODEL", False)], outputs=["LATENT"])
    top.link(previous, 0, 90, "model", "MODEL")
    top.node(91, "SaveImage", ["out"], inputs=[("images", "IMAGE", False)])
    top.link(90, 0, 91, "images", "IMAGE")
    return top


def api_prompt(loras: list[tuple[str, str, float, str]]) -> dict[str, Any]:
    """The prompt graphToPrompt makes: instance nodes gone, inner ids `5:1`, promoted values literal."""
    prompt: dict[str, Any] = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}}}
    previous = "1"
    for node_id, name, strength, _title in loras:
        prompt[node_id] = {"class_type": "LoraLoaderModelOnly",
                           "inputs": {"model": [previous, 0], "lora_name": name, "strength_model": strength}}
        previous = node_id
    prompt["90"] = {"class_type": "KSampler", "inputs": {"model": [previous, 0], "seed": 1}}
    prompt["91"] = {"class_type": "SaveImage", "inputs": {"images": ["90", 0], "filename_prefix": "out"}}
    return prompt


# --- promoted values -----------------------------------------------------------------------------

def test_promoted_by_the_instance_widgets_values_ui_and_api() -> None:
    # SubgraphNode.serialize / _applyPromotedWidgetValues: one widgets_values item per promoted
    # input, in input order; ExecutableNodeDTO.resolveInput: an unlinked instance input gives its
    # promoted widget's value (getWidgetFromSlot).
    top = top_with([(5, ["promoted.safetensors", 0.8], {})])
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("promoted", 0.8, "5:1")]
    assert result.entries[0].subgraph_path == ("LoRA block",)
    assert result.entries[0].location == "LoRA block › Style LoRA (#5:1)"
    api = read(api_prompt([("5:1", "promoted.safetensors", 0.8, "Style LoRA")]))
    assert summary(api) == summary(result)
    assert not any("only known" in w for w in result.warnings)


def test_promoted_values_are_matched_by_input_name_not_position() -> None:
    # SubgraphNode._rebindInputSubgraphSlots: instance inputs are bound to the definition's inputs
    # by name; the values follow the instance's own promoted inputs, in the instance's order.
    top = top_with([(5, [0.3, "named.safetensors"], {})])
    instance = top.nodes[1]
    instance["inputs"] = [instance["inputs"][0], instance["inputs"][2], instance["inputs"][1]]  # strength first
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("named", 0.3, "5:1")]


def test_an_instance_that_stores_no_value_keeps_the_inner_widget_value() -> None:
    # ExecutableNodeDTO.resolveInput: no stored promoted value -> the input gives nothing and the
    # inner node's own widget value stands (graphToPrompt serialises the inner widget).
    top = top_with([(5, None, {})])
    result = read(workflow(top, lora_subgraph(inner_name="inner_own.safetensors")))
    assert summary(result) == [("inner_own", 0.5, "5:1")]


def test_promoted_by_proxy_widgets() -> None:
    # core/graph/subgraph/migration/proxyWidgetMigration.ts flushProxyWidgetMigration: entry i of
    # properties.proxyWidgets ([inner node id, widget name]) takes widgets_values[i] (pickHostValue);
    # a widget not linked to a subgraph input gets an input of its own with that value.
    inner = Level(top=False)
    inner.node(1, "LoraLoaderModelOnly", ["inner.safetensors", 1.0], inputs=LORA_INPUTS, outputs=["MODEL"])
    inner.link(-10, 0, 1, "model", "MODEL")
    inner.link(1, 0, -20, "0", "MODEL")
    sub = subgraph("sub-proxy", "Proxy", inner, [("model", "MODEL")], [("MODEL", "MODEL")])
    top = Level(top=True)
    top.node(1, "CheckpointLoaderSimple", ["base.safetensors"], outputs=["MODEL"])
    top.node(5, "sub-proxy", ["proxied.safetensors", 0.65], inputs=[("model", "MODEL", False)], outputs=["MODEL"],
             properties={"proxyWidgets": [["1", "lora_name"], ["1", "strength_model"]]})
    top.link(1, 0, 5, "model", "MODEL")
    top.node(91, "SaveImage", [], inputs=[("images", "IMAGE", False)])
    top.link(5, 0, 91, "images")
    result = read(workflow(top, sub))
    assert summary(result) == [("proxied", 0.65, "5:1")]


def test_linked_from_outside_the_instance() -> None:
    # ExecutableNodeDTO.resolveInput: a subgraph input linked outside follows the outer link
    # (subgraphNode.graph.getLink); a PrimitiveNode there is a virtual node whose value is applied.
    top = top_with([(5, ["ignored.safetensors", 0.8], {})])
    top.node(40, "PrimitiveNode", ["outside.safetensors"], outputs=["COMBO"])
    top.node(41, "PrimitiveNode", [0.35], outputs=["FLOAT"])
    top.node(42, "Reroute", None, inputs=[("", "*", False)], outputs=["*"])
    top.link(41, 0, 42, "", "FLOAT")
    top.link(40, 0, 5, "lora_name", "COMBO")
    top.link(42, 0, 5, "strength_model", "FLOAT")
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("outside", 0.35, "5:1")]


def test_linked_from_outside_to_a_node_computing_it_is_a_warning() -> None:
    top = top_with([(5, ["ignored.safetensors", 0.8], {})])
    top.node(40, "Some String Maker", [], outputs=["STRING"])
    top.link(40, 0, 5, "lora_name", "COMBO")
    result = read(workflow(top, lora_subgraph()))
    assert result.entries == []
    assert any("#40" in w and "when the workflow runs" in w for w in result.warnings)


def _nest(outer_id: str, inner_sub: dict[str, Any], name: str) -> dict[str, Any]:
    """A subgraph holding one instance of `inner_sub`, its promoted inputs promoted again."""
    level = Level(top=False)
    level.node(7, inner_sub["id"], None, inputs=[("model", "MODEL", False), ("lora_name", "COMBO", True),
                                                 ("strength_model", "FLOAT", True)], outputs=["MODEL"])
    level.link(-10, 0, 7, "model", "MODEL")
    level.link(-10, 1, 7, "lora_name", "COMBO")
    level.link(-10, 2, 7, "strength_model", "FLOAT")
    level.link(7, 0, -20, "0", "MODEL")
    return subgraph(outer_id, name, level, [("model", "MODEL"), ("lora_name", "COMBO"), ("strength_model", "FLOAT")],
                    [("MODEL", "MODEL")])


def test_two_levels_deep() -> None:
    # SubgraphNode.getInnerNodes (nested instances, ids 5:7:1) and _resolveNestedPromotedSource.
    inner = lora_subgraph()
    middle = _nest("sub-middle", inner, "Middle")
    top = top_with([(5, ["deep2.safetensors", 0.7], {})], sub_id="sub-middle")
    result = read(workflow(top, middle, inner))
    assert summary(result) == [("deep2", 0.7, "5:7:1")]
    assert result.entries[0].subgraph_path == ("Middle", "LoRA block")
    api = read(api_prompt([("5:7:1", "deep2.safetensors", 0.7, "Style LoRA")]))
    assert summary(api) == summary(result)


def test_three_levels_deep_the_outermost_stored_value_wins() -> None:
    # ExecutableNodeDTO.resolveInput recursing through subgraphNodeDto.resolveInput at each level;
    # SubgraphNode._setWidget: each promoted widget starts from the one inside, the outermost
    # instance's stored value is what is queued.
    inner = lora_subgraph()
    middle = _nest("sub-middle", inner, "Middle")
    outer = _nest("sub-outer", middle, "Outer")
    middle["nodes"][0]["widgets_values"] = ["middle_value.safetensors", 0.2]
    top = top_with([(5, ["deep3.safetensors", 0.9], {})], sub_id="sub-outer")
    result = read(workflow(top, outer, middle, inner))
    assert summary(result) == [("deep3", 0.9, "5:7:7:1")]
    top_no_value = top_with([(5, None, {})], sub_id="sub-outer")
    result = read(workflow(top_no_value, outer, middle, inner))
    assert summary(result) == [("middle_value", 0.2, "5:7:7:1")]  # the next stored value inward


def test_several_instances_of_one_subgraph() -> None:
    # SubgraphNode.getInnerNodes: one set of inner DTOs per instance, each reading its own values.
    top = top_with([(5, ["first.safetensors", 0.4], {}), (6, ["second.safetensors", 0.6], {"title": "Second"})])
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("first", 0.4, "5:1"), ("second", 0.6, "6:1")]
    assert result.entries[1].subgraph_path == ("Second",)
    api = read(api_prompt([("5:1", "first.safetensors", 0.4, ""), ("6:1", "second.safetensors", 0.6, "")]))
    assert summary(api) == summary(result)


def test_a_value_leaving_through_the_subgraph_output() -> None:
    # ExecutableNodeDTO.#resolveSubgraphOutput: a link from an instance goes in through the
    # output node (-20) to the inner node; a PrimitiveNode there gives its value.
    inner = Level(top=False)
    inner.node(3, "PrimitiveNode", ["from_inside.safetensors"], outputs=["COMBO"])
    inner.link(3, 0, -20, "0", "COMBO")
    sub = subgraph("sub-name", "Names", inner, [], [("name", "COMBO")])
    top = Level(top=True)
    top.node(5, "sub-name", None, outputs=["COMBO"])
    top.node(6, "LoraLoaderModelOnly", ["stale.safetensors", 1.0], inputs=LORA_INPUTS, outputs=["MODEL"])
    top.link(5, 0, 6, "lora_name", "COMBO")
    top.node(91, "SaveImage", [], inputs=[("images", "IMAGE", False)])
    top.link(6, 0, 91, "images")
    result = read(workflow(top, sub))
    assert summary(result) == [("from_inside", 1.0, "6")]


# --- what runs -------------------------------------------------------------------------------------

def _switched(switch_value: Any, *, primitive: bool = False) -> dict[str, Any]:
    """Checkpoint -> (LoRA A | LoRA B) -> ComfySwitchNode -> KSampler -> SaveImage."""
    top = Level(top=True)
    top.node(1, "CheckpointLoaderSimple", ["base.safetensors"], outputs=["MODEL"])
    top.node(2, "LoraLoaderModelOnly", ["when_true.safetensors", 1.0], inputs=LORA_INPUTS[:1], outputs=["MODEL"])
    top.node(3, "LoraLoaderModelOnly", ["when_false.safetensors", 1.0], inputs=LORA_INPUTS[:1], outputs=["MODEL"])
    top.link(1, 0, 2, "model", "MODEL")
    top.link(1, 0, 3, "model", "MODEL")
    top.node(4, "ComfySwitchNode", [switch_value], outputs=["*"],
             inputs=[("switch", "BOOLEAN", True), ("on_false", "*", False), ("on_true", "*", False)])
    top.link(2, 0, 4, "on_true", "MODEL")
    top.link(3, 0, 4, "on_false", "MODEL")
    if primitive:
        top.node(8, "PrimitiveNode", [True], outputs=["BOOLEAN"])
        top.link(8, 0, 4, "switch", "BOOLEAN")
    top.node(90, "KSampler", [], inputs=[("model", "MODEL", False)], outputs=["LATENT"])
    top.link(4, 0, 90, "model", "MODEL")
    top.node(91, "SaveImage", [], inputs=[("images", "IMAGE", False)])
    top.link(90, 0, 91, "images")
    return workflow(top)


def test_a_constant_switch_runs_one_branch() -> None:
    # ComfySwitchNode (comfy_extras/nodes_logic.py) is lazy: check_lazy_status asks only for the
    # chosen branch, so the other LoRA never loads.
    result = read(_switched(False))
    assert summary(result) == [("when_false", 1.0, "3")]
    assert [(s.entry.stem, s.reason, s.by_node) for s in result.skipped] == [
        ("when_true", SkipReason.SWITCHED_OFF, "4")]
    assert any("switched off by node #4" in w for w in result.warnings)
    api = read({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "when_true.safetensors", "strength_model": 1.0}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "when_false.safetensors", "strength_model": 1.0}},
        "4": {"class_type": "ComfySwitchNode", "inputs": {"switch": False, "on_true": ["2", 0], "on_false": ["3", 0]}},
        "90": {"class_type": "KSampler", "inputs": {"model": ["4", 0]}},
        "91": {"class_type": "SaveImage", "inputs": {"images": ["90", 0]}},
    })
    assert summary(api) == summary(result)
    assert [s.entry.stem for s in api.skipped] == ["when_true"]


def test_a_switch_fed_by_a_primitive() -> None:
    # graphToPrompt applies a PrimitiveNode's value to the widget it feeds (a virtual node).
    result = read(_switched(False, primitive=True))
    assert summary(result) == [("when_true", 1.0, "2")]
    assert [s.entry.stem for s in result.skipped] == ["when_false"]


def test_a_switch_fed_at_run_time_takes_both_branches() -> None:
    data = _switched(False)
    top_nodes = data["nodes"]
    top_nodes.append({"id": 9, "type": "Random Boolean", "mode": 0, "inputs": [], "outputs": [], "widgets_values": []})
    data["links"].append([99, 9, 0, 4, 0, "BOOLEAN"])
    next(n for n in top_nodes if n["id"] == 4)["inputs"][0]["link"] = 99
    result = read(data)
    assert sorted(e.stem for e in result.entries) == ["when_false", "when_true"]


def test_a_loader_on_no_path_to_an_output() -> None:
    # ComfyUI executes from the output nodes back through their inputs; graphToPrompt still lists
    # the dangling loader, but nothing asks for it.
    top = top_with([(5, ["used.safetensors", 1.0], {})])
    top.node(60, "LoraLoaderModelOnly", ["dangling.safetensors", 1.0], inputs=LORA_INPUTS[:1], outputs=["MODEL"])
    top.link(1, 0, 60, "model", "MODEL")
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("used", 1.0, "5:1")]
    assert [(s.entry.stem, s.reason) for s in result.skipped] == [("dangling", SkipReason.NOT_CONNECTED)]
    assert any("not connected to an output" in w for w in result.warnings)


def test_impact_switch_and_rgthree_any_switch() -> None:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "one.safetensors", "strength_model": 1}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "two.safetensors", "strength_model": 1}},
        "4": {"class_type": "ImpactSwitch", "inputs": {"select": 2, "sel_mode": False, "input1": ["2", 0], "input2": ["3", 0]}},
        "5": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "three.safetensors", "strength_model": 1}},
        "6": {"class_type": "Any Switch (rgthree)", "inputs": {"any_01": ["4", 0], "any_02": ["5", 0]}},
        "90": {"class_type": "KSampler", "inputs": {"model": ["6", 0]}},
        "91": {"class_type": "PreviewImage", "inputs": {"images": ["90", 0]}},
    }
    result = read(prompt)
    assert [e.stem for e in result.entries] == ["two"]
    assert sorted((s.entry.stem, s.by_node) for s in result.skipped) == [("one", "4"), ("three", "6")]


def test_muted_and_bypassed_instances_as_before() -> None:
    # SubgraphNode instances in mode 2/4 are not expanded (getInnerNodes only for active nodes);
    # a bypassed instance passes its model input on (#getBypassSlotIndex).
    top = top_with([(5, ["bypassed.safetensors", 1.0], {"mode": 4}), (6, ["kept.safetensors", 1.0], {})])
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("kept", 1.0, "6:1")]


def test_power_lora_loader_rows_promoted_by_proxy_widgets() -> None:
    # proxyWidgetMigration.ts flushProxyWidgetMigration: the host value of ["1", "lora_1"] replaces
    # the inner row's value for this instance (rgthree rows are widgets named lora_1, lora_2...).
    inner = Level(top=False)
    inner.node(1, "Power Lora Loader (rgthree)", [{}, {"type": "PowerLoraLoaderHeaderWidget"},
                                                  {"on": True, "lora": "saved.safetensors", "strength": 1},
                                                  {"on": True, "lora": "second.safetensors", "strength": 0.5}, {}, ""],
               inputs=[("model", "MODEL", False)], outputs=["MODEL"])
    inner.link(-10, 0, 1, "model", "MODEL")
    inner.link(1, 0, -20, "0", "MODEL")
    sub = subgraph("sub-power", "Power", inner, [("model", "MODEL")], [("MODEL", "MODEL")])
    top = Level(top=True)
    top.node(1, "CheckpointLoaderSimple", [], outputs=["MODEL"])
    top.node(5, "sub-power", [{"on": False, "lora": "saved.safetensors", "strength": 1}],
             inputs=[("model", "MODEL", False)], outputs=["MODEL"], properties={"proxyWidgets": [["1", "lora_1"]]})
    top.link(1, 0, 5, "model", "MODEL")
    top.node(91, "SaveImage", [], inputs=[("images", "IMAGE", False)])
    top.link(5, 0, 91, "images")
    result = read(workflow(top, sub))
    assert summary(result) == [("second", 0.5, "5:1")]  # row 1 switched off on this instance


def test_named_widget_values_are_read_by_name() -> None:
    # SubgraphNode.configure: with `widgets_values_named` the promoted values are restored by name.
    top = top_with([(5, ["wrong.safetensors", 9.0], {"widgets_values_named": {
        "strength_model": 0.45, "lora_name": "by_name.safetensors"}})])
    result = read(workflow(top, lora_subgraph()))
    assert summary(result) == [("by_name", 0.45, "5:1")]
    plain = Level(top=True)
    plain.node(1, "LoraLoader", ["stale.safetensors", 1.0, 1.0], widgets_values_named={
        "lora_name": "named.safetensors", "strength_model": 0.3, "strength_clip": 0.2})
    assert [(e.stem, e.strength, e.clip_strength) for e in read(workflow(plain)).entries] == [("named", 0.3, 0.2)]


def _turbo_template(turbo: bool) -> dict[str, Any]:
    """The shape of current official templates: inside the subgraph a PrimitiveBoolean, fed by a
    promoted subgraph input, drives a ComfySwitchNode between a LoRA branch and a plain one; the
    instance keeps its values as proxyWidgets ["-1", name] beside widgets_values."""
    inner = Level(top=False)
    inner.node(95, "UNETLoader", ["high.safetensors", "default"], inputs=[("unet_name", "COMBO", True)], outputs=["MODEL"])
    inner.node(101, "LoraLoaderModelOnly", ["inner_default.safetensors", 1.0000000000000002],
               inputs=[("model", "MODEL", False), ("lora_name", "COMBO", True)], outputs=["MODEL"])
    inner.node(131, "PrimitiveBoolean", [False], inputs=[("value", "BOOLEAN", True)], outputs=["BOOLEAN"])
    inner.node(116, "ComfySwitchNode", [False], inputs=[("on_false", "MODEL", False), ("on_true", "MODEL", False),
                                                         ("switch", "BOOLEAN", True)], outputs=["MODEL"])
    inner.node(85, "KSamplerAdvanced", [], inputs=[("model", "MODEL", False)], outputs=["LATENT"])
    inner.link(-10, 0, 95, "unet_name", "COMBO")
    inner.link(95, 0, 101, "model", "MODEL")
    inner.link(-10, 1, 101, "lora_name", "COMBO")
    inner.link(-10, 2, 131, "value", "BOOLEAN")
    inner.link(95, 0, 116, "on_false", "MODEL")
    inner.link(101, 0, 116, "on_true", "MODEL")
    inner.link(131, 0, 116, "switch", "BOOLEAN")
    inner.link(116, 0, 85, "model", "MODEL")
    inner.link(85, 0, -20, "0", "LATENT")
    sub = subgraph("sub-turbo", "Image to Video", inner,
                   [("unet_name", "COMBO"), ("lora_name", "COMBO"), ("value", "BOOLEAN")], [("LATENT", "LATENT")])
    top = Level(top=True)
    top.node(129, "sub-turbo", ["high.safetensors", "lightx2v_4steps_high.safetensors", turbo],
             inputs=[("unet_name", "COMBO", True), ("lora_name", "COMBO", True), ("value", "BOOLEAN", True)],
             outputs=["LATENT"], properties={"proxyWidgets": [["-1", "unet_name"], ["-1", "lora_name"], ["-1", "value"]]})
    top.node(108, "SaveVideo", [], inputs=[("video", "VIDEO", False)])
    top.link(129, 0, 108, "video", "VIDEO")
    return workflow(top, sub)


def test_a_switch_fed_by_a_promoted_primitive_boolean_inside_a_subgraph() -> None:
    # proxyWidgetMigration.ts pickHostValue (["-1", name] entries), ExecutableNodeDTO.resolveInput
    # (-10 -> the instance's promoted value), then the PrimitiveBoolean's value decides the switch.
    on = read(_turbo_template(True))
    assert summary(on) == [("lightx2v_4steps_high", 1.0000000000000002, "129:101")]
    assert on.skipped == []
    off = read(_turbo_template(False))
    assert off.entries == []
    assert [(s.entry.stem, s.by_node) for s in off.skipped] == [("lightx2v_4steps_high", "129:116")]
    api = read({
        "129:95": {"class_type": "UNETLoader", "inputs": {"unet_name": "high.safetensors"}},
        "129:101": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["129:95", 0], "lora_name": "lightx2v_4steps_high.safetensors", "strength_model": 1.0000000000000002}},
        "129:131": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "129:116": {"class_type": "ComfySwitchNode", "inputs": {
            "on_false": ["129:95", 0], "on_true": ["129:101", 0], "switch": ["129:131", 0]}},
        "129:85": {"class_type": "KSamplerAdvanced", "inputs": {"model": ["129:116", 0]}},
        "108": {"class_type": "SaveVideo", "inputs": {"video": ["129:85", 0]}},
    })
    assert summary(api) == summary(on)


def test_a_long_chain_of_instances_is_read_without_deep_recursion() -> None:
    # 3,000 instances of one subgraph chained model to model: resolving one instance's input never
    # nests into the next (a hand-edited or generated file must not exhaust the interpreter stack).
    count = 3000
    top = top_with([(100 + i, [f"chain_{i}.safetensors", 1.0], {}) for i in range(count)])
    top.nodes.reverse()  # the last instance of the chain comes first in the file
    result = read(workflow(top, lora_subgraph()))
    assert len(result.entries) == count
    assert [e.stem for e in result.entries[:3]] == ["chain_0", "chain_1", "chain_2"]
    assert result.entries[-1].node_id == f"{100 + count - 1}:1"


def test_subgraphs_that_multiply_past_the_node_limit_are_too_large() -> None:
    """Ten levels of ten instances each would be 10^10 nodes: refused while expanding, not after."""
    import pytest

    from lora_manager_gui.core.stacks import StackReadError

    subs = [lora_subgraph("level-0")]
    for depth in range(1, 10):
        level = Level(top=False)
        for k in range(10):
            level.node(k + 1, f"level-{depth - 1}", None)
        subs.append(subgraph(f"level-{depth}", f"L{depth}", level, []))
    top = Level(top=True)
    top.node(1, "level-9", None)
    with pytest.raises(StackReadError) as caught:
        read(workflow(top, *subs))
    assert caught.value.kind == "too_large"


def test_a_long_reroute_chain_feeding_many_loaders_is_walked_once() -> None:
    """5,000 reroutes in a row, then 5,000 loaders whose lora_name comes through the whole chain:
    each step's answer is remembered, so this stays linear."""
    top = Level(top=True)
    top.node(1, "PrimitiveNode", ["far_away.safetensors"], outputs=["COMBO"])
    previous = 1
    for i in range(5000):
        top.node(10 + i, "Reroute", None, inputs=[("", "*", False)], outputs=["*"])
        top.links.append([top.next_link, previous, 0, 10 + i, 0, "*"])
        top.nodes[-1]["inputs"][0]["link"] = top.next_link
        top.next_link += 1
        previous = 10 + i
    for j in range(5000):
        node = top.node(20000 + j, "LoraLoaderModelOnly", ["stale.safetensors", 1.0], inputs=LORA_INPUTS[1:2])
        top.links.append([top.next_link, previous, 0, 20000 + j, 0, "COMBO"])
        node["inputs"][0]["link"] = top.next_link
        top.next_link += 1
    result = read(workflow(top))
    assert len(result.entries) == 5000
    assert {e.stem for e in result.entries} == {"far_away"}


def test_proxy_widgets_naming_a_nested_instance_input() -> None:
    # proxyWidgetMigration.ts resolveSourceWidget: an entry [nested instance id, input name] names
    # the nested instance's promoted input; its host value wins over what the nested instance stores.
    inner = lora_subgraph()
    middle = _nest("sub-middle", inner, "Middle")
    middle["nodes"][0]["widgets_values"] = ["nested_stored.safetensors", 0.2]
    top = top_with([(5, ["from_outer_proxy.safetensors"], {"properties": {"proxyWidgets": [["7", "lora_name"]]}})],
                   sub_id="sub-middle")
    top.nodes[1]["inputs"] = top.nodes[1]["inputs"][:1]  # the outer instance promotes by proxy only
    middle["nodes"][0]["inputs"][1]["link"] = None  # the nested input is not linked to the outer one
    middle["links"] = [link for link in middle["links"] if link["target_slot"] != 1]
    result = read(workflow(top, middle, inner))
    assert summary(result) == [("from_outer_proxy", 0.2, "5:7:1")]
