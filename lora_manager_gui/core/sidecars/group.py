"""Turning one group of sidecars into an adapter record: parse each, merge, find and check the model
file. Pure and thread-safe: the importer runs it on its work pool, many groups per call.
"""
from __future__ import annotations

import logging
import os

import orjson
import posixpath
from dataclasses import dataclass, field
from typing import Any

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, SidecarGroup, model_stem
from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.records import (
    INVALID_METADATA,
    INVALID_MODEL_FILE,
    MISSING_MODEL_FILE,
    STATUS_FAILED,
    STATUS_IMPORTED,
    STATUS_NOT_A_SIDECAR,
    STATUS_NOT_ON_CIVITAI,
    UNSAFE_PATH,
    AdapterRecord,
    ImportIssue,
    adapter_record_of,
    derive_triggers,
)
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS, SafetensorsHeader, read_header
from lora_manager_gui.core.sidecars import parse_sidecar
from lora_manager_gui.core.sidecars.base_models import normalize_base_model
from lora_manager_gui.core.sidecars.base import SidecarContext, SidecarFields, read_sidecar
from lora_manager_gui.core.sidecars.header import header_fields
from lora_manager_gui.core.sidecars.merge import merge, rank
from lora_manager_gui.core.sidecars.validation import clean_json
from lora_manager_gui.core.sidecars.registry import PARSE_ORDER, PLAIN_JSON_KIND, plain_json_format

# Parse order (from the registry): sidecars that may know the local file's SHA-256 first, so a model
# JSON can pick its version by hash.
_PARSE_ORDER = PARSE_ORDER
log = logging.getLogger(__name__)
_EXT_ORDER = {ext: i for i, ext in enumerate(MODEL_EXTENSIONS)}
_NO_NAMES: frozenset[str] = frozenset()


class ModelIndexMissError(LookupError):
    """A parse in a worker process asked about a model file outside the folders it was given (a
    name from the metadata with a subfolder in it); the caller parses that group again in-process."""


@dataclass
class ParsedGroup:
    key: str
    status: str
    record: AdapterRecord | None = None
    model: FileEntry | None = None
    expected_model_path: str | None = None  # where the model file should be, when it is missing
    model_problem: str | None = None  # error class of the model file itself
    issues: list[ImportIssue] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    not_on_civitai: bool = False
    # The model file's SHA-256 as a sidecar knows it (Lora Manager, Stability Matrix, sd-civitai-browser-plus),
    # upper-case; the store may seed the hash cache with it for the model file's (size, mtime_ns).
    file_sha256: str | None = None


def check_model_file(entry: FileEntry, options: ImportOptions) -> ImportIssue | None:
    """Size bounds for every model file; a header check for safetensors. Nothing is ever unpickled."""
    return check_model_file_header(entry, options)[0]


def check_model_file_header(entry: FileEntry, options: ImportOptions) -> tuple[ImportIssue | None, SafetensorsHeader | None]:
    """check_model_file, with the safetensors header it read (None for other files or a problem)."""
    if entry.size < max(1, options.min_model_bytes):
        what = "empty" if entry.size == 0 else f"only {entry.size} bytes"
        return ImportIssue(entry.path, INVALID_MODEL_FILE, f"the model file is {what}, below the {options.min_model_bytes}-byte minimum"), None
    if options.max_model_bytes is not None and entry.size > options.max_model_bytes:
        return ImportIssue(entry.path, INVALID_MODEL_FILE, f"the model file is {entry.size:,} bytes, over the {options.max_model_bytes:,}-byte maximum"), None
    if options.check_safetensors and entry.name.lower().endswith(".safetensors"):
        try:
            return None, read_header(entry.path, size=entry.size)
        except FileProblemError as exc:
            return ImportIssue(entry.path, exc.error_class, exc.message), None
    return None, None


def safe_relative_name(name: str) -> str | None:
    """A '/'-separated relative path from metadata, or None when it could leave the folder."""
    if not name or "\x00" in name:
        return None
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or norm.startswith("~"):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _load(group: SidecarGroup, options: ImportOptions, issues: list[ImportIssue]) -> list[tuple[str, FileEntry, Any]]:
    loaded = []
    sidecars = group.sidecars
    if len(sidecars) > 1:  # most groups have one sidecar: nothing to order
        sidecars = sorted(sidecars, key=lambda s: _PARSE_ORDER.get(s[0], 9))
    for kind, entry in sidecars:
        try:
            data, problems = read_sidecar(entry.path, options.max_sidecar_bytes, size=entry.size)
        except FileProblemError as exc:
            issues.append(ImportIssue(entry.path, exc.error_class, exc.message))
            continue
        loaded.append((kind, entry, data))
        for message in problems:  # values no column can hold, left out of the document
            issues.append(ImportIssue(entry.path, INVALID_METADATA, message))
    return loaded


