"""Preview thumbnails: a local preview beside the model file, else the first allowed CivitAI image.

Local lookup order follows Lora Manager (FORMATS.md §3.6), with A1111's `.preview.gif` and `.gif`
kept last; videos (.mp4/.webm) are skipped (Pillow cannot thumbnail them). Decoding is defensive:
a file size cap before opening, the pixel count checked from the header before decoding (so a
decompression bomb is refused without allocating it), JPEG draft mode, and bad image data becomes
a classified PreviewError, never a crash. Thumbnails are cached under core.config.cache_dir().
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from lora_manager_gui.core.civitai import CivitaiInfo, first_preview
from lora_manager_gui.core.civitai_errors import CivitaiError
from lora_manager_gui.core.config import cache_dir as default_cache_dir
from lora_manager_gui.core.errors import FileProblemError

PREVIEW_SUFFIXES = (
    ".webp", ".preview.webp", ".preview.png", ".preview.jpeg", ".preview.jpg",
    ".png", ".jpeg", ".jpg", ".preview.gif", ".gif",
)
MAX_SOURCE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 64_000_000  # 8000 x 8000
DEFAULT_MAX_SIDE = 256


class PreviewError(FileProblemError):
    error_class = "bad_image"


class ImageTooLargeError(PreviewError):
    error_class = "image_too_large"


class PreviewDownloadError(PreviewError):
    error_class = "download_failed"


@dataclass
class Thumbnail:
    path: Path | None
    source: str | None  # 'local', 'civitai' or None
    origin: str | None  # the local file or the image URL
    error_class: str | None = None
    error: str | None = None


def find_local_preview(model_path: str | os.PathLike[str]) -> Path | None:
    """The first preview file beside a model file, in the lookup order."""
    model = Path(model_path)
    stem = model.with_suffix("")
    for suffix in PREVIEW_SUFFIXES:
        candidate = stem.parent / (stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def make_thumbnail(
    src: str | os.PathLike[str], dest: str | os.PathLike[str], max_side: int = DEFAULT_MAX_SIDE,
    *, max_bytes: int = MAX_SOURCE_BYTES, max_pixels: int = MAX_PIXELS,
) -> Path:
    """Write a thumbnail of `src` no larger than max_side to `dest` (WEBP, atomically).

    Raises ImageTooLargeError, PreviewError (not an image / damaged) or UnreadableFileError.
    """
    from lora_manager_gui.core.errors import UnreadableFileError
    from lora_manager_gui.core.files import NotRegularFileError, open_regular_stream

    name = os.fspath(src)
    target = Path(dest)
    try:
        size = os.path.getsize(name)
    except OSError as exc:
        raise UnreadableFileError(name, f"cannot read the image: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise ImageTooLargeError(name, f"the image is {size} bytes, over the {max_bytes}-byte limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # reads the header only; non-blocking, regular files only (core/files.py)
            with open_regular_stream(name) as fh, Image.open(fh) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageTooLargeError(name, f"{width}x{height} pixels is over the {max_pixels}-pixel limit")
                if img.format == "JPEG":
                    img.draft("RGB", (max_side, max_side))
                img.seek(0)
                frame = ImageOps.exif_transpose(img) or img
                frame.thumbnail((max_side, max_side))
                frame = frame.convert("RGBA" if "A" in frame.getbands() or "transparency" in frame.info else "RGB")
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                frame.save(tmp, "WEBP", quality=85)
        os.replace(tmp, target)
    except ImageTooLargeError:
        raise
    except NotRegularFileError as exc:  # a FIFO or device where the image was
        raise UnreadableFileError(name, f"cannot read the image: {exc.strerror}") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(name, f"refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise PreviewError(name, "not an image Pillow can read") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PreviewError(name, f"damaged image data: {exc}") from exc
    return target


def thumbnail_name(key: str, max_side: int) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + f"_{max_side}.webp"


async def ensure_thumbnail(
    model_path: str | os.PathLike[str],
    *,
    info: CivitaiInfo | None = None,
    client: object | None = None,  # a services.civitai.CivitaiClient, for the CivitAI image
    cache_dir: Path | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    max_nsfw_level: int | None = 1,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> Thumbnail:
    """A cached thumbnail for a model file: its local preview first, else the first CivitAI image
    within `max_nsfw_level`. Never raises for bad images or failed downloads: the Thumbnail says why."""
    folder = (cache_dir or default_cache_dir()) / "thumbnails"
    local = await asyncio.to_thread(find_local_preview, model_path)
    if local is not None:
        try:
            st = local.stat()
            dest = folder / thumbnail_name(f"{local}|{st.st_size}|{st.st_mtime_ns}", max_side)
            if not dest.exists():
                await asyncio.to_thread(make_thumbnail, local, dest, max_side, max_bytes=max_bytes)
            return Thumbnail(dest, "local", str(local))
        except (FileProblemError, OSError) as exc:
            local_error = exc
        else:  # pragma: no cover
            local_error = None
    else:
        local_error = None
    image = first_preview(info.images, max_nsfw_level) if info is not None else None
    if image is None or client is None:
        if local_error is not None:
            return Thumbnail(None, None, str(local), getattr(local_error, "error_class", "unreadable"), str(local_error))
        return Thumbnail(None, None, None)
    dest = folder / thumbnail_name(image.url, max_side)
    if dest.exists():
        return Thumbnail(dest, "civitai", image.url)
    download = folder / "downloads" / thumbnail_name(image.url, 0).replace(".webp", ".img")
    try:
        await client.download(image.url, download, max_bytes=max_bytes)  # type: ignore[attr-defined]
        await asyncio.to_thread(make_thumbnail, download, dest, max_side, max_bytes=max_bytes)
    except CivitaiError as exc:
        return Thumbnail(None, None, image.url, PreviewDownloadError.error_class, str(exc))
    except FileProblemError as exc:
        return Thumbnail(None, None, image.url, exc.error_class, str(exc))
    finally:
        download.unlink(missing_ok=True)
    return Thumbnail(dest, "civitai", image.url)
