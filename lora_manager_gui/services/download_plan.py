"""From what a user pasted to a queued download: the version, the file, the folder.

`plan_download` asks CivitAI (the version; the model for its newest version, creator, tags and
description), chooses the file (core.download_files.choose_file) and the folder: `--to DIR`
as given, else `<first library root>/<base model>`, every component made safe and kept inside
the root. The item it returns is ready for db.downloads.add.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lora_manager_gui.core.civitai_errors import CivitaiError, CivitaiNotFoundError
from lora_manager_gui.core.civitai_refs import CivitaiRef, CivitaiRefError, parse_civitai_ref
from lora_manager_gui.core.download_files import (
    FileChoiceError,
    RemoteFile,
    UnsafePathError,
    choose_file,
    safe_component,
    safe_file_name,
    target_folder,
    version_files,
)
from lora_manager_gui.db.downloads import DownloadItem, DownloadStatus
from lora_manager_gui.services.download_place import merge_model_into_version
from lora_manager_gui.services.download_transfer import DownloadError, DownloadProblem

if TYPE_CHECKING:
    from lora_manager_gui.core.civitai_records import CivitaiModel
    from lora_manager_gui.services.civitai import CivitaiClient


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """One thing to download: what was pasted, optionally a file name and a target folder."""

    ref: str
    file_name: str | None = None
    dest: str | None = None  # a folder; None: <first root>/<base model>


@dataclass(frozen=True, slots=True)
class PlannedDownload:
    item: DownloadItem
    file: RemoteFile
    files: tuple[RemoteFile, ...]  # every file of the version, for a chooser to show


def newest_version_id(model: CivitaiModel) -> int | None:
    """The newest published version of a model (latest publishedAt, then highest id)."""
    versions = [v for v in model.raw.get("modelVersions") or [] if isinstance(v, dict) and type(v.get("id")) is int]
    if not versions:
        return None
    return max(versions, key=lambda v: (str(v.get("publishedAt") or ""), v["id"]))["id"]


async def _model_or_none(client: CivitaiClient, model_id: int | None) -> CivitaiModel | None:
    if model_id is None:
        return None
    try:
        return await client.model(model_id)
    except CivitaiError:
        return None  # the version alone is enough to download; the sidecar just has less


def _problem_of(exc: CivitaiError) -> DownloadError:
    if isinstance(exc, CivitaiNotFoundError):
        return DownloadError(DownloadProblem.NOT_FOUND, f"not on CivitAI: {exc}")
    return DownloadError(DownloadProblem.CIVITAI, f"CivitAI could not be asked: {exc}")


def folder_for(base_model: str | None, dest: str | None, roots: list[str]) -> Path:
    if dest:
        return Path(dest).expanduser().absolute()
    if not roots:
        raise DownloadError(DownloadProblem.UNSAFE_PATH,
                            "the library has no folder yet: import one first, or say where with --to DIR")
    try:
        return target_folder(roots[0], safe_component(base_model or "", fallback="Other"))
    except UnsafePathError as exc:
        raise DownloadError(DownloadProblem.UNSAFE_PATH, str(exc)) from exc


async def plan_download(client: CivitaiClient, request: DownloadRequest, roots: list[str]) -> PlannedDownload:
    """The download `request` means. Raises CivitaiRefError (bad text) or DownloadError."""
    ref: CivitaiRef = parse_civitai_ref(request.ref)
    try:
        model = None
        version_id = ref.version_id
        if version_id is None:
            model = await client.model(ref.model_id)  # type: ignore[arg-type]
            version_id = newest_version_id(model)
            if version_id is None:
                raise DownloadError(DownloadProblem.NO_FILE, f"model {ref.model_id} has no published version")
        version = await client.model_version(version_id)
    except CivitaiError as exc:
        raise _problem_of(exc) from exc
    if ref.model_id and version.model_id and ref.model_id != version.model_id:
        raise DownloadError(DownloadProblem.NOT_FOUND, f"version {version.id} is not a version of model {ref.model_id}")
    model = model or await _model_or_none(client, version.model_id or ref.model_id)
    files = version_files(version.raw)
    try:
        chosen = choose_file(files, name=request.file_name, file_type=ref.file_type, file_format=ref.file_format,
                             size=ref.file_size, fp=ref.file_fp)
    except FileChoiceError as exc:
        raise DownloadError(DownloadProblem.NO_FILE, str(exc)) from exc
    raw: dict[str, Any] = dict(version.raw)
    base_model = raw.get("baseModel") if isinstance(raw.get("baseModel"), str) else None
    folder = folder_for(base_model, request.dest, roots)
    name = safe_file_name(chosen.name, version.id)
    model_name = model.name if model else str((raw.get("model") or {}).get("name") or "")
    item = DownloadItem(
        id=0, ref=request.ref.strip()[:500], version_id=version.id, file_name=name, dest_dir=str(folder),
        part_path=str(folder / f".{name}.{version.id}.part"), status=DownloadStatus.QUEUED,
        model_id=version.model_id or (model.id if model else None), file_id=chosen.id, model_name=model_name,
        version_name=version.name, base_model=base_model, size_bytes=chosen.size_bytes, sha256=chosen.sha256,
        info=merge_model_into_version(raw, dict(model.raw) if model else None),
    )
    return PlannedDownload(item, chosen, files)


__all__ = ["CivitaiRefError", "DownloadRequest", "PlannedDownload", "plan_download", "newest_version_id"]
