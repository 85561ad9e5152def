"""Reading the start of a file, or a small file whole, without a buffered reader's costs.

The import reads two files per model (a sidecar and a safetensors header), tens of thousands per
library: through `open(path, "rb")` each paid for a buffered reader and its 8 KiB buffer, and a
buffered `read(limit)` allocates `limit` bytes before reading (32 MiB for every small sidecar).
"""
from __future__ import annotations

from typing import BinaryIO


def read_up_to(fh: BinaryIO, limit: int, *, first: int | None = None) -> bytes:
    """The next `limit` bytes of a file opened with `buffering=0`, fewer only at its end: what a
    buffered `read(limit)` gives. `first` sizes the first read call (the size a stat saw, + 1 to see
    the end) so that a small file costs a small allocation; the reads go on to `limit` or the end."""
    raw = fh.read(min(limit, first or limit))
    while len(raw) < limit:
        more = fh.read(limit - len(raw))
        if not more:
            break
        raw += more
    return raw
