"""What CivitAI answered, as typed records: one parser that validates every answer it accepts.

`parse_version`, `parse_version_batch`, `parse_model` and `parse_model_page` turn the decoded JSON of
an answer into frozen records (`CivitaiVersion`, `CivitaiFile`, `CivitaiImage`, `CivitaiModel`)
that keep the JSON in `raw` (without `images[].meta.comfy`) for storage. An answer the app cannot
trust raises `CivitaiMalformedAnswerError` (a failure, asked again next run), never "not found":

- ids (`id`, `modelId`, file ids) are ints, not bools or strings, within 1..2^63-1 (SQLite's range);
- `files` is absent or a list of objects, `hashes` absent/null or an object of strings;
- names and dates are strings or null;
- `raw` can be written to the library: JSON-encodable, valid UTF-8, not absurdly deep.

Tolerated, as CivitAI really sends them (CIVITAI_API.md §8.8): unknown keys, absent images /
trainedWords / description / hashes, `files: []`, null batch items, odd image entries (dropped).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from lora_manager_gui.core.civitai_errors import CivitaiMalformedAnswerError

MAX_ID = 2**63 - 1  # SQLite INTEGER
MAX_INT = 2**63 - 1


class LookupStatus(StrEnum):
    """What is stored for one SHA-256 (table civitai_lookup)."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    DEFERRED = "deferred"


class MatchedBy(StrEnum):
    SHA256 = "sha256"
    AUTOV3 = "autov3"


@dataclass(frozen=True, slots=True)
class CivitaiImage:
    url: str
    nsfw_level: int
    type: str = "image"
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class CivitaiFile:
    id: int | None
    name: str
    sha256: str | None  # upper-case, 64 hex
    autov2: str | None
    autov3: str | None
    size_kb: float | None
    primary: bool


@dataclass(frozen=True, slots=True)
class CivitaiVersion:
    """A model-version object (by-hash, batch by-hash, /model-versions/{id})."""

    id: int
    model_id: int | None
    name: str
    published_at: str | None
    files: tuple[CivitaiFile, ...]
    images: tuple[CivitaiImage, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def sha256s(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.sha256 for f in self.files if f.sha256))

    @property
    def autov3s(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.autov3 for f in self.files if f.autov3))


