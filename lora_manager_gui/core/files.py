"""Reading the start of a file, or a small file whole, at the cost of the system calls alone.

The import reads two files per model (a sidecar and a safetensors header), tens of thousands per
library. Through `open(path, "rb")` each paid for a buffered reader and its 8 KiB buffer, a buffered
`read(limit)` allocates `limit` bytes before reading (32 MiB for every small sidecar), and even an
unbuffered file object costs an extra fstat and ~1.5 us; a descriptor from `os.open` costs neither.
"""
from __future__ import annotations

import os

READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # O_BINARY: no newline translation on Windows


def read_up_to(fd: int, limit: int, *, first: int | None = None, size: int | None = None) -> bytes:
    """The next `limit` bytes of an open descriptor, fewer only at the file's end: what a buffered
    `read(limit)` gives. `first` sizes the first read call (the size a stat saw, + 1 to see the end)
    so that a small file costs a small allocation; the reads go on to `limit` or the end. `size`,
    the size that stat saw: a first read that returns exactly that many bytes, fewer than it asked
    for, has the whole file (a regular file reads short only at its end), so no call is made to
    see the end."""
    asked = min(limit, first or limit)
    raw = os.read(fd, asked)
    if size is not None and len(raw) == size < asked:
        return raw
    while len(raw) < limit:
        more = os.read(fd, limit - len(raw))
        if not more:
            break
        raw += more
    return raw
