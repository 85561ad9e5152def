"""Parsers of the metadata files that sit beside model files (FORMATS.md §3), one module per format.

`sidecar_kind(name)` classifies a file name; `parse_sidecar(kind, path, data, ctx)` dispatches on the
kind and, for a plain `.json`, on the content (a CivitAI model object has `modelVersions`, a version
object has `modelId` and `model`; anything else is A1111 user metadata).
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars import a1111, civitai_model, civitai_version, lora_manager, stability_matrix
from lora_manager_gui.core.sidecars.base import SidecarContext, SidecarFields

# (lower-case suffix, kind), longest first: the first that matches a file name wins.
SIDECAR_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".metadata.json", "lora_manager"),
    (".civitai.info", "civitai_info"),
    (".api_info.json", "civitai_api_info"),
    (".cm-info.json", "stability_matrix"),
    (".json", "json"),
)
# Files that look like sidecars but are not (Lora Manager recipes, ...).
NOT_SIDECAR_SUFFIXES: tuple[str, ...] = (".recipe.json", ".lora_json.json")


def sidecar_kind(name: str) -> tuple[str, str] | None:
    """(kind, base name) of a sidecar file name, or None."""
    lower = name.lower()
    if lower.endswith(NOT_SIDECAR_SUFFIXES):
        return None
    for suffix, kind in SIDECAR_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return kind, name[: -len(suffix)]
    return None


def parse_sidecar(kind: str, path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    if kind == "lora_manager":
        return lora_manager.parse(path, data, ctx)
    if kind == "civitai_info":
        return civitai_version.parse_version_object(path, data, ctx)
    if kind == "civitai_api_info":
        return civitai_model.parse(path, data, ctx, fmt="civitai_api_info")
    if kind == "stability_matrix":
        return stability_matrix.parse(path, data, ctx)
    if civitai_model.is_model_object(data):
        return civitai_model.parse(path, data, ctx)
    if isinstance(data, dict) and "modelId" in data and isinstance(data.get("model"), dict):
        return civitai_version.parse_version_object(path, data, ctx)
    return a1111.parse(path, data, ctx)


__all__ = ["SIDECAR_SUFFIXES", "SidecarContext", "SidecarFields", "parse_sidecar", "sidecar_kind"]
