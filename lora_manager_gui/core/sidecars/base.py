"""What every sidecar parser shares: the parsed-fields record, reading untrusted JSON, typed checks.

Parsers are strict about the fields they map (a string where a string belongs, a list of strings for
tags, ...) and say which field is wrong; unknown keys are kept in `extra`, never rejected.
"""
from __future__ import annotations

import json
import math
import os
import stat

import orjson
from dataclasses import dataclass, field
from typing import Any

from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.files import READ_FLAGS, read_up_to
from lora_manager_gui.core.sidecars.validation import INT64, clean_json
from lora_manager_gui.core.records import INVALID_JSON, INVALID_METADATA, MISSING_MODEL_FILE, TOO_LARGE, UNREADABLE, UNSAFE_PATH

DEFAULT_MAX_SIDECAR_BYTES = 32 * 1024 * 1024  # a CivitAI model JSON with every version and image is a few MB


class InvalidJsonError(FileProblemError):
    error_class = INVALID_JSON


class InvalidMetadataError(FileProblemError):
    error_class = INVALID_METADATA


class TooLargeError(FileProblemError):
    error_class = TOO_LARGE


class SidecarUnreadableError(FileProblemError):
    error_class = UNREADABLE


class UnsafePathError(FileProblemError):
    error_class = UNSAFE_PATH


class MissingModelFileError(FileProblemError):
    error_class = MISSING_MODEL_FILE


@dataclass
class SidecarFields:
    """What one sidecar says about a model file. None / empty means "this source does not say"."""

    format: str
    path: str
    name: str | None = None
    version: str | None = None
    description: str | None = None
    author_username: str | None = None
    visibility: str | None = None
    published_at: str | None = None
    tags: list[str] = field(default_factory=list)
    trained_words: list[str] = field(default_factory=list)
    primary_file_name: str | None = None
    primary_file_size_kb: float | None = None
    primary_file_sha256: str | None = None
    primary_file_download_url: str | None = None
    supports_generation: bool | None = None
    sd_version: str | None = None
    nsfw_level: int | None = None
    activation_text: str | None = None
    stats: dict[str, Any] | None = None
    base_model: str | None = None
    model_type: str | None = None
    civitai_model_id: int | None = None
    civitai_version_id: int | None = None
    notes: str | None = None
    weight: float | None = None  # a preferred weight (A1111 "preferred weight", Lora Manager usage tips)
    extra: dict[str, Any] = field(default_factory=dict)
    # Preview images and videos the source lists: {"url", "type", "nsfw_level", "width", "height"} (see previews.py)
    preview_images: list[dict[str, Any]] = field(default_factory=list)
    # Hints, not columns:
    file_sha256: str | None = None  # SHA-256 of the local model file, when the sidecar knows it
    model_file_names: list[str] = field(default_factory=list)  # names the metadata gives the model file
    not_on_civitai: bool = False  # a `{}` .civitai.info: looked up, not found
    problems: list[str] = field(default_factory=list)  # fields or items left out as invalid (invalid_metadata)


@dataclass(frozen=True)
class SidecarContext:
    """What a parser may use to pick the model version: the local file's name and hash, if known."""

    model_file_names: frozenset[str] = frozenset()  # lower-cased names of model files in the folder
    file_sha256: str | None = None  # upper-case


def read_json_file(path: str, max_bytes: int = DEFAULT_MAX_SIDECAR_BYTES, *, size: int | None = None) -> Any:
    """Read and decode a sidecar. Never opens anything but a regular file (a FIFO would block).
    `size`: what the walk's stat of this regular file saw, which saves a second stat (~2 us of
    ~100 us a group); the file is then opened non-blocking, so that one replaced by a FIFO since
    reads as empty instead of waiting for a writer."""
    return decode_json(path, read_sidecar_bytes(path, max_bytes, size=size))


