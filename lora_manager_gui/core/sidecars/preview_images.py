"""Preview image entries from the sidecars, in the shape of the `adapter.preview_images` column (m0005):
{"url", "type", "nsfw_level", "width", "height"}. `type` is "image" or "video" (CivitAI's `type`,
else told by the URL's extension); `nsfw_level` is CivitAI's bitmask (PG=1, PG13=2, R=4, X=8, XXX=16),
read from `nsfwLevel`, else from the older `nsfw` strings, else None.

Only http(s) URLs are kept (Lora Manager's `preview_url` is a local path: the previews service
finds local files by name). A malformed item is left out and named in the parser's problems.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lora_manager_gui.core.sidecars.validation import INT64

MAX_IMAGES = 32  # CivitAI lists at most 10 per version; Lora Manager's custom images add some
MAX_URL_CHARS = 4096
_VIDEO_ENDINGS = (".mp4", ".webm", ".mov", ".mkv", ".m4v")
_OLD_NSFW = {"none": 1, "soft": 2, "mature": 4, "x": 8}  # CivitAI's image nsfw strings before 2024-03


def media_type(url: str, declared: Any = None) -> str:
    if declared == "image" or declared == "video":  # what CivitAI writes: answered first
        return declared
    if isinstance(declared, str) and declared.strip().lower() in ("image", "video", "audio"):
        return declared.strip().lower()
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return "video" if path.endswith(_VIDEO_ENDINGS) else "image"


def _level(value: Any) -> int | None:
    if type(value) is int and 0 <= value < INT64:
        return value
    if isinstance(value, str):
        return _OLD_NSFW.get(value.strip().lower())
    return None


def web_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url.startswith(("https://", "http://")) and not url[:8].lower().startswith(("https://", "http://")):
        return None
    if len(url) > MAX_URL_CHARS or not url.isprintable() or " " in url:  # no control characters or spaces
        return None
    return url


def preview_image(url: str, kind: Any = None, nsfw_level: Any = None, width: Any = None, height: Any = None) -> dict[str, Any]:
    return {
        "url": url,
        "type": media_type(url, kind),
        "nsfw_level": nsfw_level if type(nsfw_level) is int and 0 <= nsfw_level < INT64 else _level(nsfw_level),
        "width": width if type(width) is int and 0 < width < 2**31 else None,
        "height": height if type(height) is int and 0 < height < 2**31 else None,
    }


def images_of(items: Any, where: Callable[[], str], problems: list[str]) -> list[dict[str, Any]]:
    """The entries of a CivitAI-style `images` list (`url`, `type`, `nsfwLevel` or `nsfw`, `width`,
    `height`); items that are not objects with a web URL are left out, each named in `problems`."""
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(f"field '{where()}' must be a list of images, got {type(items).__name__}: left out")
        return []
    out: list[dict[str, Any]] = []
    append = out.append
    for i, item in enumerate(items):
        url = item.get("url") if type(item) is dict else None
        if type(url) is str and url.startswith("https://") and " " not in url and "\n" not in url and len(url) <= MAX_URL_CHARS:
            # CivitAI's shape, checked inline (a model JSON lists up to 10 images per version); a
            # control character left in is harmless in the column and refused by the HTTP client
            kind = item.get("type")
            level = item.get("nsfwLevel")
            width = item.get("width")
            height = item.get("height")
            append({
                "url": url,
                "type": kind if kind == "image" or kind == "video" else media_type(url, kind),
                "nsfw_level": level if type(level) is int and 0 <= level < 2**63 else _level(item.get("nsfw") if level is None else level),
                "width": width if type(width) is int and 0 < width < 2**31 else None,
                "height": height if type(height) is int and 0 < height < 2**31 else None,
            })
        else:
            url = web_url(url)
            if url is None:
                if not (isinstance(item, dict) and isinstance(item.get("url"), str)):  # a local path is no problem
                    problems.append(f"field '{where()}[{i}]' is not an image with a URL: left out")
                continue
            level = item.get("nsfwLevel")
            if level is None:
                level = item.get("nsfw")
            append(preview_image(url, item.get("type"), level, item.get("width"), item.get("height")))
        if i >= MAX_IMAGES - 1 and len(out) >= MAX_IMAGES:
            break
    return out


def add_images(out: list[dict[str, Any]], more: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`out` then the entries of `more` whose URL it does not have yet, at most MAX_IMAGES."""
    seen = {image["url"] for image in out}
    for image in more:
        if image["url"] not in seen and len(out) < MAX_IMAGES:
            seen.add(image["url"])
            out.append(image)
    return out
