"""LoRA names and references: stems, separators, empty slots, strengths as numbers."""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

MODEL_EXTENSIONS = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
EMPTY_NAMES = frozenset({"", "none", "null"})
_SEPARATORS = re.compile(r"[\\/]+")


def is_empty_name(value: Any) -> bool:
    """True for the values that mean "no LoRA in this slot": None, "", "None", "none"."""
    if value is None:
        return True
    if not isinstance(value, str):
        return True
    return value.strip().lower() in EMPTY_NAMES


def split_reference(ref: str) -> list[str]:
    """Split a path written with `/` or `\\` (or both) into its parts."""
    return [part for part in _SEPARATORS.split(ref.strip()) if part]


def strip_model_extension(name: str) -> str:
    """Remove a known model-file extension only; `flux.1_lora` keeps its dot."""
    lowered = name.lower()
    for ext in MODEL_EXTENSIONS:
        if lowered.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return name


@lru_cache(maxsize=8192)  # a big stack names the same few LoRAs again and again
def lora_stem(ref: str) -> str:
    """`WanVideo\\Lightx2v\\foo.safetensors` -> `foo`; `wan/foo` -> `foo`; `flux.1-x` -> `flux.1-x`."""
    parts = split_reference(ref)
    if not parts:
        return ""
    return strip_model_extension(parts[-1])


def normalize_reference(ref: str) -> str:
    """A comparable form of a reference: `/` separators, no leading `./`, case kept."""
    return "/".join(part for part in split_reference(ref) if part != ".")


def as_strength(value: Any) -> float | list[float] | None:
    """A finite float, a list of finite floats, or None when the value is not a usable number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, (list, tuple)) and value:
        numbers = [as_strength(item) for item in value]
        if all(isinstance(item, float) for item in numbers):
            return numbers  # type: ignore[return-value]
    return None


def as_float(value: Any) -> float | None:
    number = as_strength(value)
    return number if isinstance(number, float) else None


def is_switched_on(value: Any) -> bool:
    """Row switches as the nodes store them: True, "On", "on", "true", 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("on", "true", "yes", "1", "enabled")
    return False