@dataclass(frozen=True, slots=True)
class CivitaiModel:
    """A model object (/models/{id}, /models?ids=)."""

    id: int
    name: str
    type: str | None
    creator: str | None
    version_ids: tuple[int, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """A batch item that was not trusted; `sha256s` are the files it seemed to be about (best effort)."""

    sha256s: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class VersionBatch:
    versions: tuple[CivitaiVersion, ...]
    rejected: tuple[RejectedItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelPage:
    items: tuple[CivitaiModel, ...]
    next_cursor: str | None
    rejected: tuple[str, ...] = ()


# -- small validators --------------------------------------------------------------------------

def _shown(value: Any) -> str:
    """A short, safe picture of a bad value (never the repr of a deep or huge structure)."""
    if isinstance(value, (list, dict)):
        return f"{'a list' if isinstance(value, list) else 'an object'} of {len(value)}"
    if type(value) is int and abs(value) > 10**18:
        return f"an integer of {value.bit_length()} bits"
    shown = repr(value[:60] if isinstance(value, str) else value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _bad(what: str, value: Any) -> CivitaiMalformedAnswerError:
    return CivitaiMalformedAnswerError(f"CivitAI sent an unusable {what}: {_shown(value)}")


def valid_id(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


def _id(data: Mapping[str, Any], key: str, what: str, *, required: bool) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not valid_id(value):
        raise _bad(what, value)
    return value


def _text(data: Mapping[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(what, value)


def _small_int(value: Any) -> int | None:
    return value if type(value) is int and -MAX_INT <= value <= MAX_INT else None


def _hex(value: str, length: int | None) -> str | None:
    text = value.strip().upper()
    if not text or (length is not None and len(text) != length):
        return None
    if any(c not in "0123456789ABCDEF" for c in text):
        return None
    return text


def storable(raw: Any) -> bool:
    """True when `raw` can be written to the library as JSON text (UTF-8, no recursion blow-up)."""
    try:
        orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)
        return True
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:  # what orjson refuses (very big ints, depth > 255) the standard library may write
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
        return True
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return False


def strip_comfy(data: Any) -> Any:
    """A copy without images[].meta.comfy (a whole workflow, often megabytes).

    Only the containers on the way to `comfy` are copied, so this costs nothing on big answers
    and cannot recurse into deeply nested junk.
    """
    if not isinstance(data, dict):
        return data
    cleaned = dict(data)
    if isinstance(cleaned.get("modelVersions"), list):
        cleaned["modelVersions"] = [_strip_version(v) for v in cleaned["modelVersions"]]
    return _strip_version(cleaned, copied=True)


def _strip_version(version: Any, copied: bool = False) -> Any:
    if not isinstance(version, dict) or not isinstance(version.get("images"), list):
        return version
    if not any(isinstance(i, dict) and isinstance(i.get("meta"), dict) and "comfy" in i["meta"] for i in version["images"]):
        return version
    out = version if copied else dict(version)
    images = []
    for image in version["images"]:
        if isinstance(image, dict) and isinstance(image.get("meta"), dict) and "comfy" in image["meta"]:
            image = {**image, "meta": {k: v for k, v in image["meta"].items() if k != "comfy"}}
        images.append(image)
    out["images"] = images
    return out


# -- the parser --------------------------------------------------------------------------------

def parse_hashes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("file hashes object", value)
    out: dict[str, str] = {}
    for key, hash_value in value.items():
        if hash_value is None:
            continue
        if not isinstance(hash_value, str):
            raise _bad(f"{key} hash", hash_value)
        out[str(key)] = hash_value
    return out


def parse_file(data: Any) -> CivitaiFile:
    if not isinstance(data, dict):
        raise _bad("file entry", data)
    hashes = parse_hashes(data.get("hashes"))
    size = data.get("sizeKB")
    size_kb = float(size) if type(size) in (int, float) and math.isfinite(size) else None
    primary = data.get("primary")
    return CivitaiFile(
        id=_id(data, "id", "file id", required=False),
        name=_text(data, "name", "file name") or "",
        sha256=_hex(hashes.get("SHA256", ""), 64),
        autov2=_hex(hashes.get("AutoV2", ""), None),
        autov3=_hex(hashes.get("AutoV3", ""), None),
        size_kb=size_kb,
        primary=primary is True,
    )


def parse_images(value: Any) -> tuple[CivitaiImage, ...]:
    """Images of a version; entries without a URL or of the wrong shape are dropped, not fatal."""
    if not isinstance(value, list):
        return ()
    images: list[CivitaiImage] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"]:
            continue
        nsfw = _small_int(item.get("nsfwLevel"))
        kind = item.get("type")
        images.append(CivitaiImage(
            url=item["url"],
            nsfw_level=nsfw if nsfw is not None and nsfw >= 0 else 0,
            type=kind if isinstance(kind, str) and kind else "image",
            width=_small_int(item.get("width")),
            height=_small_int(item.get("height")),
        ))
    return tuple(images)


def parse_version(data: Any) -> CivitaiVersion:
    """One model-version object. Raises CivitaiMalformedAnswerError."""
    if not isinstance(data, dict):
        raise _bad("model-version answer", data)
    if "modelVersions" in data:
        raise CivitaiMalformedAnswerError("CivitAI sent a model object where a model version was expected")
    version_id = _id(data, "id", "model-version id", required=True)
    assert version_id is not None
    files_value = data.get("files", [])
    if not isinstance(files_value, list):
        raise _bad("files list", files_value)
    files = tuple(parse_file(f) for f in files_value)
    raw = strip_comfy(data)
    if not storable(raw):
        raise CivitaiMalformedAnswerError(f"the answer for model version {version_id} cannot be stored")
    return CivitaiVersion(
        id=version_id,
        model_id=_id(data, "modelId", "model id", required=False),
        name=_text(data, "name", "version name") or "",
        published_at=_text(data, "publishedAt", "publishedAt date"),
        files=files,
        images=parse_images(data.get("images")),
        raw=raw,
    )


def claimed_sha256s(data: Any) -> tuple[str, ...]:
    """The SHA-256 an untrusted item seems to be about (files[].hashes.SHA256), never raising."""
    found: list[str] = []
    files = data.get("files") if isinstance(data, dict) else None
    for f in files if isinstance(files, list) else ():
        hashes = f.get("hashes") if isinstance(f, dict) else None
        sha = hashes.get("SHA256") if isinstance(hashes, dict) else None
        if isinstance(sha, str) and (text := _hex(sha, 64)):
            found.append(text)
    return tuple(dict.fromkeys(found))


def parse_version_batch(data: Any) -> VersionBatch:
    """The items of a batch by-hash answer. Null items are expected and dropped; an untrusted item
    is rejected (with the hashes it claims) while its neighbours are kept.

    Raises CivitaiMalformedAnswerError when the answer is not a list.
    """
    if not isinstance(data, list):
        raise CivitaiMalformedAnswerError(f"CivitAI sent {_shown(data)} where a list of model versions was expected")
    versions: list[CivitaiVersion] = []
    rejected: list[RejectedItem] = []
    for item in data:
        if item is None:
            continue
        try:
            versions.append(parse_version(item))
        except CivitaiMalformedAnswerError as exc:
            rejected.append(RejectedItem(claimed_sha256s(item), str(exc)))
    return VersionBatch(tuple(versions), tuple(rejected))


def parse_model(data: Any) -> CivitaiModel:
    """One model object. Raises CivitaiMalformedAnswerError."""
    if not isinstance(data, dict):
        raise _bad("model answer", data)
    model_id = _id(data, "id", "model id", required=True)
    assert model_id is not None
    creator = data.get("creator")
    username = creator.get("username") if isinstance(creator, dict) else None
    versions = data.get("modelVersions")
    version_ids = tuple(v["id"] for v in versions if isinstance(v, dict) and valid_id(v.get("id"))) if isinstance(
        versions, list) else ()
    raw = strip_comfy(data)
    if not storable(raw):
        raise CivitaiMalformedAnswerError(f"the answer for model {model_id} cannot be stored")
    kind = data.get("type")
    return CivitaiModel(
        id=model_id,
        name=_text(data, "name", "model name") or "",
        type=kind if isinstance(kind, str) else None,
        creator=username if isinstance(username, str) and username else None,
        version_ids=version_ids,
        raw=raw,
    )


def parse_model_page(data: Any) -> ModelPage:
    """(items, nextCursor) of a /models answer; untrusted items are left out and counted."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise CivitaiMalformedAnswerError("CivitAI sent something other than {items: [...]} from /models")
    items: list[CivitaiModel] = []
    rejected: list[str] = []
    for item in data["items"]:
        if item is None:
            continue
        try:
            items.append(parse_model(item))
        except CivitaiMalformedAnswerError as exc:
            rejected.append(str(exc))
    metadata = data.get("metadata")
    cursor = metadata.get("nextCursor") if isinstance(metadata, dict) else None
    if not isinstance(cursor, (str, int)) or isinstance(cursor, bool) or cursor == "":
        cursor = None
    return ModelPage(tuple(items), str(cursor) if cursor is not None else None, tuple(rejected))


def pick_oldest(versions: Sequence[CivitaiVersion]) -> CivitaiVersion:
    """One hash matching several versions: the oldest wins, as GET by-hash does since 2026-07."""
    return sorted(versions, key=lambda v: (v.published_at or "9999", v.id))[0]
