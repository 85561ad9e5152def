"""A1111 user metadata `<name>.json` (FORMATS.md §3.1), with the keys sd-civitai-browser-plus adds
(§3.3: modelId, modelVersionId, sha256 in upper case, "Model not found" as ids after a 404).
"""
from __future__ import annotations

import re
from typing import Any

from lora_manager_gui.core.sidecars.base import Fields, SidecarContext, SidecarFields, upper_hex

FORMAT = "a1111"
MAPPED_KEYS = frozenset(
    {"description", "notes", "sd version", "activation text", "preferred weight", "modelId", "modelVersionId", "sha256"}
)


_COMMA = re.compile(r"\s*,\s*")


def split_activation_text(text: str) -> list[str]:
    """A1111's activation text as trigger words: split at commas as its editor does (" *, *")."""
    return list(dict.fromkeys(w for w in (" ".join(p.split()) for p in _COMMA.split(text)) if w))


def apply_a1111_keys(out: SidecarFields, top: Fields) -> None:
    out.description = out.description or top.str("description")
    out.notes = top.str("notes")
    out.sd_version = top.str("sd version")
    out.activation_text = top.str("activation text")
    if out.activation_text and not out.trained_words:
        out.trained_words = split_activation_text(out.activation_text)
    weight = top.float("preferred weight")
    out.weight = weight if weight else None  # 0 means "the default" in A1111
    out.civitai_model_id = out.civitai_model_id or top.id("modelId")
    out.civitai_version_id = out.civitai_version_id or top.id("modelVersionId")
    sha = upper_hex(top.str("sha256"))
    if sha and len(sha) == 64:
        out.file_sha256 = sha


def parse(path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    top = Fields(path, data)
    out = SidecarFields(format=FORMAT, path=path)
    apply_a1111_keys(out, top)
    out.extra = top.extra(MAPPED_KEYS)
    return out
