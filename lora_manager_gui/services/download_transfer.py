"""One model file's bytes into its `.part` file: redirects, Range, and classified failures.

- Redirects are followed here, at most `MAX_REDIRECTS`, to http(s) only; each hop asks the client
  for its Authorization (`CivitaiClient.download_auth`), which gives the key only to the API host:
  the storage host the download endpoint redirects to never sees it.
- A resume sends `Range: bytes=N-` with `If-Range` (the ETag, else Last-Modified, the first
  answer gave). A 200 instead of 206, a 206 starting elsewhere, a changed ETag or a 416 means
  the file on the server is not the one the part holds: the part is emptied and the transfer
  starts over from byte 0.
- An HTML or JSON body, a text/html or application/json Content-Type, or first bytes that are no
  model (core.download_files.sniff_model) are refused before a byte is written.
- The SHA-256 is computed as the bytes arrive (after re-reading what a resumed part holds);
  writes and hashing run off the event loop, in pieces of `FLUSH_BYTES`.
- A full disk (ENOSPC, EDQUOT) stops the transfer as `disk_full` and keeps the part file.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from lora_manager_gui.core.download_files import Sniffed, expected_kind, sniff_model
from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.tasks import ProblemKind

if TYPE_CHECKING:
    from lora_manager_gui.services.civitai import CivitaiClient

MAX_REDIRECTS = 5
FLUSH_BYTES = 1024 * 1024
SNIFF_BYTES = 64
REHASH_PIECE = 4 * 1024 * 1024


class DownloadProblem(StrEnum):
    """Why a download did not finish (stored in download.problem)."""

    LOGIN_REQUIRED = "login_required"
    EARLY_ACCESS = "early_access"
    NOT_FOUND = "not_found"
    NOT_A_MODEL = "not_a_model"
    SIZE_MISMATCH = "size_mismatch"
    SHA256_MISMATCH = "sha256_mismatch"
    DISK_FULL = "disk_full"
    NETWORK = "network"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    BAD_REDIRECT = "bad_redirect"
    UNSAFE_PATH = "unsafe_path"
    WRITE_FAILED = "write_failed"
    NO_FILE = "no_file"
    CIVITAI = "civitai_error"
    CANCELLED = "cancelled"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        """Worth another try in the same run (the part file is kept)."""
        return self in (DownloadProblem.NETWORK, DownloadProblem.TIMEOUT, DownloadProblem.SERVER_ERROR)

    @property
    def kind(self) -> ProblemKind:
        return _KINDS.get(self, ProblemKind.INTERNAL)

    @property
    def advice(self) -> str:
        return _ADVICE.get(self, "")


_KINDS = {
    DownloadProblem.LOGIN_REQUIRED: ProblemKind.HTTP_4XX, DownloadProblem.EARLY_ACCESS: ProblemKind.HTTP_4XX,
    DownloadProblem.NOT_FOUND: ProblemKind.NOT_FOUND, DownloadProblem.NOT_A_MODEL: ProblemKind.INVALID_MODEL_FILE,
    DownloadProblem.SIZE_MISMATCH: ProblemKind.INVALID_MODEL_FILE,
    DownloadProblem.SHA256_MISMATCH: ProblemKind.INVALID_MODEL_FILE, DownloadProblem.DISK_FULL: ProblemKind.DISK_FULL,
    DownloadProblem.NETWORK: ProblemKind.NETWORK, DownloadProblem.TIMEOUT: ProblemKind.TIMEOUT,
    DownloadProblem.SERVER_ERROR: ProblemKind.SERVER_ERROR, DownloadProblem.RATE_LIMITED: ProblemKind.RATE_LIMITED,
    DownloadProblem.BAD_REDIRECT: ProblemKind.MALFORMED_ANSWER, DownloadProblem.UNSAFE_PATH: ProblemKind.UNSAFE_PATH,
    DownloadProblem.WRITE_FAILED: ProblemKind.UNREADABLE, DownloadProblem.NO_FILE: ProblemKind.NOT_FOUND,
    DownloadProblem.CIVITAI: ProblemKind.CIVITAI_ERROR, DownloadProblem.CANCELLED: ProblemKind.CANCELLED,
}
_ADVICE = {
    DownloadProblem.LOGIN_REQUIRED: "this file needs a CivitAI login: add your API key in Settings (or CIVITAI_API_KEY) and resume",
    DownloadProblem.EARLY_ACCESS: "this version is in early access: it downloads with the API key of an account that has access (Settings), or once early access ends",
    DownloadProblem.NOT_A_MODEL: "CivitAI sent a page instead of the file; try again later",
    DownloadProblem.SIZE_MISMATCH: "the file is not the size CivitAI lists; download it again",
    DownloadProblem.SHA256_MISMATCH: "the file's SHA-256 is not the one CivitAI lists; download it again",
    DownloadProblem.DISK_FULL: "free some space on the target disk and resume: the part already downloaded is kept",
    DownloadProblem.NETWORK: "the connection dropped; resume to continue where it stopped",
    DownloadProblem.TIMEOUT: "CivitAI stopped sending; resume to continue where it stopped",
    DownloadProblem.SERVER_ERROR: "CivitAI had a problem; resume later",
    DownloadProblem.RATE_LIMITED: "CivitAI is rate limiting; resume later",
}


class DownloadError(LoraManagerError):
    def __init__(self, problem: DownloadProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TransferResult:
    size: int
    sha256: str  # upper-case hex of the whole part file
    etag: str | None
    last_modified: str | None
    resumed_from: int  # 0 when the transfer (re)started at the beginning


@dataclass
class TransferState:
    """What the part file holds; updated as the transfer goes (the queue stores it)."""

    offset: int = 0
    etag: str | None = None
    last_modified: str | None = None


OnBytes = Callable[[int, "TransferState"], None]


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG)


def _message_of(response_text: str) -> str:
    import json

    try:
        data = json.loads(response_text)
    except ValueError:
        return response_text.strip()[:160]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:200]
    return ""


def _classify_status(status: int, ctype: str, text: str, url: str) -> DownloadError:
    message = _message_of(text) if "html" not in ctype else ""
    if status == 401:
        return DownloadError(DownloadProblem.LOGIN_REQUIRED, f"CivitAI requires a login for this file (HTTP 401{': ' + message if message else ''})")
    if status == 403 and "html" in ctype:
        return DownloadError(DownloadProblem.SERVER_ERROR, "CivitAI sent a challenge page (HTTP 403); try again later")
    if status == 403:
        if "early" in message.lower():
            return DownloadError(DownloadProblem.EARLY_ACCESS, f"the version is in early access (HTTP 403: {message})")
        return DownloadError(DownloadProblem.LOGIN_REQUIRED, f"CivitAI refused the download (HTTP 403{': ' + message if message else ''})")
    if status == 404:
        return DownloadError(DownloadProblem.NOT_FOUND, "CivitAI has no such file (HTTP 404)")
    if status == 429:
        return DownloadError(DownloadProblem.RATE_LIMITED, "CivitAI is rate limiting downloads (HTTP 429)")
    if status >= 500:
        return DownloadError(DownloadProblem.SERVER_ERROR, f"CivitAI answered HTTP {status}")
    return DownloadError(DownloadProblem.CIVITAI, f"CivitAI answered HTTP {status} for {urlsplit(url).path}")


def _rehash(path: Path, upto: int) -> Any:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        left = upto
        while left > 0:
            piece = fh.read(min(REHASH_PIECE, left))
            if not piece:
                break
            sha.update(piece)
            left -= len(piece)
    return sha


def _prepare_part(path: Path, offset: int) -> int:
    """The part file cut to `offset` bytes (never more than it holds); returns what it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        keep = min(offset, size)
        if size != keep:
            os.ftruncate(fd, keep)
        return keep
    finally:
        os.close(fd)


