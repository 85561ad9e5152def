"""PNG text chunks (tEXt, zTXt, iTXt), read chunk by chunk without decoding any pixel data.

Hard limits keep hostile files harmless: a text chunk may not exceed MAX_CHUNK_BYTES on disk nor
MAX_TEXT_BYTES once inflated (zlib with max_length, so a decompression bomb stops at the limit),
and the number of chunks and of text chunks is capped. Image data chunks are skipped by seeking.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from lora_manager_gui.core.errors import LoraManagerError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_TEXT_BYTES = 32 * 1024 * 1024
MAX_TOTAL_TEXT_BYTES = 64 * 1024 * 1024
MAX_CHUNKS = 200_000
MAX_TEXT_CHUNKS = 512
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


class PngTextError(LoraManagerError):
    """The PNG could not be read. `kind` is `malformed` or `too_large`."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(reason)


@dataclass
class PngText:
    """Text chunks by keyword (the first chunk of a keyword wins) and what was skipped."""

    texts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def is_png(head: bytes) -> bool:
    return head.startswith(PNG_SIGNATURE)


def read_png_text_bytes(data: bytes) -> PngText:
    return read_png_text(io.BytesIO(data))


def read_png_text(stream: BinaryIO) -> PngText:
    """Every text chunk of the PNG in `stream` (positioned at its start)."""
    if stream.read(8) != PNG_SIGNATURE:
        raise PngTextError("malformed", "not a PNG file (the PNG signature is missing)")
    result = PngText()
    offset = 8
    chunks = text_chunks = total_text = 0
    while True:
        head = stream.read(8)
        if len(head) == 0:
            _truncated(result, offset, "before its IEND chunk")
            return result
        if len(head) < 8:
            _truncated(result, offset, "inside a chunk header")
            return result
        length, ctype = struct.unpack(">I4s", head)
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise PngTextError("too_large", f"more than {MAX_CHUNKS:,} chunks")
        if length > 0x7FFFFFFF:
            raise PngTextError("malformed", f"chunk at offset {offset} has an invalid length {length}")
        if ctype == b"IEND":
            return result
        if ctype in TEXT_TYPES:
            text_chunks += 1
            if text_chunks > MAX_TEXT_CHUNKS:
                raise PngTextError("too_large", f"more than {MAX_TEXT_CHUNKS} text chunks")
            if length > MAX_CHUNK_BYTES:
                raise PngTextError(
                    "too_large", f"{ctype.decode()} chunk at offset {offset} is {length:,} bytes "
                    f"(limit {MAX_CHUNK_BYTES:,})")
            body = stream.read(length)
            crc = stream.read(4)
            if len(body) < length or len(crc) < 4:
                _truncated(result, offset, f"inside a {ctype.decode()} chunk")
                return result
            if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
                result.warnings.append(f"{ctype.decode()} chunk at offset {offset} has a bad CRC; skipped")
            else:
                try:
                    keyword, text = _decode(ctype, body, MAX_TEXT_BYTES)
                except _ChunkError as exc:
                    result.warnings.append(f"{ctype.decode()} chunk at offset {offset}: {exc}; skipped")
                else:
                    total_text += len(text)
                    if total_text > MAX_TOTAL_TEXT_BYTES:
                        raise PngTextError(
                            "too_large", f"text chunks add up to more than {MAX_TOTAL_TEXT_BYTES:,} bytes")
                    result.texts.setdefault(keyword, text)
        else:
            _skip(stream, length + 4)
        offset += 12 + length


class _ChunkError(Exception):
    pass


def _truncated(result: PngText, offset: int, where: str) -> None:
    if not result.texts:
        raise PngTextError("malformed", f"the PNG is truncated at offset {offset} ({where})")
    result.warnings.append(f"the PNG is truncated at offset {offset} ({where}); text read before it kept")


def _skip(stream: BinaryIO, count: int) -> None:
    if stream.seekable():
        stream.seek(count, io.SEEK_CUR)
    else:
        while count > 0:
            block = stream.read(min(count, 1 << 20))
            if not block:
                return
            count -= len(block)


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise _ChunkError(f"compressed text is corrupt ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PngTextError(
            "too_large", f"a compressed text chunk inflates to more than {limit:,} bytes "
            "(refused as a decompression bomb)")
    return out


def _decode(ctype: bytes, body: bytes, limit: int) -> tuple[str, str]:
    keyword_end = body.find(b"\0")
    if keyword_end < 1 or keyword_end > 79:
        raise _ChunkError("the keyword is missing or longer than 79 bytes")
    keyword = body[:keyword_end].decode("latin-1")
    rest = body[keyword_end + 1:]
    if ctype == b"tEXt":
        return keyword, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise _ChunkError("unknown compression method")
        return keyword, _inflate(rest[1:], limit).decode("latin-1")
    # iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        raise _ChunkError("the iTXt header is cut short")
    flag, method = rest[0], rest[1]
    lang_end = rest.find(b"\0", 2)
    if lang_end < 0:
        raise _ChunkError("the iTXt language tag is not terminated")
    trans_end = rest.find(b"\0", lang_end + 1)
    if trans_end < 0:
        raise _ChunkError("the iTXt translated keyword is not terminated")
    payload = rest[trans_end + 1:]
    if flag == 1:
        if method != 0:
            raise _ChunkError("unknown compression method")
        payload = _inflate(payload, limit)
    elif flag != 0:
        raise _ChunkError(f"invalid compression flag {flag}")
    try:
        return keyword, payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ChunkError(f"the text is not valid UTF-8 ({exc.reason})") from None
