"""Parsers of the metadata files that sit beside model files (FORMATS.md §3), one module per format.

`registry.FORMATS` is the one table of formats (suffixes, parser, precedence, display name).
`sidecar_kind(name)` classifies a file name; `parse_sidecar(kind, path, data, ctx)` dispatches on the
kind and, for a plain `.json`, on the content (a CivitAI model object has `modelVersions`, a version
object has `modelId` and `model`; anything else is A1111 user metadata).
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars.base import SidecarContext, SidecarFields
from lora_manager_gui.core.sidecars.registry import NOT_SIDECAR_SUFFIXES, SIDECAR_SUFFIXES, format_of_kind


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
    parser = format_of_kind(kind, data).parser
    assert parser is not None  # every format a file kind names has one
    return parser(path, data, ctx)


__all__ = ["SIDECAR_SUFFIXES", "SidecarContext", "SidecarFields", "parse_sidecar", "sidecar_kind"]