class _PartWriter:
    def __init__(self, path: Path, sha: Any) -> None:
        self.fh = open(path, "r+b")  # noqa: SIM115 (closed in close())
        self.fh.seek(0, os.SEEK_END)
        self.sha = sha

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.fh.flush()
        self.sha.update(data)

    def close(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass


async def transfer(client: CivitaiClient, url: str, part: Path, state: TransferState, *, file_name: str,
                   expected_size: int | None = None, on_bytes: OnBytes | None = None) -> TransferResult:
    """Bring `part` to the whole file at `url`, resuming at `state.offset` when it can."""
    restarts = 0
    while True:
        try:
            state.offset = await asyncio.to_thread(_prepare_part, part, state.offset)
        except OSError as exc:
            problem = DownloadProblem.DISK_FULL if is_disk_full(exc) else DownloadProblem.WRITE_FAILED
            raise DownloadError(problem, f"cannot open the part file {part}: {exc.strerror or exc}") from exc
        try:
            return await _attempt(client, url, part, state, file_name, expected_size, on_bytes)
        except _StartOver:
            restarts += 1
            state.offset, state.etag, state.last_modified = 0, None, None
            if restarts > 2:
                raise DownloadError(DownloadProblem.SERVER_ERROR, "the file keeps changing on the server") from None


class _StartOver(Exception):
    pass


async def _attempt(client: CivitaiClient, url: str, part: Path, state: TransferState, file_name: str,
                   expected_size: int | None, on_bytes: OnBytes | None) -> TransferResult:
    offset = state.offset
    extra: dict[str, str] = {}
    if offset > 0:
        extra["Range"] = f"bytes={offset}-"
        validator = state.etag if state.etag and not state.etag.startswith("W/") else state.last_modified
        if validator:
            extra["If-Range"] = validator
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream_get(current, {**client.download_auth(current), **extra}) as response:
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("location", "")
                    nxt = urljoin(current, location)
                    if not location or urlsplit(nxt).scheme not in ("http", "https"):
                        raise DownloadError(DownloadProblem.BAD_REDIRECT, f"CivitAI redirected to an unusable address {location[:80]!r}")
                    current = nxt
                    continue
                return await _receive(response, part, state, file_name, expected_size, on_bytes, current)
        except httpx.TimeoutException as exc:
            raise DownloadError(DownloadProblem.TIMEOUT, f"the download stalled ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise DownloadError(DownloadProblem.NETWORK, f"the connection dropped: {exc or type(exc).__name__}") from exc
    raise DownloadError(DownloadProblem.BAD_REDIRECT, f"more than {MAX_REDIRECTS} redirects")


async def _receive(response: httpx.Response, part: Path, state: TransferState, file_name: str,
                   expected_size: int | None, on_bytes: OnBytes | None, url: str) -> TransferResult:
    status = response.status_code
    ctype = response.headers.get("content-type", "").lower()
    offset = state.offset
    if status == 416 and offset > 0:
        if response.headers.get("content-range", "") == f"bytes */{offset}":  # the part is the whole file already
            sha = await asyncio.to_thread(_rehash, part, offset)
            return TransferResult(offset, sha.hexdigest().upper(), state.etag, state.last_modified, offset)
        raise _StartOver()
    if status not in (200, 206):
        text = (await response.aread())[:4096].decode("utf-8", "replace")
        raise _classify_status(status, ctype, text, url)
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    if offset > 0 and status == 200:  # Range ignored, or If-Range said the file changed: this is the whole file
        offset = state.offset = await asyncio.to_thread(_prepare_part, part, 0)
    if offset > 0:
        start = response.headers.get("content-range", "")
        if not start.startswith(f"bytes {offset}-") or (state.etag and etag and etag != state.etag):
            raise _StartOver()
    elif status == 206:
        raise _StartOver()
    if "text/html" in ctype or "application/json" in ctype or ctype.startswith("text/"):
        raise DownloadError(DownloadProblem.NOT_A_MODEL, f"CivitAI sent {ctype.split(';')[0]} instead of the model file")
    length = response.headers.get("content-length", "")
    if expected_size is not None and length.isdigit() and offset + int(length) != expected_size:
        raise DownloadError(DownloadProblem.SIZE_MISMATCH,
                            f"the server sends {offset + int(length):,} bytes, CivitAI lists {expected_size:,} for {file_name}")
    state.etag, state.last_modified = etag, modified
    try:
        sha = await asyncio.to_thread(_rehash, part, offset) if offset else hashlib.sha256()
        writer = await asyncio.to_thread(_PartWriter, part, sha)
    except OSError as exc:
        raise DownloadError(DownloadProblem.WRITE_FAILED, f"cannot read or open the part file: {exc.strerror or exc}") from exc
    pending = bytearray()
    sniffed = offset > 0
    written = offset
    try:
        try:
            async for chunk in response.aiter_raw():
                pending += chunk
                if not sniffed and len(pending) >= SNIFF_BYTES:
                    _check_sniff(bytes(pending[:SNIFF_BYTES]), file_name)
                    sniffed = True
                if expected_size is not None and written + len(pending) > expected_size:
                    raise DownloadError(DownloadProblem.SIZE_MISMATCH,
                                        f"the server sends more than the {expected_size:,} bytes CivitAI lists for {file_name}")
                if len(pending) >= FLUSH_BYTES:
                    written = await _flush(writer, pending, written, state, on_bytes)
        except (httpx.TransportError, asyncio.CancelledError):
            if sniffed and pending:  # what came before the drop (or the pause) is kept for the resume
                await asyncio.shield(_flush(writer, pending, written, state, None))
            raise
        if not sniffed:
            _check_sniff(bytes(pending), file_name)
        if pending:
            written = await _flush(writer, pending, written, state, on_bytes)
    finally:
        await asyncio.to_thread(writer.close)
    return TransferResult(written, sha.hexdigest().upper(), etag, modified, offset)



async def _flush(writer: _PartWriter, pending: bytearray, written: int, state: TransferState,
                 on_bytes: OnBytes | None) -> int:
    data = bytes(pending)
    pending.clear()
    write = asyncio.ensure_future(asyncio.to_thread(writer.write, data))
    try:
        await asyncio.shield(write)  # a pause or cancel mid-write: the write ends, and is counted
    except asyncio.CancelledError:
        await asyncio.wait([write])
        if not write.cancelled() and write.exception() is None:
            state.offset = written + len(data)
        raise
    except OSError as exc:
        if is_disk_full(exc):
            state.offset = await asyncio.to_thread(_held, writer)  # what did reach the disk is kept
            raise DownloadError(DownloadProblem.DISK_FULL, f"the disk is full ({exc.strerror}); the part file is kept") from exc
        raise DownloadError(DownloadProblem.WRITE_FAILED, f"cannot write the part file: {exc.strerror or exc}") from exc
    written += len(data)
    state.offset = written
    if on_bytes is not None:
        on_bytes(len(data), state)
    return written


def _held(writer: _PartWriter) -> int:
    try:
        return os.fstat(writer.fh.fileno()).st_size
    except (OSError, ValueError):
        return 0


def _check_sniff(head: bytes, file_name: str) -> None:
    sniffed = sniff_model(head)
    if sniffed in (Sniffed.HTML, Sniffed.JSON, Sniffed.EMPTY):
        raise DownloadError(DownloadProblem.NOT_A_MODEL, f"CivitAI sent {'an empty body' if sniffed is Sniffed.EMPTY else 'an ' + sniffed.value.upper() + ' page'} instead of the model file")
    if sniffed not in expected_kind(file_name):
        raise DownloadError(DownloadProblem.NOT_A_MODEL, f"the bytes CivitAI sent are not a {Path(file_name).suffix} model ({sniffed.value})")