def read_sidecar(path: str, max_bytes: int = DEFAULT_MAX_SIDECAR_BYTES, *, size: int | None = None) -> tuple[Any, list[str]]:
    """read_json_file, with the values no column can hold left out (validation.clean_json): the
    decoded document and the problems found (each an invalid_metadata issue of the file)."""
    return decode_json_checked(path, read_sidecar_bytes(path, max_bytes, size=size))


def read_sidecar_bytes(path: str, max_bytes: int = DEFAULT_MAX_SIDECAR_BYTES, *, size: int | None = None) -> bytes:
    flags = READ_FLAGS
    if size is None:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise SidecarUnreadableError(path, f"cannot read the file: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise SidecarUnreadableError(path, "not a regular file")
        size = st.st_size
    else:
        flags |= _NONBLOCK
    if size > max_bytes:
        raise TooLargeError(path, f"the file is {size:,} bytes, over the {max_bytes:,}-byte limit for metadata files")
    try:
        fd = os.open(path, flags)  # a bare descriptor, one read sized by the stat: core/files.py
        try:
            raw = read_up_to(fd, max_bytes + 1, first=size + 1, size=size)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SidecarUnreadableError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise TooLargeError(path, f"the file grew over the {max_bytes:,}-byte limit while being read")
    if not raw and size:
        raise SidecarUnreadableError(path, "the file changed while the import ran (it is now empty or not a regular file)")
    return raw


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def decode_json(path: str, raw: bytes) -> Any:
    if not raw.strip():
        raise InvalidJsonError(path, "the file is empty")
    try:  # the fast path; anything it refuses is judged (and explained) by the standard library
        return orjson.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
    except orjson.JSONDecodeError:
        pass
    return _decode_slowly(path, raw)


def decode_json_checked(path: str, raw: bytes) -> tuple[Any, list[str]]:
    """decode_json, and the problems of a document only the standard library would decode (NaN,
    Infinity, lone surrogates, huge integers, deep nesting), left out of it by clean_json. What
    orjson decodes holds none of those: it is returned as it is."""
    if not raw.strip():
        raise InvalidJsonError(path, "the file is empty")
    try:
        return orjson.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw), _NO_PROBLEMS
    except orjson.JSONDecodeError:
        pass
    return clean_json(_decode_slowly(path, raw))


_NO_PROBLEMS: list[str] = []  # shared, never appended to


