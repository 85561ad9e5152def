"""CivitAI model-version objects: Civitai Helper's `<name>.civitai.info` (the by-hash answer), and the
version parts shared with the model JSON and Lora Manager's `civitai` key. FORMATS.md §3.2, §3.5.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars.base import Fields, SidecarContext, SidecarFields, upper_hex
from lora_manager_gui.core.sidecars.preview_images import images_of

FORMAT = "civitai_info"

VERSION_KEYS = frozenset(
    {
        "id", "modelId", "name", "publishedAt", "trainedWords", "baseModel", "files", "stats", "model",
        "creator", "description", "nsfwLevel", "availability", "downloadUrl",
    }
)


def is_version_object(data: Any) -> bool:
    """A CivitAI model-version object: `modelId` and a `model` object."""
    return isinstance(data, dict) and "modelId" in data and isinstance(data.get("model"), dict)


def primary_file(files: list[Fields]) -> Fields | None:
    """`primary: true`, else the largest file (by sizeKB)."""
    for f in files:
        if f.bool("primary"):
            return f
    best, best_size = None, -1.0
    for f in files:
        size = f.float("sizeKB") or 0.0
        if size > best_size:
            best, best_size = f, size
    return best


def file_sha256(file: Fields) -> str | None:
    hashes = file.obj_or_none("hashes")
    return upper_hex(hashes.str("SHA256")) if hashes else None


def version_matches(version: Fields, ctx: SidecarContext, files: list[Fields] | None = None) -> tuple[bool, bool]:
    """(matches by SHA-256, matches by file name) of the local model file. `files`: the version's
    `files`, when the caller has them already."""
    by_hash = by_name = False
    for f in version.list_of_objects("files") if files is None else files:
        if ctx.file_sha256 and file_sha256(f) == ctx.file_sha256:
            by_hash = True
        name = f.str("name")
        if name and name.lower() in ctx.model_file_names:
            by_name = True
    return by_hash, by_name


def apply_version(out: SidecarFields, version: Fields, files: list[Fields] | None = None) -> None:
    """Fill what a version object says (the version, its files, trained words, base model, ids).
    `files`: the version's `files`, when the caller has them (and so has checked them) already."""
    out.version = version.str("name")
    out.civitai_version_id = version.id("id")
    out.civitai_model_id = out.civitai_model_id or version.id("modelId")
    out.published_at = version.str("publishedAt")
    out.trained_words = version.str_list("trainedWords")
    out.base_model = version.str("baseModel")
    if out.nsfw_level is None:
        out.nsfw_level = version.int("nsfwLevel")
    if files is None:
        files = version.list_of_objects("files")
    primary = primary_file(files)
    if primary is not None:
        out.primary_file_name = primary.str("name")
        out.primary_file_size_kb = primary.float("sizeKB")
        out.primary_file_sha256 = file_sha256(primary)
        out.primary_file_download_url = primary.str("downloadUrl") or version.str("downloadUrl")
    out.model_file_names = [n for n in (f.str("name") for f in files) if n]
    images = version.obj.get("images")
    if images:
        out.preview_images = images_of(images, lambda: version.where + "images", out.problems)


def parse_version_object(path: str, data: Any, ctx: SidecarContext, *, fmt: str = FORMAT) -> SidecarFields:
    """A version object on its own (.civitai.info, or the `civitai` key of Lora Manager's file)."""
    out = SidecarFields(format=fmt, path=path)
    if isinstance(data, dict) and (not data or data.get("skeleton_file") is True):
        out.not_on_civitai = True  # Civitai Helper's "looked it up, not on CivitAI"
        out.extra = {k: v for k, v in data.items()}
        return out
    top = Fields(path, data)
    apply_version(out, top)
    out.stats = top.dict("stats")
    model = top.obj_or_none("model")
    if model is not None:
        out.name = model.str("name")
        out.model_type = model.str("type")
        out.description = model.str("description")
        out.tags = model.str_list("tags", named_objects=True)
        if out.nsfw_level is None and model.bool("nsfw"):
            out.nsfw_level = 1
    out.description = out.description or top.str("description")
    creator = top.obj_or_none("creator")
    if creator is not None:
        out.author_username = creator.str("username")
    out.visibility = top.str("availability")
    out.extra = top.extra(VERSION_KEYS)
    return out
