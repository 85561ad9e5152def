"""Thumbnails for the gallery and the details pane, decoded off the GUI thread.

Workers find the preview beside the model file and shrink it with Pillow into raw RGBA bytes; only
the GUI thread turns those bytes into a QPixmap. Loads are bounded (a semaphore) and cached (LRU,
bounded by count and by bytes, so large gallery tiles never grow the cache past its budget).
A preview above the chosen NSFW level is blurred by the worker, before it ever reaches the screen.
Video previews (.mp4, .webm beside the model) have no decoder here (Pillow reads images only and
this PySide6 has no QtMultimedia): they get a drawn video placeholder instead of a still frame.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from lora_manager_gui.services.executors import WorkPool
from lora_manager_gui.ui.async_bridge import TaskTracker

log = logging.getLogger(__name__)

# The Lora Manager / A1111 / Civitai Helper preview names, in lookup order (FORMATS.md 3.6).
PREVIEW_SUFFIXES = (
    ".webp", ".preview.webp", ".preview.png", ".preview.jpeg", ".preview.jpg",
    ".png", ".jpeg", ".jpg", ".gif",
)
VIDEO_SUFFIXES = (".preview.mp4", ".preview.webm", ".mp4", ".webm")
MODEL_SUFFIXES = (".safetensors", ".pt", ".bin", ".ckpt", ".metadata.json", ".civitai.info", ".json")
MAX_PREVIEW_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 80_000_000
BLUR_FRACTION = 0.06  # the blur radius, as a share of the thumbnail's longer side


def _stem(path: str) -> str | None:
    lower = path.lower()
    for suffix in MODEL_SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return None


def find_preview(*paths: str | None) -> Path | None:
    """The first preview image beside any of `paths` (model file, then metadata file)."""
    for path in paths:
        if not path:
            continue
        stem = _stem(path)
        if stem is None:
            continue
        for suffix in PREVIEW_SUFFIXES + VIDEO_SUFFIXES:
            candidate = Path(stem + suffix)
            try:
                if candidate.is_file():
                    return candidate
            except OSError:
                continue
    return None


def is_video(path: Path) -> bool:
    return path.name.lower().endswith(VIDEO_SUFFIXES)


def video_placeholder(max_side: int) -> tuple[int, int, bytes]:
    """A dark 16:9 frame with a play mark: what a video preview shows when no frame can be decoded."""
    from PIL import Image, ImageDraw

    width, height = max_side, max(1, max_side * 9 // 16)
    im = Image.new("RGBA", (width, height), (38, 40, 46, 255))
    draw = ImageDraw.Draw(im)
    r = max(4, height // 5)
    cx, cy = width // 2, height // 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(220, 220, 220, 255), width=max(1, r // 8))
    draw.polygon([(cx - r // 3, cy - r // 2), (cx - r // 3, cy + r // 2), (cx + r // 2, cy)], fill=(220, 220, 220, 255))
    return width, height, im.tobytes()


def decode_thumbnail(path: Path, max_side: int, blur: bool = False) -> tuple[int, int, bytes] | None:
    """Pillow decode + shrink to RGBA bytes (worker thread), blurred when `blur`. None when the
    image is unreadable; a video preview's placeholder."""
    from PIL import Image, ImageFilter

    from lora_manager_gui.core.files import open_regular_stream

    if is_video(path):
        return video_placeholder(max_side)
    try:
        # non-blocking, regular files only: a preview swapped for a FIFO never holds a worker
        with open_regular_stream(path) as fh, Image.open(fh) as im:
            if os.fstat(fh.fileno()).st_size > MAX_PREVIEW_BYTES:
                return None
            if im.width * im.height > MAX_PIXELS:
                return None
            im.draft("RGB", (max_side * 2, max_side * 2))
            im.thumbnail((max_side, max_side))
            rgba = im.convert("RGBA")
            if blur:
                rgba = rgba.filter(ImageFilter.GaussianBlur(max(2.0, BLUR_FRACTION * max(rgba.size))))
            return rgba.width, rgba.height, rgba.tobytes()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        log.info("cannot read preview %s: %s", path, exc)
        return None


def pixmap_from_rgba(width: int, height: int, data: bytes) -> QPixmap:
    image = QImage(data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())


class ThumbnailCache(QObject):
    """Key -> QPixmap, loaded on the work pool. `thumbnail_loaded(key)` fires when one lands.

    Requests wait in a bounded LIFO queue: the newest request (what is on screen now) is served
    first, and when someone scrolls through 50,000 rows the requests for rows long gone are
    dropped instead of piling up on the disk.
    """

    thumbnail_loaded = Signal(object)

    def __init__(self, pool: Callable[[], WorkPool], max_side: int = 160, capacity: int = 1500,
                 concurrency: int = 4, max_queued: int = 300, max_bytes: int = 96 * 1024 * 1024,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self.max_side = max_side
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self.max_queued = max_queued
        self._cache: OrderedDict[object, QPixmap | None] = OrderedDict()
        self._queue: OrderedDict[object, tuple[bool, tuple[str | None, ...]]] = OrderedDict()
        self._workers = 0
        self._concurrency = concurrency
        self.dropped = 0
        self.tracker = TaskTracker()

    def clear(self) -> None:
        self._cache.clear()
        self._queue.clear()
        self._bytes = 0

    def set_max_side(self, max_side: int) -> None:
        """Decode at `max_side` from now on; what is cached smaller is loaded again."""
        if max_side != self.max_side:
            self.max_side = max_side
            self.clear()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def get(self, key: object, *paths: str | None, blur: bool = False) -> QPixmap | None:
        """The cached pixmap, or None while it loads (or when there is no preview). `blur`: the
        worker blurs it (an NSFW preview above the chosen level)."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        self._queue[key] = (blur, paths)
        self._queue.move_to_end(key)
        while len(self._queue) > self.max_queued:
            self._queue.popitem(last=False)
            self.dropped += 1
        if self._workers < self._concurrency:
            self._workers += 1
            self.tracker.spawn(self._work(), name="thumbnails")
        return None

    def known_count(self) -> int:
        return len(self._cache)

    def known(self, key: object) -> bool:
        return key in self._cache

    async def _work(self) -> None:
        try:
            while self._queue:
                key, (blur, paths) = self._queue.popitem(last=True)  # newest first
                if key in self._cache:
                    continue
                decoded = await self._pool().call(self._find_and_decode, paths, self.max_side, blur)
                if key in self._cache:
                    continue
                pixmap = pixmap_from_rgba(*decoded) if decoded else None
                self._cache[key] = pixmap
                self._bytes += _pixmap_bytes(pixmap)
                while len(self._cache) > self.capacity or (self._bytes > self.max_bytes and len(self._cache) > 1):
                    _old, dropped = self._cache.popitem(last=False)
                    self._bytes -= _pixmap_bytes(dropped)
                self.thumbnail_loaded.emit(key)
        finally:
            self._workers -= 1

    @staticmethod
    def _find_and_decode(paths: tuple[str | None, ...], max_side: int, blur: bool) -> tuple[int, int, bytes] | None:
        preview = find_preview(*paths)
        return decode_thumbnail(preview, max_side, blur) if preview else None

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)


def _pixmap_bytes(pixmap: QPixmap | None) -> int:
    return pixmap.width() * pixmap.height() * 4 if pixmap is not None else 0
