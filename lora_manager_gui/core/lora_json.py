"""The `lora_json` document (see schemas/lora_json.schema.json) and its `lora_info` text.

Pure: it takes resolved entries (what the inspector found for each stack entry) and builds the
document downstream ComfyUI metadata nodes consume. Sizes are binary units, timestamps UTC with Z.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any

from lora_manager_gui.core.sizes import human_size
from lora_manager_gui.core.stacks.model import StackEntry
from lora_manager_gui.core.stacks.names import lora_stem

DEFAULT_FALLBACK_NAME = "No LoRAs"
EMPTY_STACK_ERROR = "no LoRAs found in the stack"
MAX_RAW_CHARS = 20_000


@dataclass
class CivitaiData:
    """What the library knows about a LoRA on CivitAI (from a lookup or an imported sidecar)."""

    model_name: str | None
    version_name: str | None
    creator: str | None
    tags: list[str]
    stats: dict[str, Any]
    fetched_at: datetime
    model_id: int | None = None
    version_id: int | None = None
    base_model: str | None = None
    trained_words: list[str] = field(default_factory=list)
    nsfw_level: int | None = None
    source: str = "civitai"  # "civitai" (looked up by hash) or "sidecar" (imported metadata)

    @classmethod
    def from_info(cls, info: Any, source: str = "civitai") -> CivitaiData | None:
        """From core.civitai.CivitaiInfo (read by attribute, so this module does not depend on it)."""
        fetched = getattr(info, "fetched_at", None)
        if not isinstance(fetched, datetime):
            return None
        return cls(
            model_name=getattr(info, "model_name", None), version_name=getattr(info, "version_name", None),
            creator=getattr(info, "creator", None), tags=[str(t) for t in getattr(info, "tags", None) or []],
            stats=dict(getattr(info, "stats", None) or {}), fetched_at=fetched,
            model_id=getattr(info, "model_id", None), version_id=getattr(info, "version_id", None),
            base_model=getattr(info, "base_model", None),
            trained_words=[str(w) for w in getattr(info, "trained_words", None) or []],
            nsfw_level=getattr(info, "nsfw_level", None), source=source)


@dataclass
class ResolvedEntry:
    """A stack entry and what the library and the disk say about it."""

    entry: StackEntry
    file_path: str | None = None  # the resolved file (absolute), else the reference as written
    exists: bool = False
    size_bytes: int | None = None
    modified_at: datetime | None = None
    sha256: str | None = None
    civitai: CivitaiData | None = None
    library_name: str | None = None
    adapter_id: int | None = None
    match: str | None = None  # how it was found: path, sha256, autov2, autov3, name
    problem: str | None = None  # e.g. "cannot be hashed: permission denied"

    @property
    def display_name(self) -> str:
        if self.civitai and self.civitai.model_name:
            return self.civitai.model_name
        if self.library_name:
            return self.library_name
        return clean_name(self.entry.stem or self.entry.reference or f"LoRA {self.entry.index + 1}")


def display_names(items: list[ResolvedEntry]) -> list[str]:
    """Each item's `display_name`, worked out once per distinct name source (a big stack names
    the same few LoRAs again and again)."""
    memo: dict[tuple[Any, ...], str] = {}
    out: list[str] = []
    for item in items:
        entry = item.entry
        if not (entry.path or entry.name):  # named by its index: nothing to share
            out.append(item.display_name)
            continue
        civitai = item.civitai
        key = (civitai.model_name if civitai else None, item.library_name, entry.path, entry.name)
        name = memo.get(key)
        if name is None:
            name = memo[key] = item.display_name
        out.append(name)
    return out


@lru_cache(maxsize=8192)  # the same LoRA is named again and again in a big stack
def clean_name(stem: str) -> str:
    """A readable name from a file stem: underscores to spaces, runs of spaces collapsed."""
    text = re.sub(r"\s+", " ", lora_stem(stem).replace("_", " ")).strip()
    return text or stem or "?"


def utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return _utc_text(moment)


@lru_cache(maxsize=4096)  # a stack names the same files again and again
def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _flat_copy(raw: Any) -> dict[str, Any] | None:
    """A copy of a dict of short scalar values (what most loader rows are), which a JSON round trip
    would give back unchanged; None for anything else."""
    if type(raw) is not dict or len(raw) > 64:
        return None
    size = 0
    for key, value in raw.items():
        if type(key) is not str:
            return None
        kind = type(value)
        if kind is str:
            size += len(value)
        elif kind is float:
            if value != value or value in (math.inf, -math.inf):
                return None
        elif value is not None and kind is not int and kind is not bool:
            return None
        size += len(key) + 8
    return dict(raw) if size < MAX_RAW_CHARS // 2 else None


def _jsonable(raw: Any) -> Any:
    fast = _flat_copy(raw)
    if fast is not None:
        return fast
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return str(raw)[:MAX_RAW_CHARS]
    if len(text) > MAX_RAW_CHARS:
        return text[:MAX_RAW_CHARS]
    return json.loads(text)


def _civitai_block(data: CivitaiData | None) -> dict[str, Any] | None:
    if data is None:
        return None
    block: dict[str, Any] = {
        "civitai_name": data.model_name,
        "version_name": data.version_name,
        "creator": data.creator,
        "tags": list(data.tags),
        "stats": _jsonable(data.stats) if isinstance(data.stats, dict) else {},
        "fetched_at": utc_text(data.fetched_at),
        "model_id": data.model_id,
        "version_id": data.version_id,
        "base_model": data.base_model,
        "trained_words": list(data.trained_words),
        "nsfw_level": data.nsfw_level,
        "source": data.source,
    }
    if data.model_id is not None:
        url = f"https://civitai.com/models/{data.model_id}"
        block["url"] = url + (f"?modelVersionId={data.version_id}" if data.version_id is not None else "")
    return block


def _lora_block(index: int, item: ResolvedEntry, display_name: str) -> dict[str, Any]:
    entry = item.entry
    block: dict[str, Any] = {"index": index, "display_name": display_name}
    if item.sha256 and item.exists:
        block["hash"] = item.sha256.upper()
    block["file"] = {
        "exists": item.exists,
        "path": item.file_path or entry.reference,
        "size_bytes": item.size_bytes if item.exists else None,
        "size_human": human_size(item.size_bytes) if item.exists and item.size_bytes is not None else None,
        "modified_at": utc_text(item.modified_at) if item.exists else None,
    }
    block["strength"] = entry.strength
    block["clip_strength"] = entry.clip_strength
    block["original"] = {"raw": _jsonable(entry.raw), "name": entry.name, "path": entry.path}
    block["civitai"] = _civitai_block(item.civitai)
    block["match"] = item.match
    block["node_type"] = entry.node_type
    block["node_id"] = entry.node_id
    if item.library_name is not None:
        block["library_name"] = item.library_name
    if item.problem:
        block["problem"] = item.problem
    return block


def _ranked_tags(items: list[ResolvedEntry]) -> list[str]:
    """CivitAI tags over the stack, most frequent first; ties keep first-seen order."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for item in items:
        if item.civitai is None:
            continue
        for tag in dict.fromkeys(t.strip() for t in item.civitai.tags if t and t.strip()):
            key = tag.lower()
            counts[key] += 1
            first_seen.setdefault(key, len(first_seen))
            spelling.setdefault(key, tag)
    return [spelling[key] for key in sorted(counts, key=lambda k: (-counts[k], first_seen[k]))]


