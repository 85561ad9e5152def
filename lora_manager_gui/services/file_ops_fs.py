"""File system steps that never overwrite: a no-clobber rename, a verified cross-volume copy and
an atomic write. Blocking; the file operations run them on the work pool.

No-clobber rename, in order of preference:

1. Linux: `renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE)` through ctypes (glibc 2.28+,
   kernel 3.15+): atomic, fails with EEXIST when `dst` exists.
2. Where that is missing or the file system refuses it (EINVAL/ENOSYS/ENOTSUP, some FUSE and
   network file systems): `os.link(src, dst)` (fails when `dst` exists) then `os.unlink(src)`.
3. Where hard links are not supported either (FAT, exFAT, some SMB shares): create `dst`
   exclusively (O_CREAT|O_EXCL) as a placeholder, then `os.replace(src, dst)`, which replaces only
   that empty placeholder of ours.

Windows' `os.rename` already refuses an existing destination; it is used there directly.
Across volumes (EXDEV): copy into an exclusively created file while hashing the source, fsync,
keep the mtime (so the hash cache entry stays valid), read the copy back and compare its size and
SHA-256 with the source's; the source is deleted only once the whole operation has succeeded.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import secrets
import sys

COPY_CHUNK = 4 * 1024 * 1024
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", 95), getattr(errno, "EOPNOTSUPP", 95)}


class CrossDeviceError(OSError):
    """src and dst are on different file systems: copy instead."""


class VerifyError(OSError):
    """A cross-volume copy did not read back as the source (size or SHA-256)."""


def _load_renameat2():  # noqa: ANN202
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def _raise_errno(code: int, src: str, dst: str) -> None:
    if code == errno.EXDEV:
        raise CrossDeviceError(code, os.strerror(code), src, None, dst)
    if code == errno.EEXIST or code == errno.ENOTEMPTY:
        raise FileExistsError(errno.EEXIST, "the destination exists (never overwritten)", dst)
    raise OSError(code, os.strerror(code), src, None, dst)


def rename_noreplace(src: str, dst: str) -> str:
    """Move `src` to `dst` on one file system, never replacing an existing `dst`. Returns the
    method used ("renameat2", "link", "exclusive", "rename"). Raises FileExistsError,
    CrossDeviceError or OSError."""
    if sys.platform == "win32":
        try:
            os.rename(src, dst)
        except OSError as exc:
            if getattr(exc, "winerror", None) == 17:
                raise CrossDeviceError(errno.EXDEV, "different drives", src, None, dst) from exc
            raise
        return "rename"
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return "renameat2"
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            _raise_errno(code, src, dst)
    return _rename_by_link(src, dst)


def _rename_by_link(src: str, dst: str) -> str:
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "the destination exists (never overwritten)", dst) from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _raise_errno(errno.EXDEV, src, dst)
        if exc.errno not in _UNSUPPORTED | {errno.EPERM, errno.EMLINK}:
            raise
        return _rename_exclusive(src, dst)
    try:
        os.unlink(src)
    except OSError:
        os.unlink(dst)  # leave things as they were
        raise
    return "link"


def _rename_exclusive(src: str, dst: str) -> str:
    fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # FileExistsError when it exists
    os.close(fd)
    try:
        os.replace(src, dst)
    except OSError as exc:
        os.unlink(dst)
        if exc.errno == errno.EXDEV:
            _raise_errno(errno.EXDEV, src, dst)
        raise
    return "exclusive"


def copy_verified(src: str, dst: str, *, expected_sha256: str | None = None) -> str:
    """Copy `src` to a new `dst` (another volume), fsync it, keep its times, read it back and
    check size and SHA-256. Returns the SHA-256 (upper-case hex). On any failure `dst` is removed."""
    st = os.stat(src)
    fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o644)
    try:
        source_hash = hashlib.sha256()
        with open(src, "rb") as fin, os.fdopen(fd, "wb", closefd=True) as fout:
            while chunk := fin.read(COPY_CHUNK):
                source_hash.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        try:
            os.chmod(dst, st.st_mode & 0o7777)
        except OSError:
            pass
        digest = source_hash.hexdigest().upper()
        if expected_sha256 and expected_sha256.upper() != digest:
            raise VerifyError(errno.EIO, "the source changed: its SHA-256 is not the one recorded", src)
        copied = hashlib.sha256()
        size = 0
        with open(dst, "rb") as check:
            while chunk := check.read(COPY_CHUNK):
                copied.update(chunk)
                size += len(chunk)
        if size != st.st_size or copied.hexdigest().upper() != digest:
            raise VerifyError(errno.EIO, "the copy does not read back as the source (size or SHA-256)", dst)
        return digest
    except BaseException:
        try:
            os.unlink(dst)
        except OSError:
            pass
        raise


def fsync_dir(path: str) -> None:
    """Make a rename in `path` durable (best effort: not every platform can open a folder)."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes) -> None:
    """Replace (or create) `path` with `data`: a temporary file in the same folder, fsync, rename."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder or ".")
