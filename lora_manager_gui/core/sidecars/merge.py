"""Merging what several sidecars say about one model file, with a fixed precedence.

Highest first (documented in docs/architecture.md):
  1. Lora Manager `.metadata.json`  - the user's library tool, with the local file's own SHA-256
  2. CivitAI model JSON (`.api_info.json`, or `.json` holding `modelVersions`) - the full model object
  3. Civitai Helper `.civitai.info`  - one version object
  4. Stability Matrix `.cm-info.json`
  5. A1111 `.json`                   - user notes, activation text, sd version
  6. the safetensors header          - base model only
Per field, the first source with a non-empty value wins: an empty value never erases a filled one.
`extra` is the union of every source's unmapped keys, higher precedence winning on a clash.
"""
from __future__ import annotations

from dataclasses import fields

from lora_manager_gui.core.sidecars.base import SidecarFields

PRECEDENCE: tuple[str, ...] = (
    "lora_manager",
    "civitai_model",
    "civitai_api_info",
    "civitai_info",
    "stability_matrix",
    "a1111",
    "safetensors_header",
)
_SKIP = {"format", "path", "extra", "not_on_civitai", "model_file_names"}
_MERGED = tuple(f.name for f in fields(SidecarFields) if f.name not in _SKIP)


def rank(fmt: str) -> int:
    return PRECEDENCE.index(fmt) if fmt in PRECEDENCE else len(PRECEDENCE)


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge(sources: list[SidecarFields]) -> SidecarFields:
    """One SidecarFields from many (at least one); `format`/`path` are those of the best source."""
    ordered = sorted(sources, key=lambda s: rank(s.format))
    best = ordered[0]
    out = SidecarFields(format=best.format, path=best.path)
    for name in _MERGED:
        for source in ordered:
            value = getattr(source, name)
            if not is_empty(value):
                setattr(out, name, value)
                break
    extra: dict[str, object] = {}
    names: list[str] = []
    for source in reversed(ordered):
        extra.update(source.extra)
    for source in ordered:
        names.extend(n for n in source.model_file_names if n not in names)
    out.extra = extra
    out.model_file_names = names
    out.not_on_civitai = all(s.not_on_civitai for s in ordered)
    return out