@dataclass(frozen=True)
class StackSummary:
    """What a resolved stack adds up to (the document's `summary`, for views that show entries)."""

    count: int
    missing_files: int
    civitai_matches: int
    local_only: int
    total_size_bytes: int
    tags: tuple[str, ...]

    @property
    def total_size_human(self) -> str:
        return human_size(self.total_size_bytes)


def summarize(items: list[ResolvedEntry]) -> StackSummary:
    matches = sum(1 for item in items if item.civitai is not None)
    return StackSummary(
        count=len(items), missing_files=sum(1 for item in items if not item.exists), civitai_matches=matches,
        local_only=len(items) - matches,
        total_size_bytes=sum(item.size_bytes or 0 for item in items if item.exists),
        tags=tuple(_ranked_tags(items)))


def build_document(items: list[ResolvedEntry], fallback_name: str | None = None,
                   error: str | None = None) -> dict[str, Any]:
    """The lora_json document. An empty stack (or a read `error`) gives an `error` and the fallback name."""
    loras = [_lora_block(index, item, name) for index, (item, name) in enumerate(zip(items, display_names(items)))]
    summary = summarize(items)
    document: dict[str, Any] = {
        "loras": loras,
        "summary": {
            "count": summary.count,
            "missing_files": summary.missing_files,
            "civitai_matches": summary.civitai_matches,
            "local_only": summary.local_only,
            "total_size_bytes": summary.total_size_bytes,
            "total_size_human": summary.total_size_human,
            "tags": list(summary.tags),
        },
        "combined_display": " + ".join(block["display_name"] for block in loras),
    }
    if not items or error:
        document["combined_display"] = (fallback_name or "").strip() or DEFAULT_FALLBACK_NAME
        document["error"] = error or EMPTY_STACK_ERROR
        if error:
            document["loras"] = []
    return document


