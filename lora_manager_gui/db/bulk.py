"""Bulk upserts for the import's chunks: prepared multi-row `INSERT ... ON CONFLICT DO UPDATE`.

peewee's insert_many renders every value into one big statement, which costs ~1 ms per row in
Python. Here the values are bound to placeholders of a statement of up to ROWS_PER_STATEMENT rows,
prepared once and cached by the sqlite3 module. Not executemany: it steps the statement once per
row and releases the GIL around every step, so while another thread of the app runs Python (the
walk, the event loop) each row waits for the GIL to come back. Measured, 10,000 adapter rows with
one busy Python thread beside: executemany 21-25 s, multi-row statements 0.27-0.30 s (alone, both
~0.13 s). Values are converted with each field's own db_value, so JSON and timestamp columns are
stored exactly as the models store them.
"""
from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import orjson
from peewee import BooleanField, Field, FloatField, ForeignKeyField, IntegerField, Model, TextField

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, to_utc_text

# Rows per statement: fewer steps (and GIL hand-offs) per chunk, within SQLite's bound-variable
# limit (32,766 since 3.32; 999 before) and a statement text that stays small to prepare.
ROWS_PER_STATEMENT = 500


def _identity(value: Any) -> Any:
    return value


def _boolean(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _timestamp(value: Any) -> Any:
    return value if isinstance(value, str) or value is None else to_utc_text(value)


_strict_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _finite(value: Any) -> Any:
    """`value` with every NaN and infinity made null, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(value: Any) -> str | None:
    """fields.json_text, whose text SQLite's JSON functions can always read: when orjson cannot
    encode a value (an integer beyond 64 bits), the standard library's text has no NaN or
    Infinity tokens either (they are null, as orjson makes them). One such row in `extra` used
    to break json_patch on its next import and json_extract in every view."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return _strict_json(value)
    except ValueError:  # NaN or an infinity
        return _strict_json(_finite(value))


def _converter(field: Field) -> Callable[[Any], Any]:
    """The field's own conversion, with fast paths for the plain types (same stored values)."""
    if isinstance(field, UTCDateTimeField):
        return _timestamp
    if isinstance(field, JSONField):
        return _json if type(field).db_value is JSONField.db_value else field.db_value
    if isinstance(field, BooleanField):
        return _boolean
    if isinstance(field, (TextField, IntegerField, FloatField, ForeignKeyField)):
        return _identity
    return field.db_value


class BulkUpsert:
    """One prepared upsert statement for `model`: `columns` inserted, `conflict` the unique key,
    `update` maps a column to the SQL expression it is set to on conflict (`excluded.col` etc.)."""

    def __init__(self, model: type[Model], columns: Sequence[str], conflict: Sequence[str], update: dict[str, str]) -> None:
        self.model = model
        meta = model._meta
        fields = [meta.fields[name] if name in meta.fields else meta.columns[name] for name in columns]
        self.names = [f.name for f in fields]
        self.converters = [_converter(f) for f in fields]
        table = meta.table_name
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        marks = ", ".join("?" for _ in fields)
        sets = ", ".join(f'"{col}" = {expr}' for col, expr in update.items())
        target = ", ".join(f'"{c}"' for c in conflict)
        self._head = f'INSERT INTO "{table}" ({cols}) VALUES '
        self._marks = f"({marks})"
        self._tail = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        self.sql = self._head + self._marks + self._tail  # one row
        self._statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        """The statement for `count` rows (built once per count)."""
        sql = self._statements.get(count)
        if sql is None:
            sql = self._statements[count] = self._head + ", ".join([self._marks] * count) + self._tail
        return sql

    def run(self, rows: Sequence[Sequence[Any]]) -> None:
        """Store `rows` (values in column order, from rows()/object_rows()) inside the caller's
        transaction, on the database thread. A row that conflicts with an earlier row of the same
        call updates it, as it would one stored before."""
        if not rows:
            return
        db = self.model._meta.database
        per = rows_per_statement(db, len(self.names))
        cursor = db.cursor()
        for start in range(0, len(rows), per):
            part = rows[start:start + per]
            cursor.execute(self.statement(len(part)), list(chain.from_iterable(part)))

    def rows(self, dicts: Sequence[dict[str, Any]]) -> list[list[Any]]:
        """Values in column order, converted; only the columns that need a conversion pay for it."""
        get = itemgetter(*self.names) if len(self.names) > 1 else (lambda d: (d[self.names[0]],))
        convert = [(i, conv) for i, conv in enumerate(self.converters) if conv is not _identity]
        out: list[list[Any]] = []
        for d in dicts:
            try:
                values = list(get(d))
            except KeyError:  # a row dict that leaves columns out: they are NULL
                values = [d.get(name) for name in self.names]
            for i, conv in convert:
                values[i] = conv(values[i])
            out.append(values)
        return out

    def object_rows(self, objects: Iterable[Any], fill: Callable[[list[Any]], None] | None = None) -> list[list[Any]]:
        """rows() for objects with an attribute per column (read in one attrgetter call, no dict
        per row); `fill(values)` may complete the values before they are converted."""
        get = attrgetter(*self.names) if len(self.names) > 1 else (lambda o: (getattr(o, self.names[0]),))
        convert = [(i, conv) for i, conv in enumerate(self.converters) if conv is not _identity]
        out: list[list[Any]] = []
        for obj in objects:
            values = list(get(obj))
            if fill is not None:
                fill(values)
            for i, conv in convert:
                values[i] = conv(values[i])
            out.append(values)
        return out

    def execute(self, dicts: Sequence[dict[str, Any]]) -> None:
        """Run inside the caller's transaction (on the database thread)."""
        if not dicts:
            return
        self.run(self.rows(dicts))


def rows_per_statement(db: Any, columns: int) -> int:
    """How many rows of `columns` values one statement may bind on `db`'s connection."""
    limit = db.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(ROWS_PER_STATEMENT, limit // max(1, columns)))


def keep_filled_text(table: str, col: str) -> str:
    return f'COALESCE(NULLIF(excluded."{col}", \'\'), "{table}"."{col}")'


def keep_filled_json_list(table: str, col: str) -> str:
    return f'COALESCE(NULLIF(excluded."{col}", \'[]\'), "{table}"."{col}")'


def keep_filled_nullable(table: str, col: str) -> str:
    return f'COALESCE(excluded."{col}", "{table}"."{col}")'


def take_new(col: str) -> str:
    return f'excluded."{col}"'
