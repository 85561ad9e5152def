"""CivitAI model JSON: a saved `/models/{id}` answer (`<name>.json` or sd-civitai-browser-plus's
`<name>.api_info.json`), one model object with `modelVersions[]`. FORMATS.md §3.3, §3.5.

The version is the one whose file matches the model file beside the sidecar: by SHA-256 when a sidecar
told us the file's hash, else by file name, else the first version. A1111 keys that tools merge into
the same file ("sd version", "activation text", ...) are read too.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars import a1111
from lora_manager_gui.core.sidecars.base import Fields, InvalidMetadataError, SidecarContext, SidecarFields
from lora_manager_gui.core.sidecars.civitai_version import apply_version, version_matches

FORMAT = "civitai_model"
MAPPED_KEYS = frozenset(
    {
        "id", "name", "description", "tags", "creator", "modelVersions", "stats", "supportsGeneration",
        "nsfwLevel", "type", "availability",
    }
) | a1111.MAPPED_KEYS


def is_model_object(data: Any) -> bool:
    return isinstance(data, dict) and "modelVersions" in data


def select_version(top: Fields, ctx: SidecarContext) -> tuple[Fields, list[Fields]]:
    """The version of the local file, and its `files` (read once: apply_version needs them too)."""
    versions = top.list_of_objects("modelVersions")
    if not versions:
        raise InvalidMetadataError(top.path, "field 'modelVersions' is empty: the file names no model version")
    by_name = first = None
    for version in versions:
        files = version.list_of_objects("files")
        hash_match, name_match = version_matches(version, ctx, files)
        if hash_match:
            return version, files
        if name_match and by_name is None:
            by_name = version, files
        if first is None:
            first = version, files
    assert first is not None
    return by_name or first


def parse(path: str, data: Any, ctx: SidecarContext, *, fmt: str = FORMAT) -> SidecarFields:
    top = Fields(path, data)
    out = SidecarFields(format=fmt, path=path)
    out.name = top.str("name", required=True)
    out.civitai_model_id = top.id("id")
    out.description = top.str("description")
    out.tags = top.str_list("tags", named_objects=True)
    creator = top.obj_or_none("creator")
    if creator is not None:
        out.author_username = creator.str("username")
    out.stats = top.dict("stats")
    out.supports_generation = top.bool("supportsGeneration")
    out.nsfw_level = top.int("nsfwLevel")
    out.model_type = top.str("type")
    out.visibility = top.str("availability")
    version, files = select_version(top, ctx)
    apply_version(out, version, files)
    if not out.description:
        out.description = version.str("description")
    a1111.apply_a1111_keys(out, top)
    out.extra = top.extra(MAPPED_KEYS)
    return out


def parse_api_info(path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    """sd-civitai-browser-plus's `.api_info.json`: a model object under its own format name."""
    return parse(path, data, ctx, fmt="civitai_api_info")