def _strength_text(strength: Any) -> str:
    if type(strength) is float and strength:  # not 0.0: the cache would not tell -0.0 apart
        return _number_strength_text(strength)
    if isinstance(strength, list) and strength:
        return f"strength {min(strength):.2f}–{max(strength):.2f} over {len(strength)} steps"
    if isinstance(strength, (int, float)):
        return f"strength {strength:.2f}"
    return "strength set when the workflow runs"


@lru_cache(maxsize=4096)  # a stack repeats the same few strengths
def _number_strength_text(strength: float) -> str:
    return f"strength {strength:.2f}"


def lora_info_text(document: dict[str, Any]) -> str:
    """A summary line, then one bullet per LoRA: strength, hash fragment, file status."""
    summary = document.get("summary", {})
    loras = document.get("loras", [])
    if not loras:
        reason = document.get("error") or EMPTY_STACK_ERROR
        return f"{document.get('combined_display') or DEFAULT_FALLBACK_NAME}: {reason}"
    lines = [_summary_line(summary.get("count", len(loras)), summary.get("total_size_human", "0 B"),
                           summary.get("civitai_matches", 0), summary.get("local_only", 0),
                           summary.get("missing_files", 0))]
    for block in loras:
        file = block.get("file", {})
        lines.append(_bullet(block["display_name"], block.get("strength"), block.get("hash"),
                             bool(file.get("exists")), file.get("size_human")))
    return "\n".join(lines)


def lora_info_for(items: list[ResolvedEntry], fallback_name: str | None = None) -> str:
    """The same text as `lora_info_text(build_document(items, fallback_name))`, from the entries."""
    if not items:
        return f"{(fallback_name or '').strip() or DEFAULT_FALLBACK_NAME}: {EMPTY_STACK_ERROR}"
    summary = summarize(items)
    lines = [_summary_line(summary.count, summary.total_size_human, summary.civitai_matches,
                           summary.local_only, summary.missing_files)]
    for item, name in zip(items, display_names(items)):
        size = human_size(item.size_bytes) if item.exists and item.size_bytes is not None else None
        lines.append(_bullet(name, item.entry.strength,
                             item.sha256.upper() if item.sha256 and item.exists else None, item.exists, size))
    return "\n".join(lines)


def _summary_line(count: int, size: str, matches: int, local: int, missing: int) -> str:
    parts = [f"{count} LoRA{'s' if count != 1 else ''}", f"{size}", f"{matches} on CivitAI", f"{local} local only"]
    if missing:
        parts.append(f"{missing} missing file{'s' if missing != 1 else ''}")
    return " · ".join(parts)


def _bullet(name: str, strength: Any, sha: str | None, exists: bool, size: str | None) -> str:
    fragment = f"#{sha[:10]}" if sha else "no hash"
    status = (size or "size unknown") if exists else "missing file"
    return f"• {name} — {_strength_text(strength)} — {fragment} — {status}"
