"""A UI workflow flattened the way ComfyUI_frontend does when it queues it (`graphToPrompt`).

Followed from the frontend (Comfy-Org/ComfyUI_frontend, src/lib/litegraph/src/subgraph/):

- `SubgraphNode.getInnerNodes`: an active instance is replaced by its definition's nodes, ids
  prefixed with the instance path (`5:12`, `5:7:3`); nested instances at any depth.
- `ExecutableNodeDTO.resolveInput`: a link from the subgraph input node (`origin_id` -10) goes up to
  the instance's input of that name (`SubgraphNode._rebindInputSubgraphSlots` matches by name);
  linked outside, that link is followed at the parent level; unlinked, the instance's promoted
  widget value is used (`getWidgetFromSlot`), else the input gives nothing and the inner widget
  keeps its own value. Through nested instances the outermost stored value wins, since each
  promoted widget starts from the one inside it (`SubgraphNode._setWidget`).
- `ExecutableNodeDTO.resolveOutput` / `#resolveSubgraphOutput`: a link from an instance goes in
  through the definition's output node (-20); a bypassed node (mode 4) passes on its input of the
  matching type (`#getBypassSlotIndex`); virtual nodes (Reroute, PrimitiveNode, KJNodes Get/Set)
  are passed through; a muted node (mode 2) gives nothing.
- Promoted values: `SubgraphNode.serialize` writes one `widgets_values` item per promoted input, in
  input order (`_applyPromotedWidgetValues` reads them back, skipping a legacy
  control_after_generate slot); a legacy `properties.proxyWidgets` list pairs item i with entry i,
  `[inner node id, widget name]` ("-1": the instance's own input), as
  `core/graph/subgraph/migration/proxyWidgetMigration.ts` `flushProxyWidgetMigration` does.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lora_manager_gui.core.stacks.comfy_nodes import MAX_GRAPH_NODES, GraphNode, Link
from lora_manager_gui.core.stacks.graph import FlatGraph
from lora_manager_gui.core.stacks.model import StackReadError

INACTIVE_MODES = (2, 4)
MUTED, BYPASSED = 2, 4
MAX_SUBGRAPH_DEPTH = 64
MAX_RESOLVE_STEPS = 100_000
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = "-10", "-20"
REROUTES = frozenset({"Reroute", "Reroute (rgthree)", "ReroutePrimitive|pysssss"})
VIRTUAL = frozenset({"Note", "MarkdownNote", "PrimitiveNode", "GetNode", "SetNode", "Label (rgthree)",
                     "Fast Groups Muter (rgthree)", "Fast Groups Bypasser (rgthree)",
                     "Fast Bypasser (rgthree)", "Fast Muter (rgthree)", "Bookmark (rgthree)"}) | REROUTES
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
WIDGET_TYPES = frozenset({"COMBO", "INT", "FLOAT", "STRING", "BOOLEAN"})
_LEGACY_PREFIX = re.compile(r"^\s*(\d+)\s*:\s*(.+)$")


@dataclass(frozen=True)
class _UiLink:
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str


def _links(raw: Any) -> dict[Any, _UiLink]:
    out: dict[Any, _UiLink] = {}
    if not isinstance(raw, list):
        return out
    for link in raw:
        if isinstance(link, list) and len(link) >= 5:
            key, origin, o_slot, target, t_slot = link[:5]
            kind = link[5] if len(link) > 5 else "*"
        elif isinstance(link, dict) and "id" in link and "origin_id" in link:
            key, origin, o_slot = link["id"], link["origin_id"], link.get("origin_slot")
            target, t_slot, kind = link.get("target_id"), link.get("target_slot"), link.get("type", "*")
        else:
            continue
        out[key] = _UiLink(str(origin), o_slot if isinstance(o_slot, int) else 0, str(target),
                           t_slot if isinstance(t_slot, int) else 0, str(kind))
    return out


def _inputs(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in node.get("inputs") or [] if isinstance(item, dict)]


class _Level:
    """One graph level (the workflow, or one subgraph definition), read once however many instances."""

    def __init__(self, data: dict[str, Any]) -> None:
        raw_nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
        self.order = [n for n in raw_nodes if isinstance(n, dict)]
        self.nodes = {str(n.get("id")): n for n in self.order}
        self.links = _links(data.get("links"))
        self.input_defs = [i for i in data.get("inputs") or [] if isinstance(i, dict)]
        self.outputs: dict[int, _UiLink] = {}
        self.from_inputs: dict[int, list[_UiLink]] = {}
        for link in self.links.values():
            if link.target_id == SUBGRAPH_OUTPUT:
                self.outputs.setdefault(link.target_slot, link)
            if link.origin_id == SUBGRAPH_INPUT:
                self.from_inputs.setdefault(link.origin_slot, []).append(link)
        self.setters: dict[str, str] = {}
        for node in self.order:
            widgets = node.get("widgets_values")
            if node.get("type") == "SetNode" and isinstance(widgets, list) and widgets and isinstance(widgets[0], str):
                self.setters.setdefault(widgets[0], str(node.get("id")))

    def input_name(self, slot: int) -> str | None:
        if 0 <= slot < len(self.input_defs):
            name = self.input_defs[slot].get("name")
            return name if isinstance(name, str) else None
        return None

    def is_widget_input(self, slot: int) -> bool:
        """A subgraph input that promotes a widget: an inner input it feeds has one."""
        for link in self.from_inputs.get(slot, ()):
            target = self.nodes.get(link.target_id)
            if target is None:
                continue
            inputs = _inputs(target)
            if 0 <= link.target_slot < len(inputs) and "widget" in inputs[link.target_slot]:
                return True
        kind = self.input_defs[slot].get("type") if 0 <= slot < len(self.input_defs) else None
        return isinstance(kind, str) and kind in WIDGET_TYPES


@dataclass
class _Ctx:
    """One level as reached through one chain of instances."""

    level: _Level
    prefix: str = ""
    parent: _Ctx | None = None
    instance: dict[str, Any] | None = None
    chain: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    stored: dict[str, Any] = field(default_factory=dict)  # promoted values, by input name
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # inner id -> widget -> value
    children: dict[str, _Ctx] = field(default_factory=dict)
    upstream: tuple[str, ...] | None = None  # what feeds the instances above (see UiFlattener.feeds)

    def instance_input(self, name: str | None, slot: int) -> dict[str, Any] | None:
        inputs = _inputs(self.instance or {})
        for item in inputs:
            if name is not None and item.get("name") == name:
                return item
        return inputs[slot] if name is None and 0 <= slot < len(inputs) else None


_NOTHING = object()
_MISSING = object()
_UNLINKED = object()


class UiFlattener:
    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.source = source
        self.definitions: dict[str, dict[str, Any]] = {}
        definitions = data.get("definitions")
        if isinstance(definitions, dict) and isinstance(definitions.get("subgraphs"), list):
            for sg in definitions["subgraphs"]:
                if isinstance(sg, dict) and isinstance(sg.get("id"), str) and isinstance(sg.get("nodes"), list):
                    self.definitions.setdefault(sg["id"], sg)
        self.levels: dict[str, _Level] = {}
        self.top = _Ctx(level=_Level(data), upstream=())
        self.graph = FlatGraph()
        self.memo: dict[tuple[int, str, int, str], Any] = {}
        self.visited = 0

    # --- contexts ------------------------------------------------------------------------------

    def _level(self, sub_id: str) -> _Level:
        level = self.levels.get(sub_id)
        if level is None:
            level = self.levels[sub_id] = _Level(self.definitions[sub_id])
        return level

    def child(self, ctx: _Ctx, node: dict[str, Any]) -> _Ctx | None:
        node_id = str(node.get("id"))
        known = ctx.children.get(node_id)
        if known is not None:
            return known
        sub_id = node["type"]
        if sub_id in ctx.chain:
            return None
        if len(ctx.chain) >= MAX_SUBGRAPH_DEPTH:
            raise StackReadError("too_deep", self.source,
                                 f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} levels deep")
        level = self._level(sub_id)
        title = node.get("title") or self.definitions[sub_id].get("name") or sub_id
        made = _Ctx(level=level, prefix=f"{ctx.prefix}{node_id}:", parent=ctx, instance=node,
                    chain=ctx.chain + (sub_id,), path=ctx.path + (str(title),))
        self._promoted_values(made, node, level)
        for name, value in ctx.overrides.get(node_id, {}).items():
            made.stored[name] = value  # an outer proxy entry naming this instance's input wins
        ctx.children[node_id] = made
        return made

    def feeds(self, ctx: _Ctx) -> tuple[str, ...]:
        """What feeds the instances `ctx` sits in (worked out on first use, not while resolving, so
        a long chain of instances never nests calls)."""
        if ctx.upstream is None:
            found: list[str] = list(self.feeds(ctx.parent)) if ctx.parent is not None else []
            if ctx.parent is not None and ctx.instance is not None:
                for item in _inputs(ctx.instance):
                    link = ctx.parent.level.links.get(item.get("link")) if item.get("link") is not None else None
                    if link is not None:
                        value = self.resolve(ctx.parent, link.origin_id, link.origin_slot, str(item.get("type", "*")))
                        if isinstance(value, Link):
                            found.append(value.origin_id)
            ctx.upstream = tuple(dict.fromkeys(found))
        return ctx.upstream

    def _promoted_values(self, ctx: _Ctx, node: dict[str, Any], level: _Level) -> None:
        values = node.get("widgets_values")
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        proxies = properties.get("proxyWidgets")
        if isinstance(proxies, str):
            try:
                proxies = json.loads(proxies)
            except ValueError:
                proxies = None
        named = node.get("widgets_values_named")
        if isinstance(values, dict) or isinstance(named, dict):
            # by name (SubgraphNode.configure: widgets_values_named wins where the frontend restores it)
            by_name = named if isinstance(named, dict) else values
            ctx.stored.update({k: v for k, v in by_name.items() if isinstance(k, str) and v is not None})
            return
        values = values if isinstance(values, list) else []
        if isinstance(proxies, list) and proxies:
            self._proxy_values(ctx, level, proxies, values)
            return
        own = [item.get("name") for item in _inputs(node) if "widget" in item]
        if own:
            names = own
        else:  # an instance saved without its widget inputs: the definition's promoted inputs
            names = [level.input_name(i) for i in range(len(level.input_defs)) if level.is_widget_input(i)]
        extra = len(values) > len(names)
        index = 0
        for name in names:
            if index >= len(values):
                break
            value = values[index]
            index += 1
            if (extra and index < len(values) and isinstance(values[index], str)
                    and values[index] in CONTROL_VALUES and isinstance(value, int)):
                index += 1  # a legacy control_after_generate companion slot
            if isinstance(name, str) and value is not None:
                ctx.stored[name] = value

    def _proxy_values(self, ctx: _Ctx, level: _Level, proxies: list[Any], values: list[Any]) -> None:
        for index, entry in enumerate(proxies):
            if not (isinstance(entry, list) and len(entry) >= 2) or index >= len(values) or values[index] is None:
                continue
            node_id, name = str(entry[0]), str(entry[1])
            match = _LEGACY_PREFIX.match(name)
            while match:
                name = match.group(2)
                match = _LEGACY_PREFIX.match(name)
            if node_id == "-1":
                ctx.stored[name] = values[index]
                continue
            target = level.nodes.get(node_id)
            linked = None
            for item in _inputs(target or {}):
                widget = item.get("widget")
                if (item.get("name") == name or (isinstance(widget, dict) and widget.get("name") == name)):
                    link = level.links.get(item.get("link"))
                    if link is not None and link.origin_id == SUBGRAPH_INPUT:
                        linked = level.input_name(link.origin_slot)
            if linked:
                ctx.stored[linked] = values[index]  # "alreadyLinked": the value goes to that input
            else:
                ctx.overrides.setdefault(node_id, {})[name] = values[index]

    # --- resolving one input -------------------------------------------------------------------

    def resolve(self, ctx: _Ctx, origin_id: str, slot: int, kind: str) -> Any:
        """Link, a literal value, or _NOTHING (the inner widget keeps its own value).

        Each step's answer is remembered (a long reroute chain feeding many nodes is walked once);
        only the steps taken before a stored value was met share the final answer, since the ones
        after it would not have seen that value."""
        candidate: Any = _NOTHING
        seen: set[tuple[int, str, int, str]] = set()
        fresh: list[tuple[int, str, int, str]] = []
        result: Any = _NOTHING
        for _ in range(MAX_RESOLVE_STEPS):
            key = (id(ctx), origin_id, slot, kind)
            known = self.memo.get(key, _MISSING)
            if known is not _MISSING:
                result = candidate if known is _NOTHING and candidate is not _NOTHING else known
                break
            if key in seen:
                self.graph.warnings.append(f"links around node #{ctx.prefix}{origin_id} form a loop")
                result = Link(f"{ctx.prefix}{origin_id}", slot)
                break
            seen.add(key)
            if candidate is _NOTHING:
                fresh.append(key)
            step = self._step(ctx, origin_id, slot, kind)
            if type(step) is tuple:
                if len(step) == 4:  # through a subgraph input: a stored value may be met there
                    ctx, origin_id, slot, value = step
                    if value is not _NOTHING:
                        candidate = value
                    continue
                ctx, origin_id, slot = step
                continue
            result = candidate if step is _UNLINKED else step
            break
        else:
            result = Link(f"{ctx.prefix}{origin_id}", slot)
        for key in fresh:
            self.memo[key] = result
        return result

    def _step(self, ctx: _Ctx, origin_id: str, slot: int, kind: str) -> Any:
        """One step up a link: (ctx, origin, slot[, stored value]) to go on, or the answer
        (_UNLINKED: an unlinked subgraph input, whose answer is the stored value met, if any)."""
        if origin_id == SUBGRAPH_INPUT:
            if ctx.parent is None:
                return _UNLINKED
            name = ctx.level.input_name(slot)
            outer = ctx.instance_input(name, slot)
            value = ctx.stored[name] if name is not None and name in ctx.stored else _NOTHING
            link = ctx.parent.level.links.get(outer.get("link")) if outer else None
            if link is None:
                return value if value is not _NOTHING else _UNLINKED
            return (ctx.parent, link.origin_id, link.origin_slot, value)
        node = ctx.level.nodes.get(origin_id)
        if node is None:
            return Link(f"{ctx.prefix}{origin_id}", slot)
        mode, node_type = node.get("mode", 0), str(node.get("type"))
        if mode == MUTED:
            return Link(f"{ctx.prefix}{origin_id}", slot)  # not in the prompt: known only at run time
        nxt = self._through(ctx, node, node_type, mode, slot, kind)
        if nxt is None:
            if node_type == "PrimitiveNode":
                widgets = node.get("widgets_values")
                return widgets[0] if isinstance(widgets, list) and widgets else None
            return Link(f"{ctx.prefix}{origin_id}", slot)
        if nxt is _NOTHING:
            return Link(f"{ctx.prefix}{origin_id}", slot)
        return nxt

    def _through(self, ctx: _Ctx, node: dict[str, Any], node_type: str, mode: int, slot: int, kind: str) -> Any:
        """Where a pass-through node's output comes from: (ctx, origin, slot); None for a real node
        (or a PrimitiveNode); _NOTHING when nothing feeds it."""
        inputs = _inputs(node)
        if node_type in self.definitions and mode != BYPASSED:
            inner = self.child(ctx, node)
            link = inner.level.outputs.get(slot) if inner is not None else None
            return (inner, link.origin_id, link.origin_slot) if link is not None and inner is not None else _NOTHING
        if mode == BYPASSED:
            index = _bypass_slot(node, inputs, slot, kind)
            link = ctx.level.links.get(inputs[index].get("link")) if index is not None else None
            return (ctx, link.origin_id, link.origin_slot) if link else _NOTHING
        if node_type in REROUTES or node_type == "SetNode":
            link = ctx.level.links.get(inputs[0].get("link")) if inputs else None
            return (ctx, link.origin_id, link.origin_slot) if link else _NOTHING
        if node_type == "GetNode":
            widgets = node.get("widgets_values")
            name = widgets[0] if isinstance(widgets, list) and widgets else None
            for level_ctx in (ctx, self.top):
                setter = level_ctx.level.setters.get(name) if isinstance(name, str) else None
                if setter is not None:
                    set_inputs = _inputs(level_ctx.level.nodes[setter])
                    link = level_ctx.level.links.get(set_inputs[0].get("link")) if set_inputs else None
                    return (level_ctx, link.origin_id, link.origin_slot) if link else _NOTHING
            return _NOTHING
        return None

    # --- the walk ------------------------------------------------------------------------------

    def _expanded_size(self) -> int:
        """How many nodes the walk would visit (active instances expanded), from the definitions
        alone, so a file whose subgraphs multiply past the limit is refused before any work."""
        sizes: dict[str, int] = {}

        def size_of(nodes: list[Any], chain: tuple[str, ...]) -> int:
            total = 0
            for node in nodes:
                total += 1
                kind = node.get("type") if isinstance(node, dict) else None
                if (isinstance(kind, str) and kind in self.definitions and kind not in chain
                        and node.get("mode", 0) not in INACTIVE_MODES and len(chain) < MAX_SUBGRAPH_DEPTH):
                    if kind not in sizes:
                        sizes[kind] = size_of(self.definitions[kind]["nodes"], chain + (kind,))
                    total += sizes[kind]
                if total > MAX_GRAPH_NODES:
                    return total
            return total

        return size_of(self.top.level.order, ())

    def flatten(self) -> FlatGraph:
        if self._expanded_size() > MAX_GRAPH_NODES:
            raise StackReadError("too_large", self.source,
                                 f"more than {MAX_GRAPH_NODES:,} nodes once its subgraphs are expanded")
        frames: list[tuple[_Ctx, int]] = [(self.top, 0)]
        while frames:
            ctx, position = frames.pop()
            if position >= len(ctx.level.order):
                continue
            frames.append((ctx, position + 1))
            self.visited += 1
            if self.visited > MAX_GRAPH_NODES:
                raise StackReadError("too_large", self.source,
                                     f"more than {MAX_GRAPH_NODES:,} nodes once its subgraphs are expanded")
            node = ctx.level.order[position]
            node_type = node.get("type")
            if not isinstance(node_type, str) or node.get("mode", 0) in INACTIVE_MODES:
                continue
            if node_type in self.definitions:
                inner = self.child(ctx, node)
                if inner is None:
                    name = self.definitions[node_type].get("name") or node_type
                    self.graph.warnings.append(f"subgraph {name} contains itself (instance "
                                               f"#{ctx.prefix}{node.get('id')}); its nested copy was not read again")
                    continue
                frames.append((inner, 0))
                continue
            if node_type in VIRTUAL:
                continue
            self.graph.add(self._flat_node(ctx, node, node_type))
        return self.graph

    def _flat_node(self, ctx: _Ctx, node: dict[str, Any], node_type: str) -> GraphNode:
        node_id = str(node.get("id"))
        inputs: dict[str, Any] = {}
        for item in _inputs(node):
            name = item.get("name")
            link = ctx.level.links.get(item.get("link")) if item.get("link") is not None else None
            if not isinstance(name, str) or link is None:
                continue
            value = self.resolve(ctx, link.origin_id, link.origin_slot, str(item.get("type", "*")))
            if value is not _NOTHING:
                inputs[name] = value
        named = node.get("widgets_values_named")
        if isinstance(named, dict):  # the newer by-name form of widgets_values
            for name, value in named.items():
                if isinstance(name, str) and name not in inputs:
                    inputs[name] = value
        for name, value in ctx.overrides.get(node_id, {}).items():
            if not isinstance(inputs.get(name), Link):
                inputs[name] = value
        feeds = self.feeds(ctx)
        if feeds:
            self.graph.context_upstream[f"{ctx.prefix}{node_id}"] = feeds
        title = node.get("title")
        return GraphNode(id=f"{ctx.prefix}{node_id}", type=node_type, inputs=inputs,
                         widgets=node.get("widgets_values"), is_api=False,
                         title=title if isinstance(title, str) else None, path=ctx.path)


def _bypass_slot(node: dict[str, Any], inputs: list[dict[str, Any]], slot: int, kind: str) -> int | None:
    """`ExecutableNodeDTO.#getBypassSlotIndex`: the same slot if its type fits, else the first
    input of the wanted type."""
    if not inputs:
        return None
    outputs = node.get("outputs") if isinstance(node.get("outputs"), list) else []
    out_type = outputs[slot].get("type") if slot < len(outputs) and isinstance(outputs[slot], dict) else kind
    if kind in ("*", "") or out_type in ("*", ""):
        return slot if slot < len(inputs) else 0
    if slot < len(inputs) and inputs[slot].get("type") in (out_type, kind, "*"):
        return slot
    for index, item in enumerate(inputs):
        if item.get("type") == kind:
            return index
    return None


def flatten_ui_workflow(data: dict[str, Any], source: str) -> FlatGraph:
    return UiFlattener(data, source).flatten()
