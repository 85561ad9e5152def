"""Bulk upserts through the DB-API's executemany, for the import's chunks.

peewee's insert_many renders every value into one big statement, which costs ~1 ms per row in
Python; one prepared `INSERT ... ON CONFLICT DO UPDATE` run with executemany costs a few µs per row.
Values are converted with each field's own db_value, so JSON and timestamp columns are stored
exactly as the models store them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from peewee import BooleanField, Field, FloatField, ForeignKeyField, IntegerField, Model, TextField

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, to_utc_text


def _identity(value: Any) -> Any:
    return value


def _boolean(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _timestamp(value: Any) -> Any:
    return value if isinstance(value, str) or value is None else to_utc_text(value)


def _converter(field: Field) -> Callable[[Any], Any]:
    """The field's own conversion, with fast paths for the plain types (same stored values)."""
    if isinstance(field, UTCDateTimeField):
        return _timestamp
    if isinstance(field, JSONField):
        return field.db_value
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
        self.sql = f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) ON CONFLICT ({target}) DO UPDATE SET {sets}'

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
        db = self.model._meta.database
        db.cursor().executemany(self.sql, self.rows(dicts))


def keep_filled_text(table: str, col: str) -> str:
    return f'COALESCE(NULLIF(excluded."{col}", \'\'), "{table}"."{col}")'


def keep_filled_json_list(table: str, col: str) -> str:
    return f'COALESCE(NULLIF(excluded."{col}", \'[]\'), "{table}"."{col}")'


def keep_filled_nullable(table: str, col: str) -> str:
    return f'COALESCE(excluded."{col}", "{table}"."{col}")'


def take_new(col: str) -> str:
    return f'excluded."{col}"'
