"""ComfyUI UI workflows (`workflow` PNG chunk, saved `.json`): nodes[], links[], subgraphs.

The workflow is flattened the way the frontend does when it queues it (`flatten_ui.py`: subgraph
instances expanded, promoted widget values, links across subgraph boundaries, reroutes, primitives,
Get/Set nodes, bypassed nodes passed through, muted ones left out), then read as the flat graph an
API prompt also is (`comfy_graph.py`): switches, what reaches an output, rows, order.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.stacks.comfy_graph import read_flat_graph
from lora_manager_gui.core.stacks.flatten_ui import INACTIVE_MODES, MAX_SUBGRAPH_DEPTH, flatten_ui_workflow
from lora_manager_gui.core.stacks.model import StackReadResult

__all__ = ["INACTIVE_MODES", "MAX_SUBGRAPH_DEPTH", "is_ui_workflow", "read_ui_workflow"]


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def read_ui_workflow(data: dict[str, Any], source: str) -> StackReadResult:
    return read_flat_graph(flatten_ui_workflow(data, source), source, "comfy_workflow")