def _decode_slowly(path: str, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(path, f"not UTF-8 text (byte {exc.start}): metadata files must be UTF-8 JSON") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InvalidJsonError(path, "the JSON is nested too deeply to be metadata") from exc
    except ValueError as exc:
        raise InvalidJsonError(path, f"invalid JSON: {exc}") from exc


# --- typed field access -----------------------------------------------------------------------


def _digits(value: Any) -> str:
    """A number for an error message, never thousands of digits long."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT64:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)[:40]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


class Fields:
    """Typed access to one JSON object of a sidecar; errors name the file and the field.

    The accessors are called ~35 times a group, so each answers the common case (the expected type)
    first and leaves the checks of everything unusual, and the error messages, to the slower path.
    """

    __slots__ = ("path", "obj", "_where")  # tens per sidecar: slots make them cheaper to make and read

    def __init__(self, path: str, obj: Any, where: str | tuple[Fields, str, int | None] = "") -> None:
        if not isinstance(obj, dict):
            raise InvalidMetadataError(path, f"{_where_text(where) or 'the top level'} must be a JSON object, got {_kind(obj)}")
        self.path = path
        self.obj = obj
        self._where = where

    @property
    def where(self) -> str:
        """The prefix of this object's fields in error messages: '', 'creator.', 'modelVersions[0].'."""
        return _where_text(self._where)

    def _bad(self, key: str, expected: str, value: Any) -> InvalidMetadataError:
        return InvalidMetadataError(self.path, f"field '{self.where}{key}' must be {expected}, got {_kind(value)}")

    def get(self, key: str) -> Any:
        return self.obj.get(key)

    def str(self, key: str, *, required: bool = False) -> str | None:
        value = self.obj.get(key)
        if type(value) is not str:  # None, the wrong type, or a str subclass (which JSON never gives)
            if value is None:
                if required:
                    raise InvalidMetadataError(self.path, f"required field '{self.where}{key}' is missing")
                return None
            if not isinstance(value, str):
                raise self._bad(key, "a string", value)
        value = value.strip()
        if value:
            return value
        if required:
            raise InvalidMetadataError(self.path, f"required field '{self.where}{key}' is empty")
        return None

    def int(self, key: str) -> int | None:
        value = self.obj.get(key)
        if type(value) is int and -INT64 <= value < INT64:  # not a bool (an int subclass): the common case
            return value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise self._bad(key, "an integer", value)
        if not -INT64 <= value < INT64:  # SQLite's INTEGER is 64-bit: a bigger one is no id or count
            raise InvalidMetadataError(self.path, f"field '{self.where}{key}' must be an integer within 64 bits, got {_digits(value)}")
        return int(value)

    def id(self, key: str) -> int | None:
        """A CivitAI id: an integer, or a string of digits; anything else ("Model not found") is no id."""
        value = self.obj.get(key)
        if type(value) is int and -INT64 <= value < INT64:
            return value
        if isinstance(value, str):
            # isdecimal, not isdigit: "²" is a digit that int() refuses (the group failed on it)
            digits = value.strip()
            if not digits.isdecimal():
                return None
            if len(digits) > 19 or int(digits) >= INT64:  # len first: int() of a huge string is slow
                raise InvalidMetadataError(self.path, f"field '{self.where}{key}' must be an id within 64 bits, got {len(digits)} digits")
            return int(digits)
        return self.int(key)

    def float(self, key: str) -> float | None:
        value = self.obj.get(key)
        if type(value) is float and value - value == 0.0:  # sizeKB, weights: finite, the common case
            return value
        if value is None:
            return None
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise self._bad(key, "a number", value) from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(key, "a number", value)
        else:
            try:
                number = float(value)
            except OverflowError:  # an int beyond any float
                number = math.inf
        if not math.isfinite(number):
            raise InvalidMetadataError(self.path, f"field '{self.where}{key}' must be a finite number, got {_digits(value)}")
        return number

    def bool(self, key: str) -> bool | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def str_list(self, key: str, *, named_objects: bool = False) -> list[str]:
        """A list of strings (CivitAI tags may also be {"name": ...} objects)."""
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list of strings", value)
        out: list[str] = []
        for i, item in enumerate(value):
            if type(item) is not str:
                if not isinstance(item, str):
                    if not (named_objects and isinstance(item, dict) and isinstance(item.get("name"), str)):
                        raise InvalidMetadataError(self.path, f"field '{self.where}{key}[{i}]' must be a string, got {_kind(item)}")
                    item = item["name"]
            item = item.strip()
            if item:
                out.append(item)
        return out

    def obj_or_none(self, key: str) -> Fields | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object", value)
        return Fields(self.path, value, (self, key, None))

    def list_of_objects(self, key: str) -> list[Fields]:
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list of objects", value)
        return [Fields(self.path, item, (self, key, i)) for i, item in enumerate(value)]

    def dict(self, key: str) -> dict[str, Any] | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object", value)
        return value

    def extra(self, mapped: frozenset[str] | set[str]) -> dict[str, Any]:
        return {k: v for k, v in self.obj.items() if k not in mapped}


def _where_text(where: str | tuple[Fields, str, int | None]) -> str:
    """A Fields' place in its file. An object inside another keeps (parent, key, index) and is
    named only when an error message needs it: formatting the name of every version and file as it
    was reached cost more than all the checks of their fields."""
    if type(where) is str:
        return where
    parent, key, index = where
    return f"{parent.where}{key}." if index is None else f"{parent.where}{key}[{index}]."


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def upper_hex(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value.upper() if value and _HEX_DIGITS.issuperset(value) else None
