"""Column types shared by the models: JSON text and UTC timestamps stored as ISO 8601 text."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import orjson
from peewee import TextField


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_text(value: Any) -> str | None:
    """The stored form of a JSON column value (compact, UTF-8, keys in insertion order)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # what orjson cannot encode, the standard library may
        return _encode(value)


class JSONField(TextField):
    """A JSON document in a TEXT column (compact, UTF-8, keys in insertion order)."""

    def db_value(self, value: Any) -> str | None:
        return json_text(value)

    def python_value(self, value: str | None) -> Any:
        if value is None or value == "":
            return None
        return json.loads(value)


def to_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_utc_text(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


class UTCDateTimeField(TextField):
    """An aware UTC datetime stored as sortable ISO 8601 text ending in Z."""

    def db_value(self, value: datetime | str | None) -> str | None:
        if isinstance(value, str):
            return to_utc_text(from_utc_text(value))
        return to_utc_text(value)

    def python_value(self, value: str | None) -> datetime | None:
        return from_utc_text(value)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
