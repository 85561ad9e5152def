"""The order in which a graph's LoRA nodes apply their LoRAs (FORMATS.md §2.1, §2.2, §2.5).

Readers collect entries in file order; this post-pass reorders them the way ComfyUI runs them:

- a node whose input is linked (directly, or through any other node: reroutes, model patches,
  stack consumers such as CR Apply LoRA Stack, bypassed nodes) from a LoRA node comes after it:
  chained LoraLoaders follow their `model` links, WanVideoLoraSelect its `prev_lora`, Lora Manager
  and Comfyroll stacks put the incoming `lora_stack` first;
- Efficiency nodes (LoRA Stacker, Efficient Loader) put their own LoRAs first, then the incoming
  stack (`own first`);
- LoRA nodes not linked to each other keep file order, and a node's rows keep row order.

The graph is reduced to the LoRA-producing nodes; their cycles (a broken or hand-edited file) are
found as strongly connected components, kept in file order and reported, never followed forever.
The order is then a depth-first walk from the last LoRA node of each chain (chains in file order),
each node placing its own entries after its incoming ones (before them when own first), incoming
ones in input order (a Lora Manager loader: `model` chain, then `lora_stack`). That is a
topological order of the dependency graph, with file order breaking ties, in linear time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lora_manager_gui.core.stacks.model import StackEntry

# LORA_STACK producers/loaders that list their own LoRAs before the incoming stack (§2.2).
OWN_FIRST_TYPES = frozenset({"LoRA Stacker", "Efficient Loader"})


@dataclass
class NodeLinks:
    """One graph level: for every node id, the node ids its inputs link from (input order), and its type."""

    upstream: dict[str, list[str]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)


def apply_order(entries: list[StackEntry], links: NodeLinks, unit_of: Callable[[StackEntry], str],
                warnings: list[str]) -> list[StackEntry]:
    """`entries` reordered as the graph applies them. `unit_of` names the node (at this level)
    an entry belongs to. Entries keep their objects; the caller renumbers `index`."""
    groups: dict[str, list[StackEntry]] = {}
    for entry in entries:
        groups.setdefault(unit_of(entry), []).append(entry)
    if len(groups) < 2:
        return list(entries)
    position = {unit: i for i, unit in enumerate(groups)}  # file order of the LoRA nodes
    incoming = _producer_links(groups, links)
    units = list(groups)
    fast = _emit_acyclic(units, [[position[source] for source in incoming.get(unit, ())] for unit in units],
                         groups, links)
    if fast is not None:  # the usual case: no cycle, every node its own component
        return fast
    components = _strongly_connected(list(groups), incoming)
    comp_of: dict[str, int] = {}
    for number, members in enumerate(components):
        for unit in members:
            comp_of[unit] = number
    for members in components:
        if len(members) > 1 or members[0] in incoming.get(members[0], ()):
            names = ", ".join(f"#{unit}" for unit in sorted(members, key=position.__getitem__))
            warnings.append(f"LoRA nodes {names} are linked in a cycle; they are listed in file order")
    # The condensed graph: one unit per component, its members' entries in file order.
    own: list[list[StackEntry]] = []
    comp_in: list[list[int]] = []
    own_first: list[bool] = []
    first_pos: list[int] = []
    for number, members in enumerate(components):
        ordered = sorted(members, key=position.__getitem__)
        own.append([entry for unit in ordered for entry in groups[unit]])
        seen: dict[int, None] = {}
        for unit in ordered:
            for source in incoming.get(unit, ()):
                if comp_of[source] != number:
                    seen[comp_of[source]] = None
        comp_in.append(list(seen))
        own_first.append(len(ordered) == 1 and links.types.get(ordered[0], "") in OWN_FIRST_TYPES)
        first_pos.append(position[ordered[0]])
    has_downstream = [False] * len(components)
    for sources in comp_in:
        for source in sources:
            has_downstream[source] = True
    sinks = sorted((c for c in range(len(components)) if not has_downstream[c]), key=first_pos.__getitem__)
    return _emit(sinks, comp_in, own, own_first)


def _emit_acyclic(units: list[str], inputs: list[list[int]], groups: dict[str, list[StackEntry]],
                  links: NodeLinks) -> list[StackEntry] | None:
    """The same depth-first walk as `_emit`, on the nodes themselves, or None when it meets a cycle
    (a node reached again while it is still open, or nodes no sink leads to): then the caller
    condenses the graph first."""
    count = len(units)
    own_first = [links.types.get(unit, "") in OWN_FIRST_TYPES for unit in units]
    fed = bytearray(count)
    for sources in inputs:
        for source in sources:
            fed[source] = 1
    state = bytearray(count)  # 0 not seen, 1 open, 2 placed
    result: list[StackEntry] = []
    placed = 0
    for sink in range(count):
        if fed[sink] or state[sink]:
            continue
        state[sink] = 1
        if own_first[sink]:
            result.extend(groups[units[sink]])
        stack = [[sink, 0]]
        while stack:
            frame = stack[-1]
            node, position = frame
            sources = inputs[node]
            if position < len(sources):
                frame[1] = position + 1
                source = sources[position]
                seen = state[source]
                if seen == 0:
                    state[source] = 1
                    if own_first[source]:
                        result.extend(groups[units[source]])
                    stack.append([source, 0])
                elif seen == 1:
                    return None
                continue
            stack.pop()
            state[node] = 2
            placed += 1
            if not own_first[node]:
                result.extend(groups[units[node]])
    return result if placed == count else None


def _emit(sinks: Sequence[int], comp_in: list[list[int]], own: list[list[StackEntry]],
          own_first: list[bool]) -> list[StackEntry]:
    result: list[StackEntry] = []
    done: set[int] = set()
    for sink in sinks:
        # Frames: (component, its incoming components not yet visited, own entries already out?)
        stack: list[tuple[int, list[int], bool]] = []

        def enter(comp: int) -> None:
            done.add(comp)
            pending = list(reversed(comp_in[comp]))  # popped from the end: input order
            if own_first[comp]:
                result.extend(own[comp])
            stack.append((comp, pending, own_first[comp]))

        if sink in done:
            continue
        enter(sink)
        while stack:
            comp, pending, placed = stack[-1]
            while pending and pending[-1] in done:
                pending.pop()
            if pending:
                enter(pending.pop())
                continue
            stack.pop()
            if not placed:
                result.extend(own[comp])
    return result


def _producer_links(groups: dict[str, list[StackEntry]], links: NodeLinks) -> dict[str, list[str]]:
    """For each LoRA node, the nearest LoRA nodes upstream of its inputs (through any other nodes)."""
    producers = set(groups)
    reach: dict[str, list[str]] = {}  # memo for non-producer nodes: the producers they pass on

    def through(node: str) -> list[str]:
        """Producers reachable upstream from a non-producer node (iterative, cycle-safe)."""
        if node in reach:
            return reach[node]
        on_path: set[str] = {node}
        frames: list[tuple[str, list[str], dict[str, None]]] = [(node, list(links.upstream.get(node, ())), {})]
        while frames:
            current, todo, found = frames[-1]
            if todo:
                source = todo.pop(0)
                if source in producers:
                    found[source] = None
                elif source in reach:
                    found.update(dict.fromkeys(reach[source]))
                elif source not in on_path and source in links.upstream:
                    on_path.add(source)
                    frames.append((source, list(links.upstream.get(source, ())), {}))
                continue
            frames.pop()
            on_path.discard(current)
            reach[current] = list(found)
            if frames:
                frames[-1][2].update(found)
        return reach[node]

    result: dict[str, list[str]] = {}
    for unit in groups:
        found: dict[str, None] = {}
        for source in links.upstream.get(unit, ()):
            if source in producers:
                found[source] = None
            elif source in links.upstream:
                found.update(dict.fromkeys(through(source)))
        result[unit] = list(found)
    return result


def _strongly_connected(units: list[str], incoming: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative. Components come out in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in units:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work[-1]
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = incoming.get(node, [])
            if i < len(edges):
                work[-1] = (node, i + 1)
                nxt = edges[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                components.append(members)
    return components
