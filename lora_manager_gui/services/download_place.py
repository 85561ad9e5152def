"""A finished `.part` file checked and put in its place, with its sidecar and preview beside it.

Checks, all before the file gets its name: the size CivitAI lists, the SHA-256 CivitAI lists, and
for a safetensors file a header that parses and indexes exactly the bytes the file has.
Placing never overwrites: `os.link` (fails if the name exists) then the part is unlinked; where
hard links are not possible the name is reserved with O_EXCL and the part renamed over that
reservation. A taken name gets the version id in it (`name-v123.safetensors`).
The sidecar (`<stem>.civitai.info`, the version object with the model's creator, tags and
description, as the importer reads it) and the preview (`<stem>.preview.<ext>`) are written
beside it the same way. Blocking: run in a thread.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.safetensors import read_header
from lora_manager_gui.services.download_transfer import DownloadError, DownloadProblem, is_disk_full


def check_part(part: Path, file_name: str, *, size: int, sha256: str, expected_size: int | None,
               expected_sha256: str | None) -> None:
    """Raise DownloadError unless the part is the file CivitAI lists."""
    if expected_size is not None and size != expected_size:
        raise DownloadError(DownloadProblem.SIZE_MISMATCH,
                            f"got {size:,} bytes, CivitAI lists {expected_size:,} for {file_name}")
    if expected_sha256 and sha256.upper() != expected_sha256.upper():
        raise DownloadError(DownloadProblem.SHA256_MISMATCH,
                            f"the SHA-256 of {file_name} is {sha256[:16]}..., CivitAI lists {expected_sha256[:16]}...")
    if file_name.lower().endswith((".safetensors", ".sft")):
        try:
            read_header(part, check_size=True)
        except FileProblemError as exc:
            raise DownloadError(DownloadProblem.NOT_A_MODEL, f"{file_name} is not a whole safetensors file: {exc}") from exc


def _link_into_place(source: Path, dest: Path) -> bool:
    """Give `source` the name `dest` unless that name exists; False when it does."""
    try:
        os.link(source, dest)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EACCES):
            raise
        try:  # no hard links here: reserve the name, then rename over the reservation
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        os.replace(source, dest)
        return True
    os.unlink(source)
    return True


def free_name(folder: Path, name: str, version_id: int) -> list[Path]:
    stem, dot, ext = name.rpartition(".")
    return [folder / name, folder / f"{stem}-v{version_id}{dot}{ext}"]


def place_file(part: Path, folder: Path, name: str, version_id: int, sha256: str) -> Path:
    """The part file under its name in `folder`, else under its versioned name; never over another
    file (a file the library already holds is not queued at all: DownloadQueue.enqueue)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for candidate in free_name(folder, name, version_id):
            if _link_into_place(part, candidate):
                return candidate
    except OSError as exc:
        problem = DownloadProblem.DISK_FULL if is_disk_full(exc) else DownloadProblem.WRITE_FAILED
        raise DownloadError(problem, f"cannot put {name} in {folder}: {exc.strerror or exc}") from exc
    raise DownloadError(DownloadProblem.WRITE_FAILED,
                        f"{name} and its versioned name are already taken in {folder}; the download is kept as {part.name}")


def stem_of(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def write_beside(model: Path, suffix: str, data: bytes) -> Path | None:
    """`<stem><suffix>` beside the model, written whole and never over an existing file."""
    target = model.with_name(stem_of(model) + suffix)
    if target.exists():
        return None
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    try:
        if _link_into_place(tmp, target):
            return target
        return None
    finally:
        if tmp.exists():
            tmp.unlink()


def sidecar_json(info: dict[str, Any]) -> bytes:
    """The `.civitai.info` text: the version object, as Civitai Helper writes it (indent 4)."""
    return json.dumps(info, indent=4, ensure_ascii=True).encode("ascii")


def write_sidecar(model: Path, info: dict[str, Any]) -> Path | None:
    return write_beside(model, ".civitai.info", sidecar_json(info))


def merge_model_into_version(version: dict[str, Any], model: dict[str, Any] | None) -> dict[str, Any]:
    """The version object with what only the model has (creator, tags, description, licence), as
    the zixaphir Civitai Helper merges it (FORMATS.md §3.2): the importer reads all of it."""
    info = dict(version)
    if not model:
        return info
    inner = dict(info.get("model") or {})
    for key in ("name", "type", "nsfw", "poi"):
        if key in model and key not in inner:
            inner[key] = model[key]
    for key in ("description", "tags"):
        if model.get(key) is not None:
            inner[key] = model[key]
    info["model"] = inner
    if isinstance(model.get("creator"), dict):
        info["creator"] = model["creator"]
    if "modelId" not in info and isinstance(model.get("id"), int):
        info["modelId"] = model["id"]
    for key in ("allowNoCredit", "allowCommercialUse", "allowDerivatives", "allowDifferentLicense"):
        if key in model:
            info[key] = model[key]
    return info
