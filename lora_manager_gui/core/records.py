"""Records that cross layers: what the importer produces and the repositories store and return.

`AdapterRecord` mirrors the `adapter` table column for column; `LibraryFile` mirrors `library_file`
(every model file an import has seen). Both are plain dataclasses: no peewee, no Qt.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind

# Problem classes an import reports per file (ProblemKind members: they equal their stable strings,
# which the CLI's --json and the UI use).
INVALID_JSON = ProblemKind.INVALID_JSON
INVALID_METADATA = ProblemKind.INVALID_METADATA
MISSING_MODEL_FILE = ProblemKind.MISSING_MODEL_FILE
UNSAFE_PATH = ProblemKind.UNSAFE_PATH
INVALID_MODEL_FILE = ProblemKind.INVALID_MODEL_FILE
UNREADABLE = ProblemKind.UNREADABLE
UNREADABLE_NAME = ProblemKind.UNREADABLE_NAME
TOO_LARGE = ProblemKind.TOO_LARGE
ERROR_CLASSES: tuple[str, ...] = tuple(k.value for k in (
    INVALID_JSON,
    INVALID_METADATA,
    MISSING_MODEL_FILE,
    UNSAFE_PATH,
    INVALID_MODEL_FILE,
    UNREADABLE,
    UNREADABLE_NAME,
    TOO_LARGE,
))


@dataclass
class AdapterRecord:
    """One adapter (a model version), column for column as in the `adapter` table."""

    name: str
    version: str = ""
    id: int | None = None
    canonical_version_name: str | None = None
    description: str | None = None
    author_username: str | None = None
    visibility: str = "Public"
    published_at: str | None = None
    tags: list[str] = field(default_factory=list)
    trained_words: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    file_path: str | None = None
    weight: float = 1.0
    active: bool = False
    ordinal: int | None = None
    archetype: str | None = None
    archetype_confidence: float | None = None
    primary_file_name: str | None = None
    primary_file_size_kb: float | None = None
    primary_file_sha256: str | None = None
    primary_file_download_url: str | None = None
    primary_file_local_path: str | None = None
    supports_generation: bool | None = None
    sd_version: str | None = None
    nsfw_level: int = 0
    activation_text: str | None = None
    stats: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    json_file_path: str | None = None
    json_file_mtime: int | None = None
    json_file_size: int | None = None
    last_ingested_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Columns added by the import (issue 2) beyond the CivitAI JSON list.
    base_model: str | None = None
    model_type: str | None = None
    civitai_model_id: int | None = None
    civitai_version_id: int | None = None
    notes: str | None = None
    sources: list[str] = field(default_factory=list)  # sidecar formats the row was built from
    file_size_bytes: int | None = None
    file_mtime_ns: int | None = None
    file_missing: bool = False
    # m0005: preview images and videos the sidecars list, [{"url", "type", "nsfw_level", "width", "height"}]
    preview_images: list[dict[str, Any]] = field(default_factory=list)


ADAPTER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AdapterRecord))
_new = object.__new__


def adapter_record_of(values: dict[str, Any]) -> AdapterRecord:
    """AdapterRecord(**values) for a dict that names every field, in the order of ADAPTER_FIELDS
    (what __init__ would set); not checked: the import makes one per model file. Set one by one by
    __init__, the 45 attributes cost 12.2 us a record; given as one dict built at once, 8.9 us
    (10,000 records from the benchmark's library, alternated). tests/core/test_parse_equivalence.py
    checks what the import builds this way against the class."""
    record = _new(AdapterRecord)
    record.__dict__ = values
    return record


@dataclass
class LibraryFile:
    """A model file seen by an import. `adapter_id` None means an orphan (no metadata known)."""

    path: str  # absolute, as reached under its root (symlinked folders keep their link name)
    root: str
    rel_path: str  # '/'-separated, relative to root
    size_bytes: int
    mtime_ns: int
    adapter_id: int | None = None
    folder: str = ""  # rel_path's folder, '' for the root itself
    missing: bool = False  # not found by the latest import of its root
    problem: str | None = None  # error class when the file itself is broken (invalid_model_file, ...)
    external: bool = False  # reached through a symlink that points outside the root
    last_seen_at: datetime | None = None

    @property
    def is_orphan(self) -> bool:
        return self.adapter_id is None


class ImportIssue:
    """The import's former problem record: `ImportIssue(path, error_class, message)` now builds
    the task contract's `ItemProblem` (same JSON: {"path", "class", "message"})."""

    def __new__(cls, path: str, error_class: str, message: str) -> ItemProblem:  # type: ignore[misc]
        return ItemProblem(path, ProblemKind.parse(error_class), message)


@dataclass(frozen=True)
class DuplicateClaim:
    """Two different model files claiming the same (name, version); the second was not merged."""

    name: str
    version: str
    kept_path: str  # the file the stored row belongs to
    duplicate_path: str  # the file that was not merged
    sidecar_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "paths": [self.kept_path, self.duplicate_path],
            "sidecar": self.sidecar_path,
        }


