"""What one identify run found out: an `IdentifyItem` per file, counts, problems and the outcome.

The `--json` report keeps its historical keys (`IdentifyReport.to_json`); `problems` and
`outcome()` are the task contract (core/tasks.py) the window and the CLI read. Deferred items are
summed up in one problem per cause (one "offline" line, not a thousand identical rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, TaskOutcome


class ItemStatus(StrEnum):
    """What became of one file in this run."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    DEFERRED = "deferred"  # not asked (rate limited, offline, cancelled): the next run asks
    KNOWN = "known"  # answered by an earlier run, not asked again
    HASH_FAILED = "hash_failed"
    CANCELLED = "cancelled"  # not hashed: the run was cancelled


LOOKED_UP = (ItemStatus.FOUND, ItemStatus.NOT_FOUND, ItemStatus.FAILED, ItemStatus.DEFERRED)


class DeferReason(StrEnum):
    """Why items were not asked; stored as the error class of the deferred lookup."""

    RATE_LIMITED = "rate_limited"
    OFFLINE = "offline"
    CANCELLED = "cancelled"

    @property
    def kind(self) -> ProblemKind:
        return {DeferReason.RATE_LIMITED: ProblemKind.RATE_LIMITED, DeferReason.OFFLINE: ProblemKind.OFFLINE,
                DeferReason.CANCELLED: ProblemKind.CANCELLED}[self]

    @property
    def default_message(self) -> str:
        return {
            DeferReason.RATE_LIMITED: "not asked: CivitAI was rate limiting this run",
            DeferReason.OFFLINE: "not asked: CivitAI could not be reached",
            DeferReason.CANCELLED: "not asked: cancelled",
        }[self]


@dataclass(frozen=True, slots=True)
class IdentifyItem:
    path: str
    sha256: str | None
    status: ItemStatus
    error_class: str | None = None
    error: str | None = None
    version_id: int | None = None
    model_id: int | None = None
    matched_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "status": self.status.value, "error_class": self.error_class,
                "error": self.error, "version_id": self.version_id, "model_id": self.model_id,
                "matched_by": None if self.matched_by is None else str(self.matched_by)}


_COUNTERS = ("files", "looked_up", "found", "not_found", "failed", "deferred", "already_known", "hash_failed",
             "cancelled", "requests", "rate_limited_responses", "models_fetched", "models_failed", "autov3_lookups",
             "seconds")


@dataclass
class IdentifyReport:
    files: int = 0
    looked_up: int = 0  # files whose hash was asked about (or deferred) in this run
    found: int = 0
    not_found: int = 0
    failed: int = 0
    deferred: int = 0
    already_known: int = 0  # answered by an earlier run, not asked again
    hash_failed: int = 0
    cancelled: int = 0
    requests: int = 0  # HTTP requests made, retries included
    rate_limited_responses: int = 0
    models_fetched: int = 0
    models_failed: int = 0
    autov3_lookups: int = 0
    seconds: float = 0.0
    items: list[IdentifyItem] = field(default_factory=list)
    model_problems: list[ItemProblem] = field(default_factory=list)  # model data that could not be fetched
    was_cancelled: bool = False

    def to_json(self, *, with_items: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        if with_items:
            data["items"] = [item.to_json() for item in self.items]
        return data

    def tally(self) -> None:
        """Count the items (after the run has put them all in)."""
        counts = {status: 0 for status in ItemStatus}
        for item in self.items:
            counts[item.status] += 1
        self.found = counts[ItemStatus.FOUND]
        self.not_found = counts[ItemStatus.NOT_FOUND]
        self.failed = counts[ItemStatus.FAILED]
        self.deferred = counts[ItemStatus.DEFERRED]
        self.looked_up = sum(counts[s] for s in LOOKED_UP)
        self.already_known = counts[ItemStatus.KNOWN]
        self.hash_failed = counts[ItemStatus.HASH_FAILED]
        self.cancelled = counts[ItemStatus.CANCELLED]

    @property
    def problems(self) -> list[ItemProblem]:
        """One problem per file that failed (hashing or lookup), one per cause of deferral (with its
        count; cancelling is an outcome, not a problem), and the model data that failed."""
        out: list[ItemProblem] = []
        deferred: dict[str, list[IdentifyItem]] = {}
        for item in self.items:
            if item.status in (ItemStatus.FAILED, ItemStatus.HASH_FAILED):
                kind = ProblemKind.parse(item.error_class)
                if item.status is ItemStatus.HASH_FAILED and kind is ProblemKind.INTERNAL:
                    kind = ProblemKind.HASH_FAILED
                out.append(ItemProblem(item.path, kind, item.error or item.status.value))
            elif item.status is ItemStatus.DEFERRED and item.error_class != DeferReason.CANCELLED:
                deferred.setdefault(item.error_class or DeferReason.RATE_LIMITED, []).append(item)
        for error_class, items in deferred.items():
            n = len(items)
            what = f"{n:,} file" + ("" if n == 1 else "s")
            message = f"{what} deferred to the next run: {items[0].error or 'not asked'}"
            out.append(ItemProblem(items[0].path if n == 1 else what, ProblemKind.parse(error_class), message))
        return out + self.model_problems

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        changed = self.found + self.not_found + self.failed + self.deferred + self.models_fetched > 0
        return TaskOutcome.decide(
            done=self.found + self.not_found + self.already_known,
            problems=self.failed + self.hash_failed + len(self.model_problems),
            deferred=self.deferred, cancelled=self.cancelled, was_cancelled=cancelled or self.was_cancelled,
            changes=Changes(civitai=changed, hashes=self.files > self.hash_failed + self.cancelled),
        )
