"""What a safetensors header says about a LoRA (kohya `ss_*` and `modelspec.*`, FORMATS.md §4):
the lowest-precedence source, and the whole source for "import this orphan from its header".
"""
from __future__ import annotations

import os
from lora_manager_gui.core.safetensors import SafetensorsHeader
from lora_manager_gui.core.sidecars.base import SidecarFields, upper_hex
from lora_manager_gui.core.sidecars.base_models import normalize_base_model
from lora_manager_gui.core.sidecars.training_tags import rank_training_tags
from lora_manager_gui.core.sidecars.validation import repair_text

FORMAT = "safetensors_header"
MAX_SUGGESTED_TAGS = 10

# kohya's ss_base_model_version and modelspec.architecture prefixes, mapped to CivitAI's base model names
# and A1111's "sd version". Longer prefixes before the shorter ones they start with.
_BASE_MODELS = (
    ("sdxl", "SDXL 1.0", "SDXL"),
    ("stable-diffusion-xl", "SDXL 1.0", "SDXL"),
    ("sd_v2_v", "SD 2.1 768", "SD2"),
    ("sd_v2", "SD 2.1", "SD2"),
    ("stable-diffusion-v2", "SD 2.1", "SD2"),
    ("sd_v1", "SD 1.5", "SD1"),
    ("stable-diffusion-v1", "SD 1.5", "SD1"),
    ("sd3", "SD 3", "SD3"),
    ("stable-diffusion-v3", "SD 3", "SD3"),
    ("flux-1-dev", "Flux.1 D", None),
    ("flux-1-schnell", "Flux.1 S", None),
    ("flux1", "Flux.1 D", None),
    ("flux", "Flux.1 D", None),
    ("chroma", "Chroma", None),
    ("lumina2", "Lumina", None),
    ("hunyuan-image", "HunyuanImage", None),
    ("wan", "Wan Video", None),
)


def base_model_of(metadata: dict[str, str]) -> tuple[str | None, str | None]:
    """(CivitAI base model, A1111 sd version) from the header metadata, or Nones.

    As A1111 reads a kohya header: `ss_v2 == "True"` is SD 2, and a full kohya header (it has `ss_v2`)
    that names no base model (written before `ss_base_model_version` existed, when kohya trained SD 1
    and 2 only) is SD 1.5. A header with only `--no_metadata`'s minimum keys says nothing."""
    for key in ("ss_base_model_version", "modelspec.architecture"):
        value = metadata.get(key)
        raw = value.strip().lower() if isinstance(value, str) else ""
        if not raw or raw == "none":
            continue
        for prefix, base, sd_version in _BASE_MODELS:
            if raw.startswith(prefix):
                return base, sd_version
        return normalize_base_model(value), None
    if metadata.get("ss_v2") == "True":
        return ("SD 2.1 768", "SD2") if metadata.get("ss_v_parameterization") == "True" else ("SD 2.1", "SD2")
    if metadata.get("ss_v2") == "False":
        return "SD 1.5", "SD1"
    return None, None


def suggested_triggers(header: SafetensorsHeader, limit: int = MAX_SUGGESTED_TAGS) -> list[str]:
    """modelspec.trigger_phrase if set, else the training tags ranked by rank_training_tags."""
    phrase = header.metadata.get("modelspec.trigger_phrase")
    phrase = phrase.strip() if isinstance(phrase, str) else ""
    if phrase:
        return [p.strip() for p in phrase.split(",") if p.strip()][:limit]
    return rank_training_tags(header.metadata_json("ss_tag_frequency"), header.metadata_json("ss_dataset_dirs"), limit)


def _text(meta: dict[str, str], key: str) -> str:
    """A metadata value, trimmed, "" for none; lone surrogates (JSON escapes can hold them) repaired."""
    value = meta.get(key)
    return repair_text(value.strip()) if isinstance(value, str) else ""


def header_fields(path: str, header: SafetensorsHeader, *, full: bool) -> SidecarFields:
    """With `full`, everything usable (name, triggers, description); else only the base model."""
    meta = header.metadata
    out = SidecarFields(format=FORMAT, path=path)
    base, out.sd_version = base_model_of(meta)
    out.base_model = repair_text(base) if base else None
    if not full:
        return out
    stem = os.path.splitext(os.path.basename(path))[0]
    title = _text(meta, "modelspec.title")
    output_name = _text(meta, "ss_output_name")
    out.name = title or (output_name if output_name and output_name != "None" else "") or stem
    out.description = _text(meta, "modelspec.description") or None
    out.author_username = _text(meta, "modelspec.author") or None
    out.trained_words = [repair_text(t) for t in suggested_triggers(header)]
    tags = _text(meta, "modelspec.tags")
    out.tags = [t.strip() for t in tags.split(",") if t.strip()] if tags else []
    sha = upper_hex(_text(meta, "modelspec.hash_sha256").removeprefix("0x"))
    if sha and len(sha) == 64:
        out.extra["modelspec.hash_sha256"] = sha  # embedded hashes can be wrong: kept, never trusted
    for key in ("ss_network_module", "ss_network_dim", "ss_network_alpha", "ss_sd_model_name", "modelspec.architecture"):
        value = _text(meta, key)
        if value and value != "None":
            out.extra[key] = value
    return out
