"""Reading a safetensors header without loading tensors (and without ever unpickling anything).

Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON (maybe right-padded with spaces), then the
data buffer, which the header must index entirely. See shared/reference/FORMATS.md §4.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lora_manager_gui.core.errors import InvalidModelFileError, UnreadableFileError
from lora_manager_gui.core.files import READ_FLAGS, open_regular, read_up_to, refuse_if_not_regular

MAX_HEADER_BYTES = 100_000_000  # the safetensors crate's MAX_HEADER_SIZE
FIRST_READ_BYTES = 64 * 1024  # one read call holds the length and most headers
MODEL_EXTENSIONS = (".safetensors", ".pt", ".bin", ".ckpt")
_HEADER_LENGTH = struct.Struct("<Q").unpack


@dataclass(frozen=True)
class SafetensorsHeader:
    header_length: int  # N, the JSON length
    data_offset: int  # 8 + N: where the tensor bytes start
    file_size: int
    metadata: dict[str, str] = field(default_factory=dict)  # __metadata__, string -> string
    tensors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def metadata_json(self, key: str) -> Any:
        """A metadata value that holds nested JSON (kohya's ss_tag_frequency, ...), or None."""
        raw = self.metadata.get(key)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return None


def read_header(path: str | os.PathLike[str], *, check_size: bool = True, size: int | None = None) -> SafetensorsHeader:
    """Read and validate the header of `path`.

    Raises InvalidModelFileError for an empty, truncated or malformed file and UnreadableFileError
    when the file cannot be read. With `check_size`, the data buffer must end exactly at the file end.
    `size`: the file's size as a walk just saw it (no fstat, ~1.3 us a file); else it is asked for.
    Never blocks: the file is opened non-blocking, and anything but a regular file (a FIFO or a
    device swapped in since the walk) is refused as UnreadableFileError (see core/files.py).
    """
    name = str(path)
    try:
        if size is None:  # no stat from a walk: the opened descriptor's says what it is
            fd, st = open_regular(path)
            size = st.st_size
        else:  # non-blocking (core/files.py); checked below wherever a non-regular file ends up
            fd = os.open(path, READ_FLAGS)
        try:
            return parse_header_bytes(name, _read_header_bytes(fd, name, size), size, check_size=check_size)
        except InvalidModelFileError:
            refuse_if_not_regular(fd, name)  # where a FIFO (read as empty) or /dev/zero ends up
            raise
        finally:
            os.close(fd)
    except InvalidModelFileError:
        raise
    except OSError as exc:
        raise UnreadableFileError(name, f"cannot read the file: {exc.strerror or exc}") from exc


def _read_header_bytes(fd: int, name: str, size: int) -> bytes:
    """The header JSON of the open file and its length N: at most MAX_HEADER_BYTES, and never
    more than the `size` the file had."""
    if size == 0:
        raise InvalidModelFileError(name, "the file is empty")
    # No more than the file holds: a small file's read allocates what it returns, not 64 KiB
    # (~0.1-0.2 us of a ~5 us check). A file that grew since its size was taken still reads
    # exactly the length and header it has: whatever is missing is read below.
    head = os.read(fd, min(size, FIRST_READ_BYTES))
    prefix = head[:8] if len(head) >= 8 else head + read_up_to(fd, 8 - len(head))
    if len(prefix) < 8:
        raise InvalidModelFileError(name, f"truncated: {size} bytes is too short for a safetensors header")
    (n,) = _HEADER_LENGTH(prefix)
    if n < 2 or n > MAX_HEADER_BYTES:
        raise InvalidModelFileError(name, f"not a safetensors file (header length {n} is out of range)")
    if 8 + n > size:
        raise InvalidModelFileError(
            name, f"truncated: the header claims {n} bytes but the file has only {size - 8} after the length"
        )
    raw = head[8 : 8 + n]
    if len(raw) < n:
        raw += read_up_to(fd, n - len(raw))
    if len(raw) < n:
        raise InvalidModelFileError(name, "truncated while reading the header")
    return raw


def parse_header_bytes(name: str, raw: bytes, file_size: int, *, check_size: bool = True) -> SafetensorsHeader:
    n = len(raw)
    if not raw.startswith(b"{") and not raw.lstrip(b" ").startswith(b"{"):
        raise InvalidModelFileError(name, "not a safetensors file (the header is not a JSON object)")
    try:
        header = orjson.loads(raw)
    except orjson.JSONDecodeError:
        header = None
    try:
        if header is None:  # the standard library decides, and explains, what orjson refused
            header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidModelFileError(name, f"the safetensors header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise InvalidModelFileError(name, "the safetensors header is not a JSON object")
    raw_meta = header.pop("__metadata__", None) or {}
    if not isinstance(raw_meta, dict):
        raise InvalidModelFileError(name, "__metadata__ is not an object")
    metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_meta.items()}
    largest_end = 0
    # Once per tensor, hundreds of times in a real LoRA, so written out: `type(...) is int` is
    # "an int and not a bool" for what JSON decodes (never an int subclass but bool).
    for key, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise InvalidModelFileError(name, f"tensor {key!r} has invalid data_offsets")
        start, end = offsets
        if type(start) is not int or type(end) is not int or not 0 <= start <= end:
            raise InvalidModelFileError(name, f"tensor {key!r} has invalid data_offsets")
        if end > largest_end:
            largest_end = end
    tensors: dict[str, dict[str, Any]] = header  # what is left once __metadata__ is popped
    data_offset = 8 + n
    if check_size:
        expected = data_offset + largest_end
        if expected > file_size:
            raise InvalidModelFileError(
                name, f"truncated: the tensors need {expected} bytes but the file has {file_size}"
            )
        if expected < file_size:
            raise InvalidModelFileError(
                name, f"{file_size - expected} bytes after the last tensor: not a well-formed safetensors file"
            )
    return SafetensorsHeader(n, data_offset, file_size, metadata, tensors)


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, bytes], metadata: dict[str, str] | None = None) -> Path:
    """Write a small, valid safetensors file of U8 tensors (for tests, the demo library and benchmarks)."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for key, data in tensors.items():
        header[key] = {"dtype": "U8", "shape": [len(data)], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # align the buffer start to 8 bytes, as writers do
    target = Path(path)
    with open(target, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for data in tensors.values():
            fh.write(data)
    return target
