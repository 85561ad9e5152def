"""What a LoRA socket carries, made into plain data the stack walk reads, and names made paths.

Shapes: WanVideo `WANVIDLORA` lists of dicts (also chained through `prev_lora`), ComfyUI
`LORA_STACK` tuples, Lora Manager stacks, nested `stack`/`loras`/`children`/`items`/`chain`
structures, a single name, path, dict or object. The conversion is iterative, cycle-safe (shared
parts converted once) and bounded like core/stacks/walk.py; the walk then does the reading.

Inside ComfyUI the names are relative to the `models/loras` folders: `folder_paths.get_full_path`
resolves them. Outside ComfyUI (no `folder_paths` module) the entries stay as written and the
library resolves them (services/inspector.StackResolver), exactly as `inspect` does.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Protocol

from lora_manager_gui.core.stacks import StackEntry, StackReadError, StackReadResult, read_stack_data
from lora_manager_gui.core.stacks.names import MODEL_EXTENSIONS
from lora_manager_gui.core.stacks.walk import MAX_DEPTH, MAX_OBJECTS

SOURCE = "<ComfyUI lora input>"
CHAIN_KEYS = ("prev_lora",)  # WanVideo: the LoRA chained before this one
_SCALARS = (str, int, float, bool, type(None))


class FolderPaths(Protocol):
    def get_full_path(self, folder_name: str, filename: str) -> str | None: ...


def _object_fields(value: Any) -> dict[str, Any]:
    """The public data attributes of an object (a dataclass, a namedtuple, a plain object)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "_asdict"):
        try:
            return dict(value._asdict())
        except Exception:  # noqa: BLE001 - an odd object is simply not read
            return {}
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return {k: v for k, v in fields.items() if isinstance(k, str) and not k.startswith("_")}
    return {}


def to_plain(value: Any) -> Any:
    """`value` as lists, dicts and scalars. A dict's `prev_lora` becomes a following list item
    (WanVideo order: this LoRA, then the ones chained before it)."""
    holder: list[Any] = [None]
    memo: dict[int, Any] = {}
    pending: list[tuple[Any, Any, Any, int]] = [(value, holder, 0, 0)]
    seen = 0
    while pending:
        item, parent, key, depth = pending.pop()
        seen += 1
        if seen > MAX_OBJECTS:
            raise StackReadError("too_large", SOURCE, f"more than {MAX_OBJECTS:,} values in the stack")
        if depth > MAX_DEPTH:
            raise StackReadError("too_deep", SOURCE, f"stack structures are nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, _SCALARS):
            parent[key] = item
            continue
        if id(item) in memo:
            parent[key] = memo[id(item)]
            continue
        if isinstance(item, (list, tuple, set, frozenset)):
            children = list(item)
            out: Any = [None] * len(children)
            memo[id(item)] = parent[key] = out
            for index, child in enumerate(children):
                pending.append((child, out, index, depth + 1))
            continue
        fields = item if isinstance(item, dict) else _object_fields(item)
        if not fields:
            parent[key] = None
            continue
        body: dict[Any, Any] = {}
        chained = [fields[k] for k in CHAIN_KEYS if fields.get(k) is not None]
        out = [body, *([None] * len(chained))] if chained else body
        memo[id(item)] = parent[key] = out
        for index, child in enumerate(chained, start=1):
            pending.append((child, out, index, depth + 1))
        for k, child in fields.items():
            if k in CHAIN_KEYS or not isinstance(k, str):
                continue
            pending.append((child, body, k, depth + 1))
    return holder[0]


def read_lora_input(value: Any) -> StackReadResult:
    """The enabled entries of a LoRA socket's value, deduplicated on (path, name). An empty or
    missing value is an empty stack; anything unreadable raises a classified StackReadError."""
    if value is None:
        return StackReadResult(source=SOURCE, format="stack")
    plain = to_plain(value)
    if plain is None or plain == "" or plain == [] or plain == {}:
        return StackReadResult(source=SOURCE, format="stack")
    return read_stack_data(plain, SOURCE)


def comfy_folder_paths() -> FolderPaths | None:
    """ComfyUI's `folder_paths` module when running inside ComfyUI (or a test standing in for it)."""
    module = sys.modules.get("folder_paths")
    if module is None:
        try:
            import folder_paths as module  # type: ignore[import-not-found, no-redef]
        except ImportError:
            return None
    return module if callable(getattr(module, "get_full_path", None)) else None


def _full_path(folder_paths: FolderPaths, ref: str) -> str | None:
    """ComfyUI's file for `ref`: as written, with `/` for a Windows `\\` (a workflow made on
    Windows), and with `.safetensors` added to a bare name (WanVideo and Lora Manager names)."""
    candidates = [ref]
    if "\\" in ref and os.sep == "/":
        candidates.append(ref.replace("\\", "/"))
    if not ref.lower().endswith(MODEL_EXTENSIONS):
        candidates.extend([c + ".safetensors" for c in candidates])
    for candidate in candidates:
        try:
            found = folder_paths.get_full_path("loras", candidate)
        except Exception:  # noqa: BLE001 - ComfyUI's own lookup failing is "not found"
            found = None
        if found and os.path.isfile(found):
            return found
    return None


def comfy_entry(entry: StackEntry, folder_paths: FolderPaths) -> StackEntry:
    """The entry with its file as ComfyUI resolves it (an absolute path), else unchanged."""
    for ref in (entry.path, entry.name):
        if not ref:
            continue
        if os.path.isabs(ref) and os.path.isfile(ref):
            return entry if ref == entry.path else dataclasses.replace(entry, path=ref)
        found = _full_path(folder_paths, ref)
        if found:
            return dataclasses.replace(entry, path=os.path.abspath(found))
    return entry
