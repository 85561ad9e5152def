"""Reading the start of a file, or a small file whole, at the cost of the system calls alone.

The import reads two files per model (a sidecar and a safetensors header), tens of thousands per
library. Through `open(path, "rb")` each paid for a buffered reader and its 8 KiB buffer, a buffered
`read(limit)` allocates `limit` bytes before reading (32 MiB for every small sidecar), and even an
unbuffered file object costs an extra fstat and ~1.5 us; a descriptor from `os.open` costs neither.

Nothing the app opens for reading may block: a model file or sidecar replaced by a FIFO between the
walk and the read would hold open() until a writer came, and read() after. Every read therefore
opens with O_NONBLOCK (READ_FLAGS): a FIFO opens at once and reads as empty (no writer) or EAGAIN
(no data), a terminal or device never waits. `open_regular` then fstats the descriptor and refuses
anything but a regular file; a reader that already has the walk's stat (an import: ~1.3 us of a
~5 us header check saved) reads first and calls `refuse_if_not_regular` on its error paths, where a
FIFO's empty read or /dev/zero's zeros end up. Every read is bounded by the caller's limit.
"""
from __future__ import annotations

import errno
import io
import os
import stat

# O_BINARY: no newline translation on Windows; O_NONBLOCK: a FIFO or device never blocks (above).
READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


class NotRegularFileError(OSError):
    """What was opened is not a regular file. An OSError, so every reader's `except OSError`
    reports it as an unreadable file, with this as the reason."""

    def __init__(self, path: str, mode: int) -> None:
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", path)


def refuse_if_not_regular(fd: int, path: str) -> os.stat_result:
    """fstat `fd`; raise NotRegularFileError unless it is a regular file."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(path, st.st_mode)
    return st


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """A non-blocking read descriptor of the regular file at `path` and its fstat. Raises
    NotRegularFileError (closing it) for a FIFO, device, socket or folder, OSError otherwise."""
    fd = os.open(path, READ_FLAGS)
    try:
        return fd, refuse_if_not_regular(fd, os.fspath(path))
    except BaseException:
        os.close(fd)
        raise


def open_regular_stream(path: str | os.PathLike[str]) -> io.FileIO:
    """`open(path, "rb", buffering=0)` that never blocks and refuses non-regular files: for
    readers that want a file object (Pillow, hashing)."""
    fd, _ = open_regular(path)
    return io.FileIO(fd, "rb", closefd=True)


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
