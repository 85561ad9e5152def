"""The validated boundary where the import's values cross into the database.

SQLite stores integers of 64 bits, REAL values that should be finite (NaN becomes NULL and fails a
NOT NULL column; an infinity is stored and breaks every later export), and text that is valid
UTF-8 (a lone UTF-16 surrogate from a JSON "\\ud800" escape, or an undecodable file name kept as a
surrogate escape, cannot be encoded). One such value used to fail the statement of its whole
chunk and so the run. Two lines of defence, both per group:

- Before the write, `RowGuard.rejects(rows)`: what SQLite would store without a word (a NaN, an
  infinity in a REAL column) is found in one C-level pass over a chunk's float columns (summed:
  NaN and infinities survive a sum), so a chunk of good rows costs no Python call per row; only a
  chunk that fails the test is checked row by row. Those rows become a problem of their group.
- At the write, what SQLite refuses (an integer beyond 64 bits, text it cannot encode, a
  constraint) fails the statement: the chunk is split and retried (db/import_store.py) and the
  one row left names its reason (`RowGuard.row_problem`, which checks every column).

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
    """The check of one statement's rows (a BulkUpsert's columns): floats finite before the
    write (chunk_ok, rejects); every value storable when a row's write failed (row_problem)."""

    def __init__(self, upsert: BulkUpsert, names: Sequence[str] | None = None) -> None:
        meta = upsert.model._meta
        fields = [meta.fields[n] if n in meta.fields else meta.columns[n] for n in upsert.names]
        self.names = list(names or upsert.names)
        numeric = [i for i, f in enumerate(fields) if isinstance(f, (IntegerField, FloatField, BooleanField, ForeignKeyField))]
        text = [i for i, f in enumerate(fields) if isinstance(f, TextField)]  # JSON and timestamps too
        self._numeric, self._text = numeric, text
        self._float = [i for i, f in enumerate(fields) if isinstance(f, FloatField)]
        self._floats = _getter(self._float)

    def chunk_ok(self, rows: Sequence[Sequence[Any]]) -> bool:
        """True when no float of the rows is NaN or infinite (the usual answer, found without a
        Python call per row; a sum of finite floats that overflows only sends the chunk to the
        exact check)."""
        if not rows or not self._float:
            return True
        try:
            total = sum(filter(None, chain.from_iterable(map(self._floats, rows))))
        except (TypeError, OverflowError):  # not a number in a REAL column, an int beyond a float
            return False
        return total - total == 0  # NaN and infinities are not

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
