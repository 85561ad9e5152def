"""Folder templates for organizing a library: `{base_model}/{creator}/{name}` becomes a relative
path whose every component is a safe file name on Windows, macOS and Linux, and which can never
leave the library root. Pure Python.

Rules: a field's value has path separators, characters illegal on Windows (`<>:"/\\|?*`) and
control characters replaced by `_`; leading and trailing spaces and dots are stripped (Windows
drops trailing ones; a leading dot would hide the folder and `..` would climb); Windows' reserved
device names (CON, NUL, COM1, ...) get a `_` prefix; each component is cut to 120 bytes of UTF-8;
an empty value becomes `unknown`. The last component is the model file's new stem: the file keeps
its extension and its sidecars keep their suffixes.
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

FIELDS = ("name", "version", "base_model", "creator", "model_type", "file_name", "model_id", "version_id")
DEFAULT_TEMPLATE = "{base_model}/{creator}/{name}"
MAX_COMPONENT_BYTES = 120
UNKNOWN = "unknown"
_ILLEGAL = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)})


class TemplateError(ValueError):
    """A template that cannot be used: an unknown field, bad braces, no components."""


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    components: tuple[str, ...]  # the '/'-separated parts of the template, each with its fields

    @classmethod
    def parse(cls, text: str) -> Template:
        parts = tuple(p for p in text.replace("\\", "/").split("/") if p.strip())
        if not parts:
            raise TemplateError("the template is empty")
        for part in parts:
            try:
                names = [f for _, f, spec, conv in string.Formatter().parse(part) if f is not None]
            except ValueError as exc:
                raise TemplateError(f"the template {text!r} has unbalanced braces: {exc}") from exc
            unknown = [n for n in names if n not in FIELDS]
            if unknown:
                raise TemplateError(f"unknown field {{{unknown[0]}}} in the template; known: "
                                    + ", ".join("{" + f + "}" for f in FIELDS))
            if part.strip() in (".", ".."):
                raise TemplateError(f"the template {text!r} may not contain '.' or '..' as a folder")
        return cls(text, parts)

    def render(self, values: Mapping[str, object]) -> str:
        """The relative path ('/'-separated, no extension) for one model file."""
        safe = {f: sanitize_component(_text(values.get(f))) for f in FIELDS}
        return "/".join(sanitize_component(part.format_map(safe)) for part in self.components)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def sanitize_component(value: str) -> str:
    """One safe path component from any text (never empty, '.', '..' or a device name)."""
    text = unicodedata.normalize("NFC", value)
    text = _ILLEGAL.sub("_", text)
    text = text.strip(" .")
    if not text:
        return UNKNOWN
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_COMPONENT_BYTES:
        text = encoded[:MAX_COMPONENT_BYTES].decode("utf-8", "ignore").rstrip(" .") or UNKNOWN
    return text


def sanitize_stem(value: str) -> str:
    """A new file stem given by a person (rename): the same rules as one template component."""
    return sanitize_component(value)
