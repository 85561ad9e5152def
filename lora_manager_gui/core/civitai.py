"""What the library shows about a file identified on CivitAI, built from the stored JSON (CIVITAI_API.md §2, §3, §8, §9).

The answers themselves are validated into records by `core/civitai_records.py` before anything is
stored; this module reads the stored JSON back for display, tolerantly:

Unknown keys are ignored; absent images/trainedWords/description/hashes mean empty; a null
downloadCount stays None; `files: []` (archived) and null batch items are expected; the huge
`images[].meta.comfy` string is stripped before anything is stored; allowCommercialUse comes as a
string, an array or a Postgres array literal and is normalised to a list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lora_manager_gui.core.civitai_errors import CivitaiMalformedResponseError
from lora_manager_gui.core.civitai_records import CivitaiImage
from lora_manager_gui.core.civitai_records import parse_images as _parse_images

# nsfwLevel bits (src/server/common/enums.ts)
NSFW_PG, NSFW_PG13, NSFW_R, NSFW_X, NSFW_XXX, NSFW_BLOCKED = 1, 2, 4, 8, 16, 32
NSFW_NAMES = {NSFW_PG: "PG", NSFW_PG13: "PG13", NSFW_R: "R", NSFW_X: "X", NSFW_XXX: "XXX", NSFW_BLOCKED: "Blocked"}


@dataclass
class CivitaiInfo:
    model_id: int | None
    version_id: int
    model_name: str
    version_name: str
    creator: str | None
    tags: list[str]
    stats: dict[str, Any]
    nsfw_level: int
    trained_words: list[str]
    base_model: str | None
    description_html: str | None  # the version's description
    model_description_html: str | None
    preview_url: str | None
    download_url: str | None
    fetched_at: datetime
    model_type: str | None = None
    model_stats: dict[str, Any] = field(default_factory=dict)
    allow_commercial_use: list[str] = field(default_factory=list)
    allow_no_credit: bool | None = None
    allow_derivatives: bool | None = None
    allow_different_license: bool | None = None
    images: list[CivitaiImage] = field(default_factory=list)
    sha256: str | None = None
    matched_by: str | None = None  # 'sha256' or 'autov3'
    has_model_data: bool = False  # False until /models answered (creator, tags, licence)

    @property
    def autov2(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["fetched_at"] = self.fetched_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return data


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def normalise_commercial_use(value: Any) -> list[str]:
    """allowCommercialUse as a list, from "Sell", ["Image", "Rent"] or "{Image,RentCivit}" / "{}"."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        return [part.strip().strip('"') for part in text.split(",") if part.strip().strip('"')]
    return []


def is_version_object(data: Any) -> bool:
    return isinstance(data, dict) and _int(data.get("id")) is not None and "modelVersions" not in data


def file_sha256s(version: dict[str, Any]) -> list[str]:
    """Every files[].hashes.SHA256 of a version, upper-case (missing hashes skipped)."""
    found: list[str] = []
    for f in version.get("files") or []:
        if not isinstance(f, dict):
            continue
        sha = _dict(f.get("hashes")).get("SHA256")
        if isinstance(sha, str) and len(sha.strip()) == 64:
            found.append(sha.strip().upper())
    return found


def file_autov3s(version: dict[str, Any]) -> list[str]:
    found = []
    for f in version.get("files") or []:
        v3 = _dict(_dict(f).get("hashes")).get("AutoV3") if isinstance(f, dict) else None
        if isinstance(v3, str) and v3.strip():
            found.append(v3.strip().upper())
    return found


def parse_images(version: dict[str, Any]) -> list[CivitaiImage]:
    return list(_parse_images(version.get("images"))) if isinstance(version, dict) else []


def image_allowed(image: CivitaiImage, max_nsfw_level: int | None) -> bool:
    """Within the allowed level (a bit value: 1 PG … 16 XXX). Unrated (0) images only when all are allowed."""
    if max_nsfw_level is None:
        return True
    if image.nsfw_level <= 0:
        return max_nsfw_level >= NSFW_XXX
    return image.nsfw_level <= max_nsfw_level


def first_preview(images: list[CivitaiImage], max_nsfw_level: int | None = None) -> CivitaiImage | None:
    """The first still image within the allowed NSFW level."""
    for image in images:
        if image.type == "image" and image_allowed(image, max_nsfw_level):
            return image
    return None


def _version_in_model(model: dict[str, Any], version_id: int) -> dict[str, Any]:
    for v in model.get("modelVersions") or []:
        if isinstance(v, dict) and _int(v.get("id")) == version_id:
            return v
    return {}


def build_info(
    version: dict[str, Any],
    model: dict[str, Any] | None,
    fetched_at: datetime,
    *,
    sha256: str | None = None,
    matched_by: str | None = None,
    max_nsfw_level: int | None = None,
) -> CivitaiInfo:
    """Combine a version object (by-hash) with its model object (/models) into one CivitaiInfo.

    Raises CivitaiMalformedResponseError when `version` has no id.
    """
    if not isinstance(version, dict) or _int(version.get("id")) is None:
        raise CivitaiMalformedResponseError("the model-version object has no id")
    version_id = _int(version["id"])
    assert version_id is not None
    model = model if isinstance(model, dict) else {}
    in_model = _version_in_model(model, version_id)
    version_model = _dict(version.get("model"))
    model_id = _int(version.get("modelId")) or _int(model.get("id"))
    images = parse_images(version) or parse_images(in_model)
    preview = first_preview(images, max_nsfw_level)
    trained = _str_list(version.get("trainedWords")) or _str_list(in_model.get("trainedWords"))
    stats = dict(_dict(version.get("stats")) or _dict(in_model.get("stats")))
    return CivitaiInfo(
        model_id=model_id,
        version_id=version_id,
        model_name=_str(version_model.get("name")) or _str(model.get("name")) or "",
        version_name=_str(version.get("name")) or _str(in_model.get("name")) or "",
        creator=_str(_dict(model.get("creator")).get("username")) or _str(_dict(version.get("creator")).get("username")),
        tags=_str_list(model.get("tags")),
        stats=stats,
        nsfw_level=_int(version.get("nsfwLevel")) or _int(in_model.get("nsfwLevel")) or 0,
        trained_words=trained,
        base_model=_str(version.get("baseModel")) or _str(in_model.get("baseModel")),
        description_html=_str(version.get("description")) or _str(in_model.get("description")),
        model_description_html=_str(model.get("description")),
        preview_url=preview.url if preview else None,
        download_url=_str(version.get("downloadUrl")) or _str(in_model.get("downloadUrl")),
        fetched_at=fetched_at,
        model_type=_str(version_model.get("type")) or _str(model.get("type")),
        model_stats=dict(_dict(model.get("stats"))),
        allow_commercial_use=normalise_commercial_use(model.get("allowCommercialUse")),
        allow_no_credit=model.get("allowNoCredit") if isinstance(model.get("allowNoCredit"), bool) else None,
        allow_derivatives=model.get("allowDerivatives") if isinstance(model.get("allowDerivatives"), bool) else None,
        allow_different_license=(
            model.get("allowDifferentLicense") if isinstance(model.get("allowDifferentLicense"), bool) else None
        ),
        images=images,
        sha256=sha256.upper() if sha256 else None,
        matched_by=matched_by,
        has_model_data=bool(model),
    )


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
