"""`<lora:name:weight>` tags, read the way A1111 reads them or the way Lora Manager does.

The two disagree on a second number: A1111 reads `<lora:name:te:unet>` (text encoder first, so the
model strength is the second number), Lora Manager reads `<lora:name:model:clip>`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lora_manager_gui.core.stacks.names import as_float, is_empty_name

_TAG = re.compile(r"<(lora|lyco):([^<>]*)>", re.IGNORECASE)
MAX_TAGS = 10_000


@dataclass(frozen=True)
class LoraTag:
    name: str
    strength: float | None
    clip_strength: float | None
    raw: str


def find_lora_tags(text: str, *, style: str = "a1111") -> list[LoraTag]:
    """Every LoRA tag in `text`, in order. `style` is "a1111" or "lora_manager"."""
    if style not in ("a1111", "lora_manager"):
        raise ValueError(f"unknown tag style {style!r}")
    tags: list[LoraTag] = []
    for match in _TAG.finditer(text):
        if len(tags) >= MAX_TAGS:
            break
        parts = [part.strip() for part in match.group(2).split(":")]
        name = parts[0] if parts else ""
        if is_empty_name(name):
            continue
        positional: list[str] = []
        named: dict[str, str] = {}
        for part in parts[1:]:
            key, eq, value = part.partition("=")
            if eq:
                named[key.strip().lower()] = value.strip()
            else:
                positional.append(part)
        first = as_float(positional[0]) if positional else None
        second = as_float(positional[1]) if len(positional) > 1 else None
        if style == "lora_manager":
            model = first if first is not None else 1.0
            clip = second if second is not None else model
        else:
            te = as_float(named["te"]) if "te" in named else first
            te = te if te is not None else 1.0
            unet = as_float(named["unet"]) if "unet" in named else second
            model = unet if unet is not None else te
            clip = te
        tags.append(LoraTag(name=name, strength=model, clip_strength=clip, raw=match.group(0)))
    return tags
