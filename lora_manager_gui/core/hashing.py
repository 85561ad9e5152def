"""File hashes as CivitAI lists them: SHA-256 of the whole file, AutoV2, AutoV3.

Reads go into one reused buffer (`readinto` + memoryview), so the per-chunk Python overhead is a
few microseconds per MiB and the loop runs at the speed of hashlib's OpenSSL code. The loop checks
a cancel flag between buffers, so a 20 GB checkpoint can be abandoned at once.
See shared/reference/CIVITAI_API.md §7 and FORMATS.md §5.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lora_manager_gui.core.cancel import CancelFn
from lora_manager_gui.core.errors import InvalidModelFileError, LoraManagerError, UnreadableFileError
from lora_manager_gui.core.files import open_regular
from lora_manager_gui.core.safetensors import read_header

BUFFER_SIZE = 4 * 1024 * 1024  # measured in benchmarks/hash_bench.py: 1-8 MiB all run at file_digest speed
AUTOV2_LENGTH = 10
AUTOV3_LENGTH = 12
EMPTY_SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"

ProgressFn = Callable[[int], None]  # called with the bytes read since the last call


class HashingCancelledError(LoraManagerError):
    """Hashing was cancelled between two buffers; no hash was produced."""

    error_class = "cancelled"

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: hashing was cancelled")
        self.path = path


class FileChangedError(UnreadableFileError):
    """The file changed size or modification time while it was being hashed."""

    error_class = "changed_while_hashing"


@dataclass
class CachedHash:
    """A hash cache entry: valid only while the file still has this size and mtime_ns."""

    path: str
    size_bytes: int
    mtime_ns: int
    sha256: str
    autov3: str | None
    hashed_at: datetime
    autov3_checked: bool = False  # True once AutoV3 was computed (autov3 None then means: not safetensors)


def autov2(sha256: str) -> str:
    """AutoV2 is the first ten hex digits of the full-file SHA-256, upper-case."""
    return sha256[:AUTOV2_LENGTH].upper()


def normalise_sha256(value: str | None) -> str | None:
    """Upper-case 64-hex SHA-256, or None for anything that is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    if len(text) != 64 or any(c not in "0123456789ABCDEF" for c in text):
        return None
    return text


def _hash_range(
    path: str,
    offset: int,
    *,
    buffer_size: int = BUFFER_SIZE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[str, int, int]:
    """SHA-256 of the bytes of `path` from `offset` to the end. Returns (hex, size, mtime_ns).

    Raises UnreadableFileError (or FileChangedError) and HashingCancelledError.
    """
    digest = hashlib.sha256()
    update = digest.update
    try:
        fd, before = open_regular(path)  # non-blocking; a FIFO or device is refused (core/files.py)
        with io.FileIO(fd, "rb", closefd=True) as fh:
            # A buffer no larger than the file: zeroing 4 MiB for a 10 kB file cost more than hashing it.
            size = min(buffer_size, max(before.st_size - offset, 1))
            buf = bytearray(size)
            view = memoryview(buf)
            if before.st_size - offset > size and hasattr(os, "posix_fadvise"):  # more than one buffer
                try:
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                except OSError:
                    pass
            if offset:
                fh.seek(offset)
            readinto = fh.readinto
            total = offset
            remaining = before.st_size - offset  # never chase a file that keeps growing
            while remaining > 0:
                if cancel is not None and cancel():
                    raise HashingCancelledError(path)
                n = readinto(buf) if remaining >= size else readinto(view[:remaining])
                if not n:
                    break
                remaining -= n
                update(view[:n])
                total += n
                if progress is not None:
                    progress(n)
            after = os.stat(path)
    except (HashingCancelledError, UnreadableFileError):
        raise
    except FileNotFoundError as exc:
        raise UnreadableFileError(path, "the file vanished while it was being hashed") from exc
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if total != before.st_size or after.st_size != before.st_size or after.st_mtime_ns != before.st_mtime_ns:
        raise FileChangedError(
            path, f"the file changed while it was being hashed ({before.st_size} bytes before, {after.st_size} after)"
        )
    return digest.hexdigest().upper(), before.st_size, before.st_mtime_ns


def sha256_file_stat(
    path: str | os.PathLike[str],
    *,
    buffer_size: int = BUFFER_SIZE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[str, int, int]:
    """Full-file SHA-256 with the (size, mtime_ns) the file had while it was read."""
    return _hash_range(os.fspath(path), 0, buffer_size=buffer_size, progress=progress, cancel=cancel)


def sha256_file(
    path: str | os.PathLike[str],
    *,
    buffer_size: int = BUFFER_SIZE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> str:
    """Full-file SHA-256 as 64 upper-case hex digits."""
    return sha256_file_stat(path, buffer_size=buffer_size, progress=progress, cancel=cancel)[0]


def autov3_file(
    path: str | os.PathLike[str],
    *,
    buffer_size: int = BUFFER_SIZE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> str | None:
    """AutoV3: the first 12 hex digits of the SHA-256 of the bytes after the safetensors header.

    None for a file that is not a safetensors file (by extension or by content). Raises
    UnreadableFileError when the file cannot be read.
    """
    name = os.fspath(path)
    if not name.lower().endswith(".safetensors"):
        return None
    try:
        header = read_header(name, check_size=False)
    except InvalidModelFileError:
        return None
    full, _, _ = _hash_range(name, header.data_offset, buffer_size=buffer_size, progress=progress, cancel=cancel)
    return full[:AUTOV3_LENGTH]


def is_model_file(path: str | os.PathLike[str]) -> bool:
    from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS

    return os.fspath(path).lower().endswith(MODEL_EXTENSIONS)


def model_files_under(root: str | os.PathLike[str]) -> list[str]:
    """Every model file under `root` (iterative scandir, symlinked folders not followed), sorted."""
    found: list[str] = []
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file() and is_model_file(entry.name):
                            found.append(os.path.abspath(entry.path))
                    except OSError:
                        continue
        except OSError:
            continue
    return sorted(found)


def absolute_path(path: str | os.PathLike[str]) -> str:
    """The key under which a file is cached: absolute, normalised, symlinks not resolved."""
    return os.path.abspath(os.fspath(Path(path).expanduser()))
