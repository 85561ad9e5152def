"""What users paste to name a CivitAI model or version, parsed without trusting it. Pure Python.

Accepted (CIVITAI_API.md §1-2):

- a model page: `https://civitai.com/models/123[/slug][?modelVersionId=456]` (also civitai.red,
  www., and the path alone: `/models/123`, `models/123`);
- a version id alone: `456`;
- a download URL: `https://civitai.com/api/download/models/456[?type=Model&format=SafeTensor&size=pruned&fp=fp16]`;
- an API URL: `https://civitai.com/api/v1/model-versions/456`, `.../api/v1/models/123`;
- an AIR: `urn:air:sdxl:lora:civitai:123@456` (the version part optional).

Anything else raises `CivitaiRefError` with what is wrong: another host (also one hidden behind
`user@`), a scheme other than http(s), ids outside 1..2^31-1, non-ASCII digits, control
characters, absurd lengths.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from lora_manager_gui.core.errors import LoraManagerError

MAX_REF_CHARS = 2048
MAX_CIVITAI_ID = 2_147_483_647  # the API refuses ids beyond an int4 (§1)
CIVITAI_HOSTS = frozenset({"civitai.com", "www.civitai.com", "civitai.red", "www.civitai.red"})

_DIGITS = re.compile(r"[0-9]{1,10}")
_AIR = re.compile(
    r"urn:air:(?P<eco>[a-z0-9_.\-]+):(?P<type>[a-z0-9_.\-]+):(?P<source>[a-z0-9_.\-]+):"
    r"(?P<model>[0-9]{1,10})(?:@(?P<version>[0-9]{1,10}))?(?:\.(?P<fmt>[a-z0-9]{1,16}))?",
    re.IGNORECASE,
)
_FILE_PARAMS = {"type": "file_type", "format": "file_format", "size": "file_size", "fp": "file_fp"}


class CivitaiRefError(LoraManagerError, ValueError):
    """The text does not name a CivitAI model or version."""


class RefKind(StrEnum):
    MODEL_PAGE = "model_page"
    VERSION_ID = "version_id"
    DOWNLOAD_URL = "download_url"
    API_URL = "api_url"
    AIR = "air"


@dataclass(frozen=True, slots=True)
class CivitaiRef:
    """A model (its newest version is meant) or one version, and the file preferences a download
    URL carried (type, format, size, fp)."""

    kind: RefKind
    model_id: int | None = None
    version_id: int | None = None
    file_type: str | None = None
    file_format: str | None = None
    file_size: str | None = None
    file_fp: str | None = None

    @property
    def key(self) -> str:
        return f"v{self.version_id}" if self.version_id else f"m{self.model_id}"


def _id(text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise CivitaiRefError(f"{what} {text[:40]!r} is not a number")
    value = int(text)
    if not 1 <= value <= MAX_CIVITAI_ID:
        raise CivitaiRefError(f"{what} {value} is out of range")
    return value


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1 and len(set(values)) > 1:
        raise CivitaiRefError(f"the URL gives {name} more than once")
    value = values[0].strip()
    if not value or len(value) > 40 or not value.isascii() or not value.replace(" ", "").isalnum():
        raise CivitaiRefError(f"the URL's {name} {value[:40]!r} is not usable")
    return value


def parse_civitai_ref(text: str) -> CivitaiRef:
    """The model or version `text` names. Raises CivitaiRefError."""
    if not isinstance(text, str):
        raise CivitaiRefError("not text")
    text = text.strip()
    if not text:
        raise CivitaiRefError("nothing to parse")
    if len(text) > MAX_REF_CHARS:
        raise CivitaiRefError(f"{len(text):,} characters is too long for a CivitAI link")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or " " in text:
        raise CivitaiRefError("the text contains spaces or control characters")
    if text.lower().startswith("urn:"):
        return _parse_air(text)
    if _DIGITS.fullmatch(text):
        return CivitaiRef(RefKind.VERSION_ID, version_id=_id(text, "the version id"))
    if "://" in text or text.startswith("//"):
        return _parse_url(text)
    if text.startswith(("/", "models/", "api/")):
        parts = urlsplit("/" + text.lstrip("/"))
        return _parse_path(parts.path, parse_qs(parts.query))
    raise CivitaiRefError(f"{text[:80]!r} is not a CivitAI link, AIR or version id")


def _parse_air(text: str) -> CivitaiRef:
    match = _AIR.fullmatch(text)
    if match is None:
        raise CivitaiRefError(f"{text[:80]!r} is not an AIR (urn:air:<ecosystem>:<type>:civitai:<model>@<version>)")
    if match["source"].lower() != "civitai":
        raise CivitaiRefError(f"the AIR names the source {match['source']!r}, not CivitAI")
    version = match["version"]
    return CivitaiRef(RefKind.AIR, model_id=_id(match["model"], "the model id"),
                      version_id=_id(version, "the version id") if version else None)


def _parse_url(text: str) -> CivitaiRef:
    try:
        parts = urlsplit(text if "://" in text else "https:" + text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise CivitaiRefError(f"not a usable URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise CivitaiRefError(f"the scheme {parts.scheme!r} is not http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CivitaiRefError("the URL hides a user name before its host")
    if host not in CIVITAI_HOSTS or port not in (None, 80, 443):
        raise CivitaiRefError(f"{host or 'the URL'} is not a CivitAI host")
    return _parse_path(parts.path, parse_qs(parts.query, keep_blank_values=False))


def _parse_path(path: str, query: dict[str, list[str]]) -> CivitaiRef:
    segments = [s for s in path.split("/") if s]
    if "%" in path or any(s in (".", "..") for s in segments):
        raise CivitaiRefError("the URL path is encoded or climbs folders")
    if len(segments) >= 2 and segments[0] == "models":
        version = _param(query, "modelVersionId")
        return CivitaiRef(RefKind.MODEL_PAGE, model_id=_id(segments[1], "the model id"),
                          version_id=_id(version, "the version id") if version else None)
    if len(segments) == 4 and segments[:3] == ["api", "download", "models"]:
        prefs = {field: _param(query, name) for name, field in _FILE_PARAMS.items()}
        return CivitaiRef(RefKind.DOWNLOAD_URL, version_id=_id(segments[3], "the version id"), **prefs)
    if len(segments) == 4 and segments[:2] == ["api", "v1"]:
        if segments[2] == "model-versions":
            return CivitaiRef(RefKind.API_URL, version_id=_id(segments[3], "the version id"))
        if segments[2] == "models":
            return CivitaiRef(RefKind.API_URL, model_id=_id(segments[3], "the model id"))
    raise CivitaiRefError(f"{path[:80]!r} is not a CivitAI model, version or download path")
