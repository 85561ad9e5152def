"""The task contract: what every long-running service reports, and how it ends.

One shape for all of them (import, hash, identify, and later file operations and downloads), so
the window's task panel and the CLI's progress line read it without guessing attribute names:

- `Progress`: a snapshot while the task runs (stage, items done/total, bytes done/total).
- `ItemProblem`: one classified problem with one item; the task carries on with the others
  (Picard's per-file error state).
- `TaskOutcome`: how the task ended (done, done with problems, deferred, cancelled, failed) with
  its counts, and `Changes`, which parts of the library it changed so that views refresh only
  those (Anki's `OpChanges`).

Pure Python: no Qt, peewee or httpx. Safe to build on any thread; the records are frozen.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """The named stages of the app's tasks; `label` is what a person reads."""

    PLAN = "plan"
    WALK = "walk"
    PARSE = "parse"
    STORE = "store"
    FINISH = "finish"
    HASH = "hash"
    LOOKUP = "lookup"
    AUTOV3 = "autov3"
    MODELS = "models"
    DOWNLOAD = "download"
    VERIFY = "verify"
    MOVE = "move"
    DONE = "done"

    @property
    def label(self) -> str:
        return _STAGE_LABELS[self]


_STAGE_LABELS = {
    Stage.PLAN: "planning",
    Stage.WALK: "scanning folders",
    Stage.PARSE: "reading metadata",
    Stage.STORE: "saving",
    Stage.FINISH: "finishing",
    Stage.HASH: "hashing",
    Stage.LOOKUP: "looking up on CivitAI",
    Stage.AUTOV3: "looking up by AutoV3",
    Stage.MODELS: "fetching model details",
    Stage.DOWNLOAD: "downloading",
    Stage.VERIFY: "verifying",
    Stage.MOVE: "moving files",
    Stage.DONE: "done",
}


class ProblemKind(StrEnum):
    """Every class of per-item problem a task can report (the `class` of the JSON reports)."""

    # reading files
    INVALID_JSON = "invalid_json"
    INVALID_METADATA = "invalid_metadata"
    MISSING_MODEL_FILE = "missing_model_file"
    UNSAFE_PATH = "unsafe_path"
    INVALID_MODEL_FILE = "invalid_model_file"
    UNREADABLE = "unreadable"
    UNREADABLE_NAME = "unreadable_name"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    TOO_LARGE = "too_large"
    HASH_FAILED = "hash_failed"
    # CivitAI
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK = "network"
    OFFLINE = "offline"
    HTML_BODY = "html_body"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_ANSWER = "malformed_answer"
    HTTP_4XX = "http_4xx"
    REGION_BLOCKED = "region_blocked"
    CIVITAI_ERROR = "civitai_error"
    # the library and the task itself
    DATABASE = "database"
    DISK_FULL = "disk_full"
    CANCELLED = "cancelled"
    INTERNAL = "internal"

    @classmethod
    def parse(cls, value: str | ProblemKind | None) -> ProblemKind:
        """The member for `value`; an unknown class is INTERNAL, never an exception."""
        if isinstance(value, ProblemKind):
            return value
        try:
            return cls(str(value))
        except ValueError:
            return cls.INTERNAL

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """A classified problem with one item (a file path, a hash, a URL)."""

    path: str
    kind: ProblemKind
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "class": self.kind.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a running task. `total` is None while it is not known (a walk)."""

    stage: Stage
    done: int = 0
    total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    problems: int = 0  # problems so far, so that a counter can move while the task runs
    deferred: int = 0
    detail: str = ""  # a root, a file: shown after the stage

    @property
    def fraction(self) -> float | None:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.total:
            return min(1.0, self.done / self.total)
        return None


ProgressSink = Callable[[Progress], None]


class OutcomeStatus(StrEnum):
    DONE = "done"
    DONE_WITH_PROBLEMS = "done_with_problems"
    DEFERRED = "deferred"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Changes:
    """What a task changed in the library, so views refresh only that."""

    adapters: bool = False  # adapter rows added, updated or flagged
    files: bool = False  # library_file rows (orphans, missing flags)
    hashes: bool = False  # hash cache entries
    civitai: bool = False  # stored CivitAI answers
    previews: bool = False

    def __or__(self, other: Changes) -> Changes:
        return Changes(*(a or b for a, b in zip(self._flags(), other._flags(), strict=True)))

    def _flags(self) -> tuple[bool, ...]:
        return (self.adapters, self.files, self.hashes, self.civitai, self.previews)

    @property
    def any(self) -> bool:
        return any(self._flags())


NO_CHANGES = Changes()


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How a task ended, with its counts. Build it with `TaskOutcome.decide`."""

    status: OutcomeStatus
    done: int = 0
    problems: int = 0
    deferred: int = 0
    cancelled: int = 0
    failed: int = 0
    message: str = ""
    changes: Changes = field(default=NO_CHANGES)

    @classmethod
    def decide(cls, *, done: int, problems: int = 0, deferred: int = 0, cancelled: int = 0,
               failed: int = 0, was_cancelled: bool = False, error: str = "",
               changes: Changes = NO_CHANGES) -> TaskOutcome:
        """The one rule for an outcome: failed > cancelled > deferred > with problems > done.

        `failed` counts items that failed; `error` is set when the task itself could not go on.
        A task is never "done" over deferred, failed or cancelled items.
        """
        if error:
            status = OutcomeStatus.FAILED
        elif was_cancelled or cancelled:
            status = OutcomeStatus.CANCELLED
        elif deferred:
            status = OutcomeStatus.DEFERRED
        elif problems or failed:
            status = OutcomeStatus.DONE_WITH_PROBLEMS
        else:
            status = OutcomeStatus.DONE
        return cls(status, done, problems, deferred, cancelled, failed, error, changes)

    def describe(self) -> str:
        """How the task ended, for a person: never "done" over deferred, failed or cancelled items."""
        bad = self.problems + self.failed
        if self.status is OutcomeStatus.FAILED:
            return f"failed: {self.message}" if self.message else "failed"
        if self.status is OutcomeStatus.CANCELLED:
            text = f"cancelled after {plural(self.done, 'item')}"
        elif self.status is OutcomeStatus.DEFERRED:
            text = f"{self.deferred:,} deferred (run it again later)"
        elif self.status is OutcomeStatus.DONE_WITH_PROBLEMS:
            return f"done with {plural(bad, 'problem')}"
        else:
            return f"done ({plural(self.done, 'item')})"
        return text + (f", {plural(bad, 'problem')}" if bad else "")


def plural(n: int, word: str) -> str:
    """"1 item", "1,582 items"."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


class ProgressThrottle:
    """Passes a `Progress` on to `sink` at most every `interval` seconds (always when forced).

    The one throttle of every service: callers build `Progress` records cheaply and call this as
    often as they like; a forced call (a stage change, the end) always goes through.
    """

    def __init__(self, sink: ProgressSink | None, interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._stage: Stage | None = None

    @property
    def active(self) -> bool:
        return self.sink is not None

    def __call__(self, progress: Progress, *, force: bool = False) -> None:
        if self.sink is None:
            return
        now = self._clock()
        if progress.stage is not self._stage:
            self._stage = progress.stage
            force = True
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.sink(progress)


def count_kinds(problems: Iterable[ItemProblem]) -> dict[str, int]:
    """Problems per class, most frequent first (for reports)."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.kind.value] = counts.get(problem.kind.value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
