from __future__ import annotations

import asyncio
import json
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from lora_manager_gui.core.civitai import build_info
from lora_manager_gui.services.civitai import CivitaiClient
from lora_manager_gui.services.previews import (
    ImageTooLargeError,
    PreviewError,
    ensure_thumbnail,
    find_local_preview,
    make_thumbnail,
)


def _png(path: Path, size=(600, 300), color=(200, 10, 10)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def _bomb_png(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h pixels (the data is not even there)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    path.write_bytes(raw)
    return path


def test_local_preview_lookup_order(tmp_path: Path) -> None:
    model = tmp_path / "style.safetensors"
    model.write_bytes(b"x")
    assert find_local_preview(model) is None
    _png(tmp_path / "style.png")
    assert find_local_preview(model).name == "style.png"
    _png(tmp_path / "style.preview.png")
    assert find_local_preview(model).name == "style.preview.png"
    Image.new("RGB", (4, 4)).save(tmp_path / "style.webp")
    assert find_local_preview(model).name == "style.webp"


def test_make_thumbnail_scales_down(tmp_path: Path) -> None:
    out = make_thumbnail(_png(tmp_path / "a.png"), tmp_path / "t" / "a.webp", 128)
    with Image.open(out) as img:
        assert img.format == "WEBP" and max(img.size) == 128 and img.size == (128, 64)


def test_jpeg_in_draft_mode(tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    Image.new("RGB", (2000, 1000), (1, 2, 3)).save(src, quality=80)
    with Image.open(make_thumbnail(src, tmp_path / "a.webp", 100)) as img:
        assert img.size == (100, 50)


def test_bad_data_and_bombs_are_classified(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(PreviewError) as info:
        make_thumbnail(junk, tmp_path / "j.webp")
    assert info.value.error_class == "bad_image" and "junk.png" in str(info.value)
    bomb = _bomb_png(tmp_path / "bomb.png", 50_000, 50_000)
    with pytest.raises(ImageTooLargeError):
        make_thumbnail(bomb, tmp_path / "b.webp")
    truncated = tmp_path / "cut.jpg"
    Image.new("RGB", (300, 300), (9, 9, 9)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(PreviewError):
        make_thumbnail(truncated, tmp_path / "c.webp")
    big = _png(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError):
        make_thumbnail(big, tmp_path / "big.webp", max_bytes=10)
    assert not list(tmp_path.glob("*.webp"))


def _info(fixtures_dir: Path, url: str, level: int = 1):
    version = json.loads((fixtures_dir / "civitai" / "by_hash_lora.json").read_text(encoding="utf-8"))
    for img in version["images"]:
        img["url"], img["nsfwLevel"] = url, level
    return build_info(version, None, datetime.now(timezone.utc))


def test_ensure_thumbnail_prefers_local_then_downloads(tmp_path: Path, fixtures_dir: Path, fake_civitai) -> None:
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    cache = tmp_path / "cache"
    info = _info(fixtures_dir, f"{fake_civitai.origin}/images/preview.png")

    async def go():
        client = CivitaiClient(fake_civitai.base_url, "secret-key-for-api-only")
        try:
            remote = await ensure_thumbnail(model, info=info, client=client, cache_dir=cache)
            again = await ensure_thumbnail(model, info=info, client=client, cache_dir=cache)
            nsfw = await ensure_thumbnail(model, info=_info(fixtures_dir, f"{fake_civitai.origin}/images/x.png", 8),
                                          client=client, cache_dir=cache, max_nsfw_level=2)
            missing = await ensure_thumbnail(model, info=_info(fixtures_dir, f"{fake_civitai.origin}/images/none.png"),
                                             client=client, cache_dir=cache)
            _png(tmp_path / "m.preview.png")
            local = await ensure_thumbnail(model, info=info, client=client, cache_dir=cache)
            return remote, again, nsfw, missing, local
        finally:
            await client.close()

    remote, again, nsfw, missing, local = asyncio.run(go())
    assert remote.source == "civitai" and remote.path.exists() and again.path == remote.path
    assert len(fake_civitai.requests_to("/images/")) == 2  # preview.png once (then cached), none.png once
    assert all("Authorization" not in r.headers for r in fake_civitai.requests_to("/images/"))
    assert nsfw.path is None and nsfw.source is None
    assert missing.path is None and missing.error_class == "download_failed"
    assert local.source == "local" and local.path.exists() and local.origin.endswith("m.preview.png")
