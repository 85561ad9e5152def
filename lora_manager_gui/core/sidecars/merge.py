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
_MERGED_SET = frozenset(_MERGED)
_EMPTY = (None, "", [], {})  # `value in _EMPTY` is is_empty(value): identity or equality with each


def rank(fmt: str) -> int:
    return PRECEDENCE.index(fmt) if fmt in PRECEDENCE else len(PRECEDENCE)


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge(sources: list[SidecarFields]) -> SidecarFields:
    """One SidecarFields from many (at least one); `format`/`path` are those of the best source."""
    return merge_one(sources[0]) if len(sources) == 1 else merge_many(sources)


def merge_many(sources: list[SidecarFields]) -> SidecarFields:
    """The general merge, for any number of sources (at least one)."""
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


def merge_one(source: SidecarFields) -> SidecarFields:
    """What `merge([source])` gives, without searching each field through a list of sources: most
    groups have one sidecar, and the search was the largest part of parsing them. Empty values still
    fall back to the field's default, and the lists and dicts the general path builds anew are new here
    too (tests/core/test_sidecar_parsers.py compares both paths)."""
    # `value or ...`: a true value is never empty, and most filled values are true, so the slower
    # comparison with each empty value is left to the false ones (0 and False are not empty).
    filled = {name: value for name, value in vars(source).items() if name in _MERGED_SET and (value or value not in _EMPTY)}
    out = SidecarFields(format=source.format, path=source.path, **filled)
    out.extra = dict(source.extra)
    out.model_file_names = list(dict.fromkeys(source.model_file_names))  # names are strings: hashable
    out.not_on_civitai = bool(source.not_on_civitai)
    return out
