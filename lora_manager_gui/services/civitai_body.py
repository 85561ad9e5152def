"""Reading and decoding one CivitAI answer body: bounded, then parsed as JSON.

- The body is read raw and decoded here (gzip / deflate) in pieces of at most `PIECE` bytes, and
  the decoded bytes are counted as they come: a small compressed body that inflates to gigabytes
  fails as `CivitaiTooLargeError` after `max_bytes`, and memory never grows past about that.
- JSON is parsed by orjson; what orjson refuses (NaN, integers beyond 64 bits, lone surrogates)
  is parsed by the standard library, whose lone surrogates are then replaced by U+FFFD (they
  cannot be written to SQLite as UTF-8) and whose RecursionError on absurd nesting is a
  malformed answer like any other.

Qt-free and loop-free: `decode_json` may run on a worker thread.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from lora_manager_gui.core.civitai_errors import CivitaiMalformedResponseError, CivitaiTooLargeError

PIECE = 256 * 1024
SUPPORTED_ENCODINGS = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def ctype(self) -> str:
        return self.headers.get("content-type", "").lower()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class BodyReader:
    """Collects the decoded bytes of one body, refusing more than `max_bytes`."""

    def __init__(self, content_encoding: str, max_bytes: int, url: str) -> None:
        self.max_bytes = max_bytes
        self.url = url
        self.data = bytearray()
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1:
            raise CivitaiMalformedResponseError(f"CivitAI sent a body with several encodings ({content_encoding})", url=url)
        self._encoding = encodings[0] if encodings else ""
        if self._encoding in ("gzip", "x-gzip"):
            self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._encoding == "deflate":
            self._z = zlib.decompressobj()
        elif self._encoding == "":
            self._z = None
        else:
            raise CivitaiMalformedResponseError(f"CivitAI sent a body encoded as {self._encoding!r}", url=url)
        self._raw_deflate_tried = False

    @property
    def encoded(self) -> bool:
        """True when the body is compressed (its Content-Length says nothing of the decoded size)."""
        return self._z is not None

    def _add(self, piece: bytes) -> None:
        if len(self.data) + len(piece) > self.max_bytes:
            raise CivitaiTooLargeError(
                f"CivitAI sent more than {self.max_bytes:,} bytes (decoded); the answer is refused", url=self.url)
        self.data += piece

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._add(chunk)
            return
        pending = chunk
        while True:
            try:
                out = self._z.decompress(pending, PIECE)
            except zlib.error as exc:
                if self._encoding == "deflate" and not self._raw_deflate_tried and not self.data:
                    self._raw_deflate_tried = True  # some servers send raw deflate without the zlib header
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise CivitaiMalformedResponseError(f"CivitAI sent a damaged {self._encoding} body: {exc}", url=self.url) from exc
            self._add(out)
            pending = self._z.unconsumed_tail
            if not pending and len(out) < PIECE:
                return

    def finish(self) -> bytes:
        if self._z is not None:
            try:
                self._add(self._z.flush())
            except zlib.error as exc:
                raise CivitaiMalformedResponseError(f"CivitAI sent a damaged {self._encoding} body: {exc}", url=self.url) from exc
        return bytes(self.data)


def decode_json(content: bytes) -> Any:
    """The JSON value of `content`. Raises ValueError (with the standard library's explanation)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        data = json.loads(content)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply") from exc
    return scrub_surrogates(data)


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def scrub_surrogates(data: Any) -> Any:
    """`data` with every lone surrogate in its strings (keys included) replaced by U+FFFD.

    Iterative, so it cannot hit the recursion limit on deep nesting.
    """
    if isinstance(data, str):
        return _clean(data)
    if not isinstance(data, (list, dict)):
        return data
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = _clean(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
        else:
            for key in list(node):
                value = node[key]
                if isinstance(value, str):
                    value = _clean(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
                if isinstance(key, str) and (clean := _clean(key)) is not key:
                    del node[key]
                    node[clean] = value
                else:
                    node[key] = value
    return data


def short_text(message: Any) -> str:
    return str(message)[:200] if message else ""


def title_of(text: str) -> str:
    lower = text.lower()
    start = lower.find("<title>")
    if start >= 0:
        end = lower.find("</title>", start)
        if end > start:
            return text[start + 7 : end].strip()[:120]
    return text.strip()[:80].replace("\n", " ")


def snippet(answer: Answer) -> str:
    if "html" in answer.ctype:
        return f" ({title_of(answer.text)})"
    text = answer.text.strip()
    return f" ({text[:120]})" if text else ""