def _resolve_model(
    group: SidecarGroup, merged: SidecarFields, models: dict[str, FileEntry], issues: list[ImportIssue]
) -> tuple[FileEntry | None, str | None]:
    """(model entry, expected path when missing). Same base name first, then names from metadata."""
    wanted = [n.lower() for n in merged.model_file_names]
    if group.models:
        for m in group.models:
            if m.name.lower() in wanted:
                return m, None
        return min(group.models, key=lambda m: _EXT_ORDER.get(os.path.splitext(m.name)[1].lower(), 9)), None
    names = list(merged.model_file_names)
    if merged.primary_file_name and merged.primary_file_name not in names:
        names.insert(0, merged.primary_file_name)
    expected = None
    for raw in names:
        rel = safe_relative_name(raw)
        if rel is None:
            issues.append(ImportIssue(merged.path, UNSAFE_PATH, f"the metadata names the model file {raw!r}, which would resolve outside the import root; refused"))
            continue
        candidates = [rel] if rel.lower().endswith(MODEL_EXTENSIONS) else [rel + ext for ext in MODEL_EXTENSIONS]
        for cand in candidates:
            path = posixpath.join(group.folder.replace(os.sep, "/"), cand).replace("/", os.sep)
            hit = models.get(path)
            if hit is not None:
                return hit, None
        expected = expected or os.path.join(group.folder, candidates[0].replace("/", os.sep))
    if any(i.kind == UNSAFE_PATH for i in issues) and expected is None:
        return None, None
    expected = expected or os.path.join(group.folder, group.base + ".safetensors")
    shown = ", ".join(repr(n) for n in names[:3]) or "none"
    issues.append(ImportIssue(merged.path, MISSING_MODEL_FILE, f"no model file for this metadata in {group.folder}: looked for '{group.base}' with {'/'.join(MODEL_EXTENSIONS)} and the names it gives ({shown})"))
    return None, expected


def folder_index(models: dict[str, FileEntry]) -> dict[str, frozenset[str]]:
    """Lower-cased model file names per folder, built once per scan."""
    out: dict[str, set[str]] = {}
    for entry in models.values():
        out.setdefault(os.path.dirname(entry.path), set()).add(entry.name.lower())
    return {k: frozenset(v) for k, v in out.items()}


def parse_groups(
    groups: list[SidecarGroup], models: dict[str, FileEntry], folders: dict[str, frozenset[str]], options: ImportOptions
) -> list[ParsedGroup]:
    return [parse_one(group, models, folders, options) for group in groups]


def parse_one(
    group: SidecarGroup, models: dict[str, FileEntry], folders: dict[str, frozenset[str]], options: ImportOptions
) -> ParsedGroup:
    """parse_group, with any unexpected error made a failed group (ModelIndexMissError excepted)."""
    try:
        return parse_group(group, models, folders, options)
    except ModelIndexMissError:
        raise  # not a problem of the file: the caller parses it again with the whole index
    except Exception as exc:  # a parser bug must cost one file, not a 70,000-file import
        log.exception("unexpected error while importing %s", group.key)
        path = group.sidecars[0][1].path if group.sidecars else group.key
        failed = ParsedGroup(key=group.key, status=STATUS_FAILED, model=group.models[0] if group.models else None)
        failed.issues.append(ImportIssue(path, INVALID_METADATA, f"unexpected {type(exc).__name__} while reading the metadata: {exc}"))
        return failed