def derive_triggers(trained_words: list[str]) -> list[str]:
    """Trigger phrases from trained words: split comma lists, trim, drop empties, dedupe, keep order."""
    seen: set[str] = set()
    out: list[str] = []
    for word in trained_words:
        for part in str(word).split(","):
            phrase = " ".join(part.split())
            key = phrase.casefold()
            if phrase and key not in seen:
                seen.add(key)
                out.append(phrase)
    return out


# Status of one group of sidecars after an import (stored in import_source.status).
STATUS_IMPORTED = "imported"
STATUS_FAILED = "failed"
STATUS_DUPLICATE = "duplicate"
STATUS_NOT_ON_CIVITAI = "not_on_civitai"  # a `{}` .civitai.info: looked up, not found
STATUS_NOT_A_SIDECAR = "not_a_sidecar"  # a stray .json beside no model file (workflow, config, ...)


@dataclass
class ImportItem:
    """What the importer hands the database for one group of sidecars (`<folder>/<base name>`)."""

    key: str
    root: str
    signature: str
    status: str
    record: AdapterRecord | None = None  # None when nothing could be imported
    model_file: LibraryFile | None = None
    issues: list[ItemProblem] = field(default_factory=list)
    previous_adapter_id: int | None = None
    # The model file's SHA-256 as a sidecar knows it (upper-case), for the hash cache: the store may
    # write it for model_file's (path, size_bytes, mtime_ns) when the cache has no entry valid for them.
    file_sha256: str | None = None

    @property
    def model_path(self) -> str | None:
        return self.model_file.path if self.model_file else None


# Columns whose fill rate the import report gives (share of rows imported or updated by a run).
COVERAGE_FIELDS: tuple[str, ...] = (
    "description", "author_username", "published_at", "tags", "trained_words", "base_model",
    "primary_file_sha256", "civitai_version_id", "sd_version", "activation_text", "stats", "notes",
)


_coverage_values = attrgetter(*COVERAGE_FIELDS)


def coverage_mask(record: AdapterRecord) -> int:
    """Bit i set when COVERAGE_FIELDS[i] of the record is filled (small to send between processes)."""
    mask = 0
    bit = 1
    for value in _coverage_values(record):
        # Filled: anything but None, "", [] and {} (0 and False are values).
        if value or (value is not None and not isinstance(value, (str, list, dict))):
            mask |= bit
        bit <<= 1
    return mask


def reduce_named_tuple(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """A __reduce__ for NamedTuples that cross to worker processes by the thousand: unpickled by
    tuple.__new__ alone, where the default calls two Python functions per tuple (copyreg's and
    the generated __new__). Measured on the import's 10,000 groups: sending the walk's entries
    cost 75-90 ms, now ~35 ms; taking the stored rows back 100-177 ms, now ~50 ms."""
    return (tuple.__new__, (type(value), tuple(value)))
