"""Entries come out in the order the nodes apply them, not in file order (FORMATS.md §2.1, §2.2, §2.5).

Every graph here is hand-made so that file order and applied order differ; each is read through
the public readers (bytes in, entries out), in API-prompt and UI-workflow form where both exist.
"""
from __future__ import annotations

import json
import time
from typing import Any

from lora_manager_gui.core.stacks import read_stack_bytes


def read(data: dict[str, Any]):
    return read_stack_bytes(json.dumps(data).encode(), "graph.json")


def stems(result) -> list[str]:
    return [entry.stem for entry in result.entries]


class Api:
    """An API prompt built node by node, in the file order the test wants."""

    def __init__(self) -> None:
        self.prompt: dict[str, Any] = {}

    def add(self, node_id: str, class_type: str, **inputs: Any) -> Api:
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        return self


def link(node_id: str, slot: int = 0) -> list:
    return [node_id, slot]


class Ui:
    """A UI workflow: nodes in file order, links `[id, from, from_slot, to, to_slot, type]`."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []

    def add(self, node_id: int, node_type: str, widgets: Any = None, *, mode: int = 0,
            inputs: dict[str, int] | None = None) -> Ui:
        node_inputs = []
        for name, origin in (inputs or {}).items():
            link_id = len(self.links) + 1
            self.links.append([link_id, origin, 0, node_id, len(node_inputs), "*"])
            node_inputs.append({"name": name, "type": "*", "link": link_id})
        self.nodes.append({"id": node_id, "type": node_type, "mode": mode, "inputs": node_inputs,
                           "widgets_values": widgets if widgets is not None else []})
        return self

    def data(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "links": self.links}


# --- WanVideoLoraSelect prev_lora chains: upstream first (§2.5) ---------------------------------

def test_prev_lora_chain_listed_downstream_first_api() -> None:
    prompt = (Api()
              .add("68", "WanVideoLoraSelect", lora="c.safetensors", strength=0.6, prev_lora=link("75"))
              .add("30", "WanVideoModelLoader", lora=link("68"))
              .add("75", "WanVideoLoraSelect", lora="b.safetensors", strength=0.4, prev_lora=link("101"))
              .add("101", "WanVideoLoraSelect", lora="a.safetensors", strength=0.4))
    result = read(prompt.prompt)
    assert stems(result) == ["a", "b", "c"]
    assert [entry.index for entry in result.entries] == [0, 1, 2]
    assert [entry.node_id for entry in result.entries] == ["101", "75", "68"]
    assert result.warnings == []


def test_prev_lora_chain_listed_downstream_first_ui_with_multi_node() -> None:
    ui = (Ui()
          .add(68, "WanVideoLoraSelect", ["wan\\c.safetensors", 0.6, False, False], inputs={"prev_lora": 80})
          .add(80, "WanVideoLoraSelectMulti", ["m1.safetensors", 1.0, "m2.safetensors", 0.5, "none", 1,
                                              "none", 1, "none", 1, False, False], inputs={"prev_lora": 101})
          .add(101, "WanVideoLoraSelect", ["wan\\a.safetensors", 0.4, False, False]))
    assert stems(read(ui.data())) == ["a", "m1", "m2", "c"]  # a node's own rows keep row order


# --- chained LoraLoader nodes: follow the model links upstream from the sampler (§2.1) -----------

def test_lora_loader_chain_in_reverse_file_order_api() -> None:
    prompt = (Api()
              .add("3", "KSampler", model=link("12"), seed=1)
              .add("12", "LoraLoaderModelOnly", lora_name="third.safetensors", strength_model=0.3,
                   model=link("11"))
              .add("11", "LoraLoader", lora_name="second.safetensors", strength_model=0.2, strength_clip=0.2,
                   model=link("10"), clip=link("10", 1))
              .add("10", "LoraLoader", lora_name="first.safetensors", strength_model=0.1, strength_clip=0.1,
                   model=link("4"), clip=link("4", 1))
              .add("4", "CheckpointLoaderSimple", ckpt_name="base.safetensors"))
    result = read(prompt.prompt)
    assert stems(result) == ["first", "second", "third"]
    assert [entry.strength for entry in result.entries] == [0.1, 0.2, 0.3]


def test_lora_loader_chain_through_reroute_bypassed_and_model_patch_nodes_ui() -> None:
    ui = (Ui()
          .add(12, "LoraLoaderModelOnly", ["third.safetensors", 0.3], inputs={"model": 40})
          .add(40, "ModelSamplingFlux", [1.15, 0.5, 1024, 1024], inputs={"model": 31})
          .add(31, "LoraLoader", ["skipped.safetensors", 1, 1], mode=4, inputs={"model": 30})  # bypassed
          .add(30, "Reroute", inputs={"": 11})
          .add(11, "Power Lora Loader (rgthree)",
               [{}, {"type": "PowerLoraLoaderHeaderWidget"},
                {"on": True, "lora": "second_a.safetensors", "strength": 0.2},
                {"on": True, "lora": "second_b.safetensors", "strength": 0.25}, {}, ""],
               inputs={"model": 10})
          .add(10, "LoraLoader", ["first.safetensors", 0.1, 0.1], inputs={"model": 4})
          .add(4, "CheckpointLoaderSimple", ["base.safetensors"]))
    result = read(ui.data())
    assert stems(result) == ["first", "second_a", "second_b", "third"]
    assert "skipped" not in stems(result)


def test_getnode_follows_its_setnode_ui() -> None:
    ui = (Ui()
          .add(2, "LoraLoaderModelOnly", ["late.safetensors", 1.0], inputs={"model": 21})
          .add(21, "GetNode", ["MODEL_WITH_LORA"])
          .add(20, "SetNode", ["MODEL_WITH_LORA"], inputs={"MODEL": 1})
          .add(1, "LoraLoaderModelOnly", ["early.safetensors", 1.0]))
    assert stems(read(ui.data())) == ["early", "late"]


def test_unlinked_chains_keep_file_order_and_each_chain_is_ordered() -> None:
    """High- and low-noise chains of a Wan 2.2 workflow: two chains, each reversed in the file."""
    prompt = (Api()
              .add("2", "LoraLoaderModelOnly", lora_name="high_2.safetensors", strength_model=1.0, model=link("1"))
              .add("1", "LoraLoaderModelOnly", lora_name="high_1.safetensors", strength_model=1.0)
              .add("4", "LoraLoaderModelOnly", lora_name="low_2.safetensors", strength_model=1.0, model=link("3"))
              .add("3", "LoraLoaderModelOnly", lora_name="low_1.safetensors", strength_model=1.0))
    assert stems(read(prompt.prompt)) == ["high_1", "high_2", "low_1", "low_2"]
    no_links = (Api()
                .add("9", "LoraLoaderModelOnly", lora_name="x.safetensors", strength_model=1.0)
                .add("1", "LoraLoaderModelOnly", lora_name="y.safetensors", strength_model=1.0))
    assert stems(read(no_links.prompt)) == ["x", "y"]  # nothing links them: file order


# --- LORA_STACK producers: each producer's documented order (§2.2) -------------------------------

def _efficiency(slot_names: list[str], **extra: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {"input_mode": "simple", "lora_count": len(slot_names)}
    for i, name in enumerate(slot_names, start=1):
        inputs[f"lora_name_{i}"] = name
        inputs[f"lora_wt_{i}"] = 0.5
    inputs.update(extra)
    return inputs


def test_efficiency_stack_fed_by_another_stack_puts_its_own_first_api() -> None:
    prompt = Api()  # file order: the innermost stack first, the loader last
    prompt.prompt["8"] = {"class_type": "LoRA Stacker", "inputs": _efficiency(["inner.safetensors"])}
    prompt.prompt["9"] = {"class_type": "LoRA Stacker",
                          "inputs": _efficiency(["outer_1.safetensors", "outer_2.safetensors"], lora_stack=link("8"))}
    prompt.add("1", "KSampler (Efficient)", model=link("7"))
    prompt.add("7", "Efficient Loader", ckpt_name="base.safetensors", lora_name="loader_own.safetensors",
               lora_model_strength=1.0, lora_clip_strength=1.0, lora_stack=link("9"))
    result = read(prompt.prompt)
    # Efficient Loader: own, then its stack; LoRA Stacker 9: own rows, then stack 8.
    assert stems(result) == ["loader_own", "outer_1", "outer_2", "inner"]


def test_efficiency_stack_fed_by_a_comfyroll_stack_then_applied_before_a_loader_api() -> None:
    """The Efficiency node's whole list (own + incoming) is applied by CR Apply LoRA Stack, and only
    then the LoraLoader after it: `inner` must precede `after` though `after` comes first in the file."""
    prompt = Api()
    prompt.add("20", "LoraLoader", lora_name="after.safetensors", strength_model=1.0, strength_clip=1.0,
               model=link("30"), clip=link("30", 1))
    prompt.add("5", "CR LoRA Stack", switch_1="On", lora_name_1="inner.safetensors", model_weight_1=0.3,
               clip_weight_1=0.3, switch_2="Off", lora_name_2="None", model_weight_2=1, clip_weight_2=1,
               switch_3="Off", lora_name_3="None", model_weight_3=1, clip_weight_3=1)
    prompt.add("30", "CR Apply LoRA Stack", model=link("4"), clip=link("4", 1), lora_stack=link("9"))
    prompt.prompt["9"] = {"class_type": "LoRA Stacker", "inputs": _efficiency(["eff.safetensors"], lora_stack=link("5"))}
    prompt.add("4", "CheckpointLoaderSimple", ckpt_name="base.safetensors")
    assert stems(read(prompt.prompt)) == ["eff", "inner", "after"]


def test_lora_manager_and_comfyroll_stacks_put_the_incoming_stack_first_ui() -> None:
    ui = (Ui()
          .add(21, "Lora Loader (LoraManager)",
               ["", [{"name": "loader_own", "strength": 0.5, "active": True}]], inputs={"model": 20, "lora_stack": 17})
          .add(17, "Lora Stacker (LoraManager)", ["", [{"name": "lm_own", "strength": 0.3, "active": True}]],
               inputs={"lora_stack": 15})
          .add(15, "CR LoRA Stack", ["On", "cr_own.safetensors", 1.0, 1.0, "Off", "None", 1, 1, "Off", "None", 1, 1],
               inputs={"lora_stack": 14})
          .add(14, "CR LoRA Stack", ["On", "cr_first.safetensors", 1.0, 1.0, "Off", "None", 1, 1, "Off", "None", 1, 1])
          .add(20, "LoraLoader", ["model_chain.safetensors", 1.0, 1.0]))
    # Lora Loader: its model chain first, then the incoming stack (itself incoming-first), then its own.
    assert stems(read(ui.data())) == ["model_chain", "cr_first", "cr_own", "lm_own", "loader_own"]


# --- cycles and size: never a hang --------------------------------------------------------------

def test_link_cycle_falls_back_to_file_order_with_a_warning_api() -> None:
    prompt = (Api()
              .add("3", "LoraLoaderModelOnly", lora_name="c.safetensors", strength_model=1.0, model=link("2"))
              .add("1", "LoraLoaderModelOnly", lora_name="a.safetensors", strength_model=1.0, model=link("3"))
              .add("2", "LoraLoaderModelOnly", lora_name="b.safetensors", strength_model=1.0, model=link("1"))
              .add("9", "LoraLoaderModelOnly", lora_name="downstream.safetensors", strength_model=1.0,
                   model=link("2"))
              .add("0", "LoraLoaderModelOnly", lora_name="upstream.safetensors", strength_model=1.0))
    prompt.prompt["3"]["inputs"]["clip"] = link("0")
    result = read(prompt.prompt)
    # The cycle 3 -> 1 -> 2 -> 3 keeps file order (3, 1, 2); what feeds it comes first, what it feeds after.
    assert stems(result) == ["upstream", "c", "a", "b", "downstream"]
    assert any("cycle" in warning and "#3, #1, #2" in warning for warning in result.warnings)


def test_cycle_through_plain_nodes_and_a_self_link_ui() -> None:
    ui = (Ui()
          .add(2, "LoraLoaderModelOnly", ["b.safetensors", 1.0], inputs={"model": 50})
          .add(50, "Reroute", inputs={"": 51})
          .add(51, "Reroute", inputs={"": 1})
          .add(1, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs={"model": 2})
          .add(3, "LoraLoaderModelOnly", ["self.safetensors", 1.0], inputs={"model": 3}))
    result = read(ui.data())
    assert stems(result) == ["b", "a", "self"]
    assert sum("cycle" in warning for warning in result.warnings) == 2


def test_a_long_reversed_chain_is_ordered_without_recursion_in_linear_time() -> None:
    count = 20_000
    prompt = Api()
    for i in range(count - 1, -1, -1):
        inputs: dict[str, Any] = {"lora_name": f"l{i}.safetensors", "strength_model": 1.0}
        if i:
            inputs["model"] = link(str(i - 1))
        prompt.prompt[str(i)] = {"class_type": "LoraLoaderModelOnly", "inputs": inputs}
    started = time.perf_counter()
    result = read(prompt.prompt)
    assert time.perf_counter() - started < 10
    assert stems(result) == [f"l{i}" for i in range(count)]


# --- subgraphs: ordered inside, and the instance as one node outside ----------------------------

def test_subgraph_entries_are_ordered_inside_and_placed_by_the_instance_links_ui() -> None:
    inner = Ui()
    inner.add(2, "LoraLoaderModelOnly", ["inner_2.safetensors", 1.0], inputs={"model": 1})
    inner.add(1, "LoraLoaderModelOnly", ["inner_1.safetensors", 1.0])
    outer = (Ui()
             .add(5, "sub-1", inputs={"model": 6})
             .add(6, "LoraLoaderModelOnly", ["before_sub.safetensors", 1.0]))
    data = outer.data()
    data["definitions"] = {"subgraphs": [{"id": "sub-1", "name": "LoRAs", "nodes": inner.nodes,
                                          "links": inner.links}]}
    result = read(data)
    assert stems(result) == ["before_sub", "inner_1", "inner_2"]
    assert [entry.node_id for entry in result.entries] == ["6", "5:1", "5:2"]
