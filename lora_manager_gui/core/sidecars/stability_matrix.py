"""Stability Matrix `<name>.cm-info.json` ("connected model info", PascalCase keys), as its
`ConnectedModelInfo` writes it (LykosAI/StabilityMatrix `StabilityMatrix.Core/Models/ConnectedModelInfo.cs`,
System.Text.Json with default names): ModelId, ModelName, ModelDescription, Nsfw, Tags, ModelType,
VersionId, VersionName, VersionDescription, AuthorUsername, BaseModel, RemoteFileName, RemoteFileId,
FileMetadata {fp, size, format}, ImportedAt, Hashes {SHA256, CRC32, BLAKE3}, TrainedWords,
Stats {downloadCount, ratingCount, rating, favoriteCount, commentCount, thumbsUpCount}, UserTitle,
ThumbnailImageUrl, InferenceDefaults, Source.

`Hashes` are CivitAI's hashes of the file Stability Matrix downloaded, i.e. of the local file: its
SHA-256 picks the version of a model JSON beside it and is stored (primary_file_sha256, and the
group's file_sha256 for the hash cache), so the file need not be hashed again to be identified.
"""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.sidecars.base import Fields, SidecarContext, SidecarFields, upper_hex
from lora_manager_gui.core.sidecars.preview_images import preview_image, web_url

FORMAT = "stability_matrix"
MAPPED_KEYS = frozenset(
    {"ModelName", "ModelDescription", "Nsfw", "Tags", "ModelType", "VersionName", "TrainedWords", "BaseModel",
     "ModelId", "VersionId", "Hashes", "AuthorUsername", "RemoteFileName", "VersionDescription", "Stats",
     "ThumbnailImageUrl"}
)
# CivitModelType, in declaration order: what an integer ModelType (an enum written as a number) means.
_MODEL_TYPES = ("Unknown", "Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA",
                "Controlnet", "Poses", "Model", "LoCon", "All")


def _model_type(top: Fields) -> str | None:
    value = top.get("ModelType")
    if type(value) is int:
        name = _MODEL_TYPES[value] if 0 <= value < len(_MODEL_TYPES) else None
    else:
        name = top.str("ModelType")
    return None if name in (None, "Unknown", "All") else name


def parse(path: str, data: Any, ctx: SidecarContext) -> SidecarFields:
    top = Fields(path, data)
    out = SidecarFields(format=FORMAT, path=path)
    out.name = top.str("ModelName")
    out.version = top.str("VersionName")
    version_description = top.str("VersionDescription")
    out.description = top.str("ModelDescription") or version_description
    out.author_username = top.str("AuthorUsername")
    out.tags = top.str_list("Tags")
    out.trained_words = top.str_list("TrainedWords")
    out.base_model = top.str("BaseModel")
    out.model_type = _model_type(top)
    out.civitai_model_id = top.id("ModelId")
    out.civitai_version_id = top.id("VersionId")
    out.stats = top.dict("Stats")
    if top.bool("Nsfw"):
        out.nsfw_level = 1
    hashes = top.obj_or_none("Hashes")
    if hashes is not None:
        sha = upper_hex(hashes.str("SHA256"))
        if sha and len(sha) == 64:
            out.file_sha256 = sha
            out.primary_file_sha256 = sha  # the hash of the local file, as CivitAI listed it
    remote = top.str("RemoteFileName")
    if remote:
        out.primary_file_name = remote
        out.model_file_names = [remote]
    thumbnail = web_url(top.get("ThumbnailImageUrl"))
    if thumbnail is not None:
        out.preview_images = [preview_image(thumbnail)]  # its NSFW level is not known
    out.extra = top.extra(MAPPED_KEYS)
    if version_description and out.description != version_description:
        out.extra["VersionDescription"] = version_description  # no column of its own: kept beside the model's
    return out
