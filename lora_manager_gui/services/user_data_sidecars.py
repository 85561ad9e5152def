"""Writing the user's data into the sidecars other tools read, so it follows the file into
ComfyUI-Lora-Manager and A1111 (FORMATS.md §3.1, §3.4):

- Lora Manager `<stem>.metadata.json`: `notes`, `favorite`, `exclude`, `tags` (the adapter's tags,
  then the user's), `usage_tips` (a JSON *string*; its `strength` is the preferred weight, its
  other keys kept);
- A1111 `<stem>.json`: `notes`, `preferred weight` (0 = the default), `activation text` (the
  user's trigger words, when they gave any).

Every key the app does not know is kept; a file that is not a JSON object is left alone with a
problem (never replaced by a worse one); writes are atomic (services/file_ops_fs.atomic_write);
the model file is never opened for writing. Which formats: `SidecarFormats.EXISTING` (default)
updates those present beside the model file; an explicit set also creates the missing ones.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.sidecars.base import DEFAULT_MAX_SIDECAR_BYTES, read_json_file
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.db.user_data import UserData
from lora_manager_gui.services.file_ops_fs import atomic_write


class SidecarFormat(StrEnum):
    LORA_MANAGER = "lora_manager"
    A1111 = "a1111"


@dataclass(frozen=True, slots=True)
class SidecarFormats:
    """Which sidecars to write: `existing` only, or these formats (created when missing)."""

    formats: frozenset[SidecarFormat] = frozenset()
    existing_only: bool = True

    @classmethod
    def existing(cls) -> SidecarFormats:
        return cls()

    @classmethod
    def of(cls, formats: Iterable[SidecarFormat | str]) -> SidecarFormats:
        return cls(frozenset(SidecarFormat(f) for f in formats), existing_only=False)

    @classmethod
    def none(cls) -> SidecarFormats:
        return cls(frozenset(), existing_only=False)


@dataclass(frozen=True, slots=True)
class AdapterFacts:
    """What a new sidecar needs besides the user's data."""

    model_path: str
    name: str
    tags: tuple[str, ...] = ()
    sha256: str | None = None
    base_model: str | None = None


def sidecar_path(model_path: str, fmt: SidecarFormat) -> str:
    stem = os.path.splitext(model_path)[0]
    return stem + (".metadata.json" if fmt is SidecarFormat.LORA_MANAGER else ".json")


def _merged_tags(facts: AdapterFacts, data: UserData) -> list[str]:
    seen: dict[str, str] = {}
    for tag in list(facts.tags) + list(data.tags):
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


def lora_manager_update(doc: dict[str, Any], facts: AdapterFacts, data: UserData) -> dict[str, Any]:
    out = dict(doc)
    if not doc:  # a new file: the keys Lora Manager needs to list it
        st = os.stat(facts.model_path)
        out.update({
            "file_name": os.path.splitext(os.path.basename(facts.model_path))[0], "model_name": facts.name,
            "file_path": facts.model_path.replace(os.sep, "/"), "size": st.st_size, "modified": st.st_mtime,
            "sha256": (facts.sha256 or "").lower(), "base_model": facts.base_model or "", "preview_url": "",
            "from_civitai": False, "civitai": {}, "modelDescription": "",
        })
    out["notes"] = data.notes or ""
    out["favorite"] = data.favorite
    out["exclude"] = data.exclude
    out["tags"] = _merged_tags(facts, data)
    tips: dict[str, Any] = {}
    raw = doc.get("usage_tips")
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
            tips = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            tips = {}
    if data.preferred_weight is not None:
        tips["strength"] = data.preferred_weight
    else:
        tips.pop("strength", None)
    out["usage_tips"] = json.dumps(tips, ensure_ascii=False)
    return out


def a1111_update(doc: dict[str, Any], facts: AdapterFacts, data: UserData) -> dict[str, Any]:
    out = dict(doc)
    out.setdefault("description", "")
    out["notes"] = data.notes or ""
    out["preferred weight"] = data.preferred_weight if data.preferred_weight is not None else 0
    if data.trigger_words:
        out["activation text"] = ", ".join(data.trigger_words)
    return out


def _encode(fmt: SidecarFormat, doc: dict[str, Any]) -> bytes:
    indent = 4 if fmt is SidecarFormat.A1111 else 2  # A1111 writes indent 4 (FORMATS.md §3.1)
    return (json.dumps(doc, ensure_ascii=False, indent=indent) + "\n").encode("utf-8")


def write_sidecars(facts: AdapterFacts, data: UserData, formats: SidecarFormats) -> tuple[list[str], list[ItemProblem]]:
    """(paths written, problems). Blocking: run on the work pool."""
    written: list[str] = []
    problems: list[ItemProblem] = []
    for fmt in (SidecarFormat.LORA_MANAGER, SidecarFormat.A1111):
        path = sidecar_path(facts.model_path, fmt)
        exists = os.path.isfile(path)
        if formats.existing_only and not exists:
            continue
        if not formats.existing_only and fmt not in formats.formats:
            continue
        doc: dict[str, Any] = {}
        if exists:
            try:
                loaded = read_json_file(path, DEFAULT_MAX_SIDECAR_BYTES)
            except FileProblemError as exc:
                problems.append(ItemProblem(path, ProblemKind.parse(exc.error_class),
                                            f"not updated (left as it is): {exc.message}"))
                continue
            if not isinstance(loaded, dict):
                problems.append(ItemProblem(path, ProblemKind.INVALID_METADATA,
                                            "not updated (left as it is): not a JSON object"))
                continue
            if fmt is SidecarFormat.A1111 and ("modelVersions" in loaded or "modelId" in loaded and "model" in loaded):
                continue  # a CivitAI JSON named <stem>.json, not A1111 user metadata
            doc = loaded
        elif not os.path.isfile(facts.model_path):
            problems.append(ItemProblem(facts.model_path, ProblemKind.MISSING_MODEL_FILE, "no sidecar written: the model file is not there"))
            continue
        update = lora_manager_update if fmt is SidecarFormat.LORA_MANAGER else a1111_update
        new = update(doc, facts, data)
        if new == doc and exists:
            continue
        try:
            atomic_write(path, _encode(fmt, new))
        except OSError as exc:
            kind = ProblemKind.DISK_FULL if exc.errno == 28 else ProblemKind.UNREADABLE
            problems.append(ItemProblem(path, kind, f"could not be written: {exc.strerror or exc}"))
            continue
        written.append(path)
    return written, problems
