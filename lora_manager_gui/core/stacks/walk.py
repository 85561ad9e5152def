"""Plain stack data: WanVideo lists, nested stacks, LORA_STACK tuples, bare names, saved stacks.

The walk is iterative (an explicit stack, no recursion) and cycle-safe: every list and dict is
visited at most once, by identity, so a structure that refers to itself or shares a sub-stack is
read once. Depth, object count and entry count are capped; going over a cap raises a classified
StackReadError instead of exhausting memory or the interpreter stack.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lora_manager_gui.core.stacks.model import StackEntry, StackReadError
from lora_manager_gui.core.stacks.names import (
    MODEL_EXTENSIONS,
    as_float,
    as_strength,
    is_empty_name,
    is_switched_on,
    normalize_reference,
)

MAX_DEPTH = 512
MAX_OBJECTS = 2_000_000
MAX_ENTRIES = 100_000
MAX_REFERENCE_LENGTH = 4096

CONTAINER_KEYS = ("stack", "loras", "children", "items", "chain", "__value__", "lora_stack")
REFERENCE_KEYS = ("path", "lora_path", "file_path", "lora", "lora_name", "filename")
STRENGTH_KEYS = ("strength", "strength_model", "model_strength", "weight", "multiplier")
CLIP_KEYS = ("clip_strength", "clipStrength", "strength_clip", "strengthTwo", "clip_weight")
ENABLED_KEYS = ("active", "on", "enabled")
# Keys a dict may carry and still be "a dict naming one LoRA" when it has only a `name`.
_ENTRY_KEYS = frozenset(
    {"name", "file_name", "hash", "sha256", "autov2", "autov3", "blocks", "layer_filter",
     "low_mem_load", "merge_loras", "expanded", "selected", "locked", "exclude", "isDeleted",
     "modelVersionId", "modelName", "modelVersionName", "display_name", "original", "file",
     "index", "civitai", "node_type", "node_id"}
    | set(REFERENCE_KEYS) | set(STRENGTH_KEYS) | set(CLIP_KEYS) | set(ENABLED_KEYS)
)


@dataclass
class WalkOutcome:
    entries: list[StackEntry] = field(default_factory=list)
    unrecognized: int = 0  # dicts or values that are neither entries nor containers
    containers: int = 0


def hash_hints(data: dict[str, Any]) -> dict[str, str]:
    """Hash values a saved entry carries, classified by length (64 = SHA-256, 12 = AutoV3, 10 = AutoV2)."""
    hints: dict[str, str] = {}
    for key in ("sha256", "hash", "SHA256", "autov3", "AutoV3", "autov2", "AutoV2"):
        value = data.get(key)
        if not isinstance(value, str):
            continue
        kind = classify_hash(value)
        if kind and kind not in hints:
            hints[kind] = value.strip().lower()
    return hints


def classify_hash(value: str) -> str | None:
    text = value.strip()
    if not text or any(c not in "0123456789abcdefABCDEF" for c in text):
        return None
    return {64: "sha256", 12: "autov3", 10: "autov2"}.get(len(text))


def _reference_of(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(path, name) of a dict that names a LoRA, or (None, None)."""
    path: str | None = None
    for key in REFERENCE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not is_empty_name(value):
            path = value
            break
    file_block = data.get("file")
    if path is None and isinstance(file_block, dict):
        value = file_block.get("path")
        if isinstance(value, str) and not is_empty_name(value):
            path = value
    elif path is None and isinstance(file_block, str) and not is_empty_name(file_block):
        path = file_block
    name: str | None = None
    original = data.get("original")
    for candidate in (data.get("name"), data.get("file_name"),
                      original.get("name") if isinstance(original, dict) else None):
        if isinstance(candidate, str) and not is_empty_name(candidate):
            name = candidate
            break
    if path is None and name is not None:
        has_strength = any(key in data for key in STRENGTH_KEYS)
        if not has_strength and not set(data) <= _ENTRY_KEYS:
            return None, None  # a named object of some other kind (a CivitAI version, a model...)
    return path, name


def _is_enabled(data: dict[str, Any]) -> bool:
    for key in ENABLED_KEYS:
        if key in data and not is_switched_on(data[key]):
            return False
    return not (data.get("exclude") is True)


