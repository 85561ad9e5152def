"""Stability Matrix `<name>.cm-info.json` ("connected model info", PascalCase keys). Inferred from
Stability Matrix's ConnectedModelInfo, not from a specification (FORMATS.md §3.6 names the file only).
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars.base import Fields, SidecarContext, SidecarFields, upper_hex

FORMAT = "stability_matrix"
MAPPED_KEYS = frozenset(
    {"ModelName", "ModelDescription", "Nsfw", "Tags", "ModelType", "VersionName", "TrainedWords", "BaseModel", "ModelId", "VersionId", "Hashes"}
)


def parse(path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    top = Fields(path, data)
    out = SidecarFields(format=FORMAT, path=path)
    out.name = top.str("ModelName")
    out.version = top.str("VersionName")
    out.description = top.str("ModelDescription")
    out.tags = top.str_list("Tags")
    out.trained_words = top.str_list("TrainedWords")
    out.base_model = top.str("BaseModel")
    out.model_type = top.str("ModelType")
    out.civitai_model_id = top.id("ModelId")
    out.civitai_version_id = top.id("VersionId")
    if top.bool("Nsfw"):
        out.nsfw_level = 1
    hashes = top.obj_or_none("Hashes")
    if hashes is not None:
        sha = upper_hex(hashes.str("SHA256"))
        if sha and len(sha) == 64:
            out.file_sha256 = sha
    out.extra = top.extra(MAPPED_KEYS)
    return out
