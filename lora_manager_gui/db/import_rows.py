"""The validated boundary where the import's values cross into the database.

SQLite stores integers of 64 bits, REAL values that should be finite (NaN becomes NULL and fails a
NOT NULL column; an infinity is stored and breaks every later export), and text that is valid
UTF-8 (a lone UTF-16 surrogate from a JSON "\\ud800" escape, or an undecodable file name kept as a
surrogate escape, cannot be encoded). One such value used to fail the statement of its whole
chunk and so the run. Here the rows of a chunk are checked before they are written:

- `RowGuard.rejects(rows)` answers a chunk of valid rows with one pass of C-level iteration
  (the numbers summed and their largest magnitude taken, the texts joined and encoded: no Python
  call per row); only a chunk that fails that test is checked row by row, to name the bad values.
- The rows a guard rejects become a classified problem of their item; the rest are stored.

Pure: no database access (it runs in the import's worker processes too).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from peewee import BooleanField, FloatField, ForeignKeyField, IntegerField, TextField

from lora_manager_gui.db.bulk import BulkUpsert

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_SHOWN = 40  # characters of a bad value quoted in a problem message


def _getter(positions: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if not positions:
        return lambda row: ()
    if len(positions) == 1:
        only = positions[0]
        return lambda row: (row[only],)
    return itemgetter(*positions)


def display_text(text: str) -> str:
    """`text` as it can be printed and stored: a lone surrogate (an undecodable byte of a file
    name, kept by surrogateescape, or a JSON escape) is shown as a backslash escape (\\xff, \\ud800)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _escaped_bytes_only(text) \
            else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _escaped_bytes_only(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False


def is_storable_text(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def value_problem(column: str, value: Any) -> str | None:
    """Why one value cannot be stored as it is, or None."""
    if value is None or value is True or value is False:
        return None
    if isinstance(value, str):
        if is_storable_text(value):
            return None
        return f"'{column}' holds text that is not valid Unicode (a lone UTF-16 surrogate): \"{display_text(value)[:_SHOWN]}\""
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        digits = len(str(abs(value))) if abs(value) < 10**4000 else 4000
        return f"'{column}' holds a number beyond the 64-bit range the library stores ({digits} digits)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"'{column}' holds {value!r}, not a finite number"
    return None


class RowGuard:
    """The check of one statement's rows (a BulkUpsert's columns): numbers within 64 bits and
    finite, texts valid UTF-8."""

    def __init__(self, upsert: BulkUpsert, names: Sequence[str] | None = None) -> None:
        meta = upsert.model._meta
        fields = [meta.fields[n] if n in meta.fields else meta.columns[n] for n in upsert.names]
        self.names = list(names or upsert.names)
        numeric = [i for i, f in enumerate(fields) if isinstance(f, (IntegerField, FloatField, BooleanField, ForeignKeyField))]
        text = [i for i, f in enumerate(fields) if isinstance(f, TextField)]  # JSON and timestamps too
        self._numeric, self._text = numeric, text
        self._numbers = _getter(numeric)
        self._texts = _getter(text)

    def chunk_ok(self, rows: Sequence[Sequence[Any]]) -> bool:
        """True when every row can be stored (the usual answer, found without a Python call per row)."""
        if not rows:
            return True
        try:
            numbers = list(filter(None, chain.from_iterable(map(self._numbers, rows))))
            if numbers:
                total = sum(numbers)
                if total != total or max(map(abs, numbers)) > INT64_MAX:  # NaN, infinity, beyond 64 bits
                    return False
            "\x00".join(filter(None, chain.from_iterable(map(self._texts, rows)))).encode("utf-8")
        except (TypeError, ValueError, OverflowError, UnicodeError):  # a non-text value in a text column, ...
            return False
        return True

    def row_problem(self, row: Sequence[Any]) -> str | None:
        """The first reason `row` cannot be stored, or None."""
        for i in self._numeric + self._text:
            problem = value_problem(self.names[i], row[i])
            if problem is not None:
                return problem
        return None

    def rejects(self, rows: Sequence[Sequence[Any]]) -> dict[int, str]:
        """{index: reason} of the rows that cannot be stored ({} for a chunk of good rows)."""
        if self.chunk_ok(rows):
            return {}
        out: dict[int, str] = {}
        for index, row in enumerate(rows):
            problem = self.row_problem(row)
            if problem is not None:
                out[index] = problem
        return out