def _is_tuple(value: list[Any] | tuple[Any, ...]) -> bool:
    return (
        2 <= len(value) <= 3
        and isinstance(value[0], str)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value[1:])
    )


def walk_stack_data(data: Any, source: str) -> WalkOutcome:
    """Every LoRA named in `data`, in document order (depth first), disabled rows left out."""
    outcome = WalkOutcome()
    seen: set[int] = set()
    pending: list[tuple[Any, int]] = [(data, 0)]
    visited = 0
    while pending:
        value, depth = pending.pop()
        visited += 1
        if visited > MAX_OBJECTS:
            raise StackReadError("too_large", source, f"more than {MAX_OBJECTS:,} values in the stack")
        if depth > MAX_DEPTH:
            raise StackReadError(
                "too_deep", source, f"stack structures are nested deeper than {MAX_DEPTH} levels"
            )
        if isinstance(value, (dict, list, tuple)):
            if id(value) in seen:
                continue  # a shared sub-stack or a cycle: read once
            seen.add(id(value))
        children: list[Any] = []
        if isinstance(value, str):
            if is_empty_name(value):
                continue
            if len(value) > MAX_REFERENCE_LENGTH or "\n" in value:
                outcome.unrecognized += 1
                continue
            _add(outcome, source, StackEntry(index=0, name=None, path=value.strip(), strength=None, raw=value))
        elif isinstance(value, (list, tuple)):
            if _is_tuple(value):
                if not is_empty_name(value[0]):
                    _add(outcome, source, StackEntry(
                        index=0, name=None, path=value[0], strength=as_strength(value[1]),
                        clip_strength=as_float(value[2]) if len(value) > 2 else None,
                        node_type="LORA_STACK", raw=list(value),
                    ))
                continue
            outcome.containers += 1
            children = list(value)
        elif isinstance(value, dict):
            path, name = _reference_of(value)
            keys = _container_keys(value)
            is_container = bool(keys)
            if is_container and not (path and path.lower().endswith(MODEL_EXTENSIONS)):
                path = name = None  # a saved stack or recipe with a title or an image path
            if path is not None or name is not None:
                if _is_enabled(value):
                    strength_value = next((value[k] for k in STRENGTH_KEYS if k in value), None)
                    clip_value = next((value[k] for k in CLIP_KEYS if k in value), None)
                    _add(outcome, source, StackEntry(
                        index=0, name=name, path=path,
                        strength=as_strength(strength_value) if strength_value is not None else 1.0,
                        clip_strength=as_float(clip_value),
                        node_type=value.get("node_type") if isinstance(value.get("node_type"), str) else None,
                        raw=_shallow(value), hashes=hash_hints(value),
                    ))
            elif not is_container:
                outcome.unrecognized += 1
            if is_container:
                outcome.containers += 1
                children = [value[key] for key in keys]
        elif value is not None:
            outcome.unrecognized += 1
        for child in reversed(children):
            pending.append((child, depth + 1))
    return outcome


def _container_keys(value: dict[Any, Any]) -> list[Any]:
    """Keys holding nested stacks: the known ones, and any key naming a stack (`LORA_STACK`...)."""
    return [
        key for key, child in value.items()
        if isinstance(child, (list, dict))
        and isinstance(key, str) and (key in CONTAINER_KEYS or "stack" in key.lower())
    ]


def _add(outcome: WalkOutcome, source: str, entry: StackEntry) -> None:
    if len(outcome.entries) >= MAX_ENTRIES:
        raise StackReadError("too_large", source, f"more than {MAX_ENTRIES:,} LoRA entries")
    outcome.entries.append(entry)


def _shallow(value: dict[str, Any]) -> dict[str, Any]:
    """The entry's own keys, without nested stacks (they become entries of their own)."""
    return {k: v for k, v in value.items() if k not in CONTAINER_KEYS}


def dedupe_on_reference(entries: list[StackEntry]) -> list[StackEntry]:
    """Plain stack data: keep the first entry for each (path, name), order kept, re-indexed."""
    kept: list[StackEntry] = []
    keys: set[tuple[str, str]] = set()
    for entry in entries:
        key = (normalize_reference(entry.path or ""), entry.name or "")
        if key in keys:
            continue
        keys.add(key)
        kept.append(entry)
    for index, entry in enumerate(kept):
        entry.index = index
    return kept
