"""Lora Manager's `<name>.metadata.json` (FORMATS.md §3.4). Its `civitai` key is a version object
enriched with model data; `file_path` is an absolute path from the machine that wrote it and is never
used to find files; `file_name` (a stem) is, only as a plain name beside the sidecar.
"""
from __future__ import annotations

import json
from typing import Any

from lora_manager_gui.core.sidecars.base import Fields, SidecarContext, SidecarFields, upper_hex
from lora_manager_gui.core.sidecars.civitai_version import parse_version_object
from lora_manager_gui.core.sidecars.preview_images import add_images, images_of, preview_image, web_url

FORMAT = "lora_manager"
MAPPED_KEYS = frozenset(
    {"model_name", "file_name", "sha256", "base_model", "tags", "modelDescription", "notes", "civitai", "trainedWords"}
)


def parse(path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    top = Fields(path, data)
    sha = upper_hex(top.str("sha256"))
    file_sha = sha if sha and len(sha) == 64 else None
    civitai = top.get("civitai")
    if isinstance(civitai, dict) and civitai:
        inner_ctx = SidecarContext(ctx.model_file_names, file_sha or ctx.file_sha256)
        out = parse_version_object(path, civitai, inner_ctx, fmt=FORMAT)
        out.extra = {}
        out.not_on_civitai = False
    elif civitai is None or civitai == {}:
        out = SidecarFields(format=FORMAT, path=path)
    else:
        top.obj_or_none("civitai")  # raises the typed error
        raise AssertionError("unreachable")
    out.name = top.str("model_name") or out.name
    out.base_model = top.str("base_model") or out.base_model
    out.tags = top.str_list("tags") or out.tags
    out.description = top.str("modelDescription") or out.description
    out.notes = top.str("notes")
    out.trained_words = out.trained_words or top.str_list("trainedWords")
    out.file_sha256 = file_sha
    if file_sha:
        out.primary_file_sha256 = file_sha  # the hash of the local file, not of some other upload
    file_name = top.str("file_name")
    if file_name:
        out.model_file_names = [file_name] + out.model_file_names
    out.weight = _usage_strength(top.get("usage_tips"))
    if isinstance(civitai, dict) and civitai.get("customImages"):  # a local-only model's own images
        custom = images_of(civitai["customImages"], lambda: "civitai.customImages", out.problems)
        out.preview_images = add_images(list(out.preview_images), custom)
    preview = web_url(top.get("preview_url"))  # usually a local path, which the previews service finds itself
    if preview is not None:
        out.preview_images = add_images([preview_image(preview, None, top.get("preview_nsfw_level"))], out.preview_images)
    out.extra = top.extra(MAPPED_KEYS)
    return out


def _usage_strength(raw: Any) -> float | None:
    """usage_tips is a JSON *string* ("{\"strength\": 0.65}"); a malformed one is ignored, kept in extra."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        tips = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    value = tips.get("strength") if isinstance(tips, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:  # NaN fails too
        return None
    return float(value)
