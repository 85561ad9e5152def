"""Cancel flags: what a long task polls between two pieces of work, and their one combinator.

A flag is anything with `is_set()` (a `threading.Event`, usually); the hashing loop polls a
function (`CancelFn`, e.g. `flag.is_set`). A task stopped by either of two
causes (the user's Cancel, or the service's own stop or shutdown) polls `any_of(a, b)`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

CancelFn = Callable[[], bool]  # the polled form core/hashing takes: True when the work should stop


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class AnyFlag:
    """Set as soon as one of its flags is."""

    __slots__ = ("flags",)

    def __init__(self, *flags: CancelFlag) -> None:
        self.flags = flags

    def is_set(self) -> bool:
        return any(flag.is_set() for flag in self.flags)


def any_of(*flags: CancelFlag | None) -> CancelFlag | None:
    """One flag set when any of `flags` is (None entries ignored): the flag itself when there is
    only one, None when there is none."""
    present = [flag for flag in flags if flag is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else AnyFlag(*present)
