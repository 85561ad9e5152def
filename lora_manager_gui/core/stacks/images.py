"""Generation text inside images: PNG text chunks, and EXIF in WEBP and JPEG files.

ComfyUI's WEBP writer stores `workflow:{...}` and `prompt:{...}` as TIFF ASCII tags of IFD0
(0x010F Make, 0x0110 Model, further extra keys below 0x010F); the EXIF payload may or may not start
with `Exif\\0\\0`. A1111 puts its infotext in EXIF UserComment; Lora Manager puts
`Recipe metadata: {json}` there. Only metadata is read; pixel data is never decoded.
"""
from __future__ import annotations

import io
import struct
from typing import BinaryIO

from lora_manager_gui.core.pngtext import PngText, PngTextError, is_png, read_png_text
from lora_manager_gui.core.stacks.model import StackReadError

MAX_EXIF_BYTES = 32 * 1024 * 1024
MAX_IFD_ENTRIES = 4096
MAX_RIFF_CHUNKS = 100_000
MAX_JPEG_SEGMENTS = 10_000
_TAG_EXIF_IFD = 0x8769
_TAG_USER_COMMENT = 0x9286
_TAG_DESCRIPTION = 0x010E
_KNOWN_KEYS = ("prompt", "workflow", "parameters")


def is_webp(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def is_jpeg(head: bytes) -> bool:
    return head[:3] == b"\xff\xd8\xff"


def read_image_texts(stream: BinaryIO, head: bytes, source: str) -> PngText:
    """Generation texts by key (`prompt`, `workflow`, `parameters`, `recipe`) of a PNG, WEBP or JPEG."""
    try:
        if is_png(head):
            return read_png_text(stream)
        if is_webp(head):
            return _texts_from_exif_blobs(_webp_exif(stream, source), source)
        if is_jpeg(head):
            return _texts_from_exif_blobs(_jpeg_exif(stream, source), source)
    except PngTextError as exc:
        raise StackReadError(exc.kind if exc.kind in StackReadError.KINDS else "malformed",
                             source, exc.reason) from None
    raise StackReadError("not_a_stack", source, "not a PNG, WEBP or JPEG image")


def _webp_exif(stream: BinaryIO, source: str) -> list[bytes]:
    stream.seek(12)
    blobs: list[bytes] = []
    for _ in range(MAX_RIFF_CHUNKS):
        head = stream.read(8)
        if len(head) < 8:
            return blobs
        fourcc, size = head[:4], struct.unpack("<I", head[4:])[0]
        if fourcc == b"EXIF":
            if size > MAX_EXIF_BYTES:
                raise StackReadError("too_large", source, f"EXIF chunk of {size:,} bytes (limit {MAX_EXIF_BYTES:,})")
            data = stream.read(size)
            if len(data) < size:
                raise StackReadError("malformed", source, "the WEBP file is truncated inside its EXIF chunk")
            blobs.append(data)
            stream.seek(size & 1, io.SEEK_CUR)
        else:
            stream.seek(size + (size & 1), io.SEEK_CUR)
    raise StackReadError("too_large", source, f"more than {MAX_RIFF_CHUNKS:,} WEBP chunks")


def _jpeg_exif(stream: BinaryIO, source: str) -> list[bytes]:
    stream.seek(2)
    blobs: list[bytes] = []
    for _ in range(MAX_JPEG_SEGMENTS):
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            return blobs  # end of image, or start of scan: metadata segments come before it
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return blobs
        length = struct.unpack(">H", length_bytes)[0] - 2
        if length < 0:
            raise StackReadError("malformed", source, "a JPEG segment has an invalid length")
        if marker[1] == 0xE1:
            data = stream.read(length)
            if data.startswith(b"Exif\0\0"):
                blobs.append(data)
        else:
            stream.seek(length, io.SEEK_CUR)
    raise StackReadError("too_large", source, f"more than {MAX_JPEG_SEGMENTS:,} JPEG segments")


def _texts_from_exif_blobs(blobs: list[bytes], source: str) -> PngText:
    result = PngText()
    for blob in blobs:
        try:
            for key, value in _exif_texts(blob):
                result.texts.setdefault(key, value)
        except (struct.error, ValueError, IndexError) as exc:
            result.warnings.append(f"EXIF block could not be read ({exc}); skipped")
    return result


def _exif_texts(blob: bytes) -> list[tuple[str, str]]:
    tiff = blob[6:] if blob.startswith(b"Exif\0\0") else blob
    if tiff[:4] == b"MM\0*":
        order = ">"
    elif tiff[:4] == b"II*\0":
        order = "<"
    else:
        raise ValueError("no TIFF header")
    found: list[tuple[str, str]] = []
    ifd0 = struct.unpack(order + "I", tiff[4:8])[0]
    pending = [ifd0]
    visited: set[int] = set()
    while pending:
        offset = pending.pop()
        if offset in visited or not 8 <= offset < len(tiff):
            continue
        visited.add(offset)
        count = struct.unpack(order + "H", tiff[offset:offset + 2])[0]
        for i in range(min(count, MAX_IFD_ENTRIES)):
            start = offset + 2 + 12 * i
            tag, ftype, n = struct.unpack(order + "HHI", tiff[start:start + 8])
            if tag == _TAG_EXIF_IFD:
                pending.append(struct.unpack(order + "I", tiff[start + 8:start + 12])[0])
                continue
            if ftype not in (2, 7) or n > MAX_EXIF_BYTES:
                continue
            if n <= 4:
                raw = tiff[start + 8:start + 8 + n]
            else:
                pointer = struct.unpack(order + "I", tiff[start + 8:start + 12])[0]
                raw = tiff[pointer:pointer + n]
            if tag == _TAG_USER_COMMENT:
                text = _user_comment(raw)
                if text.startswith("Recipe metadata:"):
                    found.append(("recipe", text[len("Recipe metadata:"):].strip()))
                elif text.strip():
                    found.append(("parameters", text))
                continue
            text = raw.rstrip(b"\0").decode("utf-8", errors="replace")
            key, sep, value = text.partition(":")
            if sep and key.strip().lower() in _KNOWN_KEYS:
                found.append((key.strip().lower(), value))
            elif tag == _TAG_DESCRIPTION and text.strip():
                found.append(("description", text))
    return found


def _user_comment(raw: bytes) -> str:
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        # piexif writes UTF-16 big-endian; some tools write little-endian. Pick the one that reads
        # as mostly Latin text, which is what infotext is.
        decoded = [body.decode(codec, errors="replace") for codec in ("utf-16-be", "utf-16-le")]
        best = max(decoded, key=lambda t: sum(1 for c in t if ord(c) < 0x250))
        return best.rstrip("\0")
    if prefix.startswith(b"ASCII") or prefix == b"\0" * 8:
        return body.rstrip(b"\0").decode("utf-8", errors="replace")
    return raw.rstrip(b"\0").decode("utf-8", errors="replace")
