"""A1111 infotext (`parameters`): `<lora:name:weight>` tags in the prompt and their `Lora hashes`.

The prompt is everything before the `Negative prompt:` line (or before the settings line); A1111
applies LoRA tags from the positive prompt only. `Lora hashes: "alias: shorthash, ..."` gives each
alias its 12-hex short hash, which is the CivitAI AutoV3. Files written by other savers that list
`Lora_0 Model name: ..., Lora_0 Strength model: ...` instead of tags are read too, with the hashes
from their `Hashes: {"lora:<name>": ...}` field.
"""
from __future__ import annotations

import json
import re

from lora_manager_gui.core.stacks.loratags import find_lora_tags
from lora_manager_gui.core.stacks.model import StackEntry, StackReadResult
from lora_manager_gui.core.stacks.names import as_float, as_strength, lora_stem, strip_model_extension
from lora_manager_gui.core.stacks.walk import classify_hash

# modules/infotext_utils.py: a key, a colon, then a JSON-quoted string or text up to the next comma.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SETTINGS_HINT = re.compile(r"(^|,\s*)(Steps|Sampler|Seed|CFG scale|Size|Model|Lora hashes|Hashes): ", re.M)
_LORA_N = re.compile(r"^Lora_(\d+) (Model name|Model hash|Strength model|Strength clip)$")
MAX_TEXT = 4 * 1024 * 1024


def looks_like_parameters(text: str) -> bool:
    return bool(_SETTINGS_HINT.search(text)) or "<lora:" in text.lower() or "<lyco:" in text.lower()


def split_infotext(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, settings) of an infotext."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    last = lines[-1] if lines else ""
    if len(_PARAM.findall(last)) >= 3 or _SETTINGS_HINT.search(last):
        lines = lines[:-1]
        for key, value in _PARAM.findall(last):
            value = value.strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
            settings[key.strip()] = str(value)
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:"):].lstrip()
        target.append(line)
    return "\n".join(prompt_lines), "\n".join(negative_lines), settings


def lora_hashes(settings: dict[str, str]) -> dict[str, dict[str, str]]:
    """alias (lower-case) -> {kind: hash} from `Lora hashes` and the JSON `Hashes` field."""
    hashes: dict[str, dict[str, str]] = {}
    for pair in settings.get("Lora hashes", "").split(","):
        alias, _, value = pair.rpartition(":")
        kind = classify_hash(value.strip())
        if alias.strip() and kind:
            # A1111's short hash is the first 12 hex of the hash after the header: AutoV3.
            hashes.setdefault(alias.strip().lower(), {})["autov3" if kind == "autov3" else kind] = \
                value.strip().lower()
    raw = settings.get("Hashes")
    if raw:
        try:
            table = json.loads(raw)
        except ValueError:
            table = None
        if isinstance(table, dict):
            for key, value in table.items():
                if isinstance(key, str) and key.lower().startswith("lora:") and isinstance(value, str):
                    kind = classify_hash(value)
                    if kind:
                        alias = strip_model_extension(key[5:].strip()).lower()
                        hashes.setdefault(alias, {}).setdefault(kind, value.strip().lower())
    return hashes


def read_parameters(text: str, source: str) -> StackReadResult:
    text = text[:MAX_TEXT]
    prompt, _negative, settings = split_infotext(text)
    hashes = lora_hashes(settings)
    entries: list[StackEntry] = []
    seen: set[str] = set()
    for tag in find_lora_tags(prompt, style="a1111"):
        key = tag.name.lower()
        if key in seen:
            continue  # A1111 applies a repeated tag once
        seen.add(key)
        entries.append(StackEntry(
            index=len(entries), name=tag.name, path=None, strength=tag.strength,
            clip_strength=tag.clip_strength, node_type="a1111", raw=tag.raw,
            hashes=dict(hashes.get(key, hashes.get(lora_stem(tag.name).lower(), {})))))
    slots: dict[int, dict[str, str]] = {}
    for key, value in settings.items():
        match = _LORA_N.match(key)
        if match:
            slots.setdefault(int(match.group(1)), {})[match.group(2)] = value
    for number in sorted(slots):
        slot = slots[number]
        name = slot.get("Model name", "").strip()
        stem = lora_stem(name).lower()
        if not name or stem in seen:
            continue
        seen.add(stem)
        hint = dict(hashes.get(stem, {}))
        kind = classify_hash(slot.get("Model hash", ""))
        if kind:
            hint.setdefault(kind, slot["Model hash"].strip().lower())
        strength = as_strength(slot.get("Strength model", "1"))
        entries.append(StackEntry(
            index=len(entries), name=None, path=name, strength=strength,
            clip_strength=as_float(slot.get("Strength clip")), node_type="a1111", raw=slot, hashes=hint))
    return StackReadResult(source=source, format="a1111_parameters", entries=entries)
