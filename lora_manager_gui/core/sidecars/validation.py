"""Values no column or JSON text can hold, found in a sidecar before any parser sees it.

orjson refuses them when it decodes (NaN, Infinity, lone surrogates, integers beyond 64 bits become
floats) but the standard library, which decodes what orjson refused, accepts them all; so do its
deeply nested arrays (up to ~1,000 levels, where orjson writes at most 254). `clean_json` copies such
a document without them: each value left out is one `invalid_metadata` problem naming its field,
and the rest of the file is imported. Text with lone surrogates is kept with U+FFFD in their place.
"""
from __future__ import annotations

import math
from typing import Any

INT64 = 2**63
MAX_DEPTH = 128  # far beyond any sidecar; well within what orjson writes back (254)
MAX_PROBLEMS = 20  # named one by one; more are counted


class Problems:
    """The problems found in one file, named one by one up to MAX_PROBLEMS."""

    __slots__ = ("items", "more")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, where: str, what: str, done: str = "left out") -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(f"field '{where or '(top level)'}' {what}: {done}")
        else:
            self.more += 1

    def messages(self) -> list[str]:
        return self.items + ([f"and {self.more} more invalid values"] if self.more else [])


def repair_text(text: str) -> str:
    """`text` with each lone surrogate (which UTF-8 cannot encode) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _join(where: str, key: str | int) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else key)


_DROP = object()


def _clean(value: Any, where: str, depth: int, problems: Problems) -> Any:
    kind = type(value)
    if kind is str:
        fixed = repair_text(value)
        if fixed is not value and fixed != value:
            problems.add(where, "holds text that is not valid Unicode (a lone surrogate)", "kept with U+FFFD in its place")
        return fixed
    if value is None or kind is bool:
        return value
    if kind is int:
        if -INT64 <= value < INT64:
            return value
        problems.add(where, f"is an integer of {value.bit_length()} bits, beyond 64")
        return _DROP
    if kind is float:
        if math.isfinite(value):
            return value
        problems.add(where, f"is {value!r}, not a finite number")
        return _DROP
    if kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            problems.add(where, f"is nested over {MAX_DEPTH} levels deep")
            return _DROP
        if kind is list:
            out_list = []
            for i, item in enumerate(value):
                cleaned = _clean(item, _join(where, i), depth + 1, problems)
                if cleaned is not _DROP:
                    out_list.append(cleaned)
            return out_list
        out_dict = {}
        for key, item in value.items():
            name = repair_text(key) if type(key) is str else str(key)
            cleaned = _clean(item, _join(where, name), depth + 1, problems)
            if cleaned is not _DROP:
                out_dict[name] = cleaned
        return out_dict
    problems.add(where, f"is a {kind.__name__}, not a JSON value")
    return _DROP


def clean_json(value: Any) -> tuple[Any, list[str]]:
    """(a copy of `value` with only storable JSON values, the problems found). A top-level value
    that is itself not storable becomes None."""
    problems = Problems()
    cleaned = _clean(value, "", 0, problems)
    return (None if cleaned is _DROP else cleaned), problems.messages()