def parse_group(
    group: SidecarGroup, models: dict[str, FileEntry], folders: dict[str, frozenset[str]], options: ImportOptions
) -> ParsedGroup:
    result = ParsedGroup(key=group.key, status=STATUS_FAILED)
    issues = result.issues
    loaded = _load(group, options, issues)
    folder_names = folders.get(group.folder, _NO_NAMES)
    sha = None
    parsed: list[SidecarFields] = []
    for kind, entry, data in loaded:
        if kind == PLAIN_JSON_KIND and not group.models and plain_json_format(data).needs_model_file:
            continue  # a stray .json (workflow, config) beside no model file: not a sidecar
        try:
            fields = parse_sidecar(kind, entry.path, data, SidecarContext(folder_names, sha))
        except FileProblemError as exc:
            issues.append(ImportIssue(entry.path, exc.error_class, exc.message))
            continue
        sha = sha or fields.file_sha256
        parsed.append(fields)
        for message in fields.problems:  # items a parser left out (a malformed preview image, ...)
            issues.append(ImportIssue(entry.path, INVALID_METADATA, message))
    if not parsed:
        if not issues and loaded:
            result.status = STATUS_NOT_A_SIDECAR
        if group.models:
            result.model = group.models[0]
        return result
    merged = merge(parsed)
    result.formats = [parsed[0].format] if len(parsed) == 1 else sorted({p.format for p in parsed}, key=rank)
    model, expected = _resolve_model(group, merged, models, issues)
    result.model, result.expected_model_path = model, expected
    if model is None:
        return result
    problem, header = check_model_file_header(model, options)
    if problem is not None:
        issues.append(problem)
        result.model_problem = problem.kind.value
        return result
    if merged.not_on_civitai and not any(not p.not_on_civitai for p in parsed):
        result.status = STATUS_NOT_ON_CIVITAI
        result.not_on_civitai = True
        return result
    if not merged.base_model and header is not None:  # the header read by the check above
        merged = merge(parsed + [header_fields(model.path, header, full=False)])
    best = next(e for _, e in group.sidecars if e.path == merged.path)
    issues.extend(storable_json(merged))
    result.record = build_record(merged, model, best, result.formats)
    result.file_sha256 = merged.file_sha256
    result.status = STATUS_IMPORTED
    return result


def build_record(merged: SidecarFields, model: FileEntry, best: FileEntry, formats: list[str]) -> AdapterRecord:
    name = merged.name or model_stem(model.name)
    version = merged.version or ""
    # Every field of AdapterRecord, in its order: see adapter_record_of for why not AdapterRecord(...).
    return adapter_record_of({
        "name": name,
        "version": version,
        "id": None,
        "canonical_version_name": f"{name} - {version}" if version else name,
        "description": merged.description,
        "author_username": merged.author_username,
        "visibility": merged.visibility or "Public",
        "published_at": merged.published_at,
        "tags": list(dict.fromkeys(merged.tags)),
        "trained_words": list(dict.fromkeys(merged.trained_words)),
        "triggers": derive_triggers(merged.trained_words),
        "file_path": model.path,
        "weight": merged.weight if merged.weight else 1.0,
        "active": False,
        "ordinal": None,
        "archetype": None,
        "archetype_confidence": None,
        "primary_file_name": merged.primary_file_name,
        "primary_file_size_kb": merged.primary_file_size_kb,
        "primary_file_sha256": merged.primary_file_sha256,
        "primary_file_download_url": merged.primary_file_download_url,
        "primary_file_local_path": model.path,
        "supports_generation": merged.supports_generation,
        "sd_version": merged.sd_version,
        "nsfw_level": merged.nsfw_level or 0,
        "activation_text": merged.activation_text,
        "stats": merged.stats,
        "extra": merged.extra,
        "json_file_path": best.path,
        "json_file_mtime": best.mtime_ns,
        "json_file_size": best.size,
        "last_ingested_at": None,
        "created_at": None,
        "updated_at": None,
        "base_model": normalize_base_model(merged.base_model),
        "model_type": merged.model_type,
        "civitai_model_id": merged.civitai_model_id,
        "civitai_version_id": merged.civitai_version_id,
        "notes": merged.notes,
        "sources": formats,
        "file_size_bytes": model.size,
        "file_mtime_ns": model.mtime_ns,
        "file_missing": False,
        "preview_images": merged.preview_images,
    })


def storable_json(merged: SidecarFields) -> list[ImportIssue]:
    """Make `extra` and `stats` writable as JSON (orjson writes at most 254 levels; what the standard
    library decoded was cleaned already): what cannot be written is left out, one issue each."""
    issues = []
    for name in ("extra", "stats"):
        value = getattr(merged, name)
        if not value:
            continue
        try:
            orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            cleaned, problems = clean_json(value)
            setattr(merged, name, cleaned or ({} if name == "extra" else None))
            issues.extend(ImportIssue(merged.path, INVALID_METADATA, f"{name}: {m}") for m in problems)
    return issues
