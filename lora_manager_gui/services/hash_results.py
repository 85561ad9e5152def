"""What hashing produced: one `HashResult` per file, and the `HashReport` of a run (the task contract)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, overload

from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, TaskOutcome


@dataclass
class HashResult:
    path: str
    sha256: str | None
    autov2: str | None
    size_bytes: int
    cached: bool
    error: str | None = None
    error_class: str | None = None
    mtime_ns: int | None = None

    @property
    def ok(self) -> bool:
        return self.sha256 is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "autov2": self.autov2,
            "size_bytes": self.size_bytes,
            "cached": self.cached,
        }
        if self.error_class:
            data["error_class"] = self.error_class
            data["error"] = self.error
        return data


# error_class of a HashResult -> the class of problem it is
_PROBLEM_KINDS = {
    "unreadable": ProblemKind.UNREADABLE,
    "not_a_file": ProblemKind.NOT_A_REGULAR_FILE,
    "changed_while_hashing": ProblemKind.HASH_FAILED,
    "cancelled": ProblemKind.CANCELLED,
}


def problem_kind(error_class: str | None) -> ProblemKind:
    if error_class in _PROBLEM_KINDS:
        return _PROBLEM_KINDS[error_class]
    kind = ProblemKind.parse(error_class)
    return ProblemKind.HASH_FAILED if kind is ProblemKind.INTERNAL else kind


@dataclass
class HashReport:
    """The results of one `hash_paths` call, one per path in order, with the task contract."""

    results: list[HashResult] = field(default_factory=list)

    def __iter__(self) -> Iterator[HashResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @overload
    def __getitem__(self, index: int) -> HashResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[HashResult]: ...

    def __getitem__(self, index: int | slice) -> HashResult | list[HashResult]:
        return self.results[index]

    @property
    def hashed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def cancelled(self) -> int:
        return sum(1 for r in self.results if r.error_class == "cancelled")

    @property
    def problems(self) -> list[ItemProblem]:
        """One problem per file that could not be hashed (cancelled files are not problems)."""
        return [ItemProblem(r.path, problem_kind(r.error_class), r.error or "could not be hashed")
                for r in self.results if not r.ok and r.error_class != "cancelled"]

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        fresh = any(r.ok and not r.cached for r in self.results)
        return TaskOutcome.decide(done=self.hashed, problems=len(self.problems), cancelled=self.cancelled,
                                  was_cancelled=cancelled, changes=Changes(hashes=fresh))


def error_result(path: str, size: int, error_class: str, message: str) -> HashResult:
    return HashResult(path, None, None, size, False, message, error_class)
