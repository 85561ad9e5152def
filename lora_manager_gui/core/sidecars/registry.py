"""The one table of sidecar formats: what names a file of each, which parser reads it, its merge
precedence and its name for people. The walk's suffix table, the parse order of a group and the merge
precedence are all derived from it, and so is `parser_set_version()`, which the import mixes into
its folder fingerprints and group signatures: a release that learns a format, or changes what a
parser makes of a file (bump PARSER_VERSION then), re-reads every folder once.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lora_manager_gui.core.sidecars import a1111, civitai_model, civitai_version, lora_manager, stability_matrix
from lora_manager_gui.core.sidecars.base import SidecarContext, SidecarFields

# Bump when a parser's output for the same file changes (a field newly mapped, a fix): every folder
# is then re-read once by the next import. 1 = no version (before issue 12); 2 = issue 13's mappings.
PARSER_VERSION = 2

# The kind of a plain `<base>.json`: several formats share the suffix and are told apart by content.
PLAIN_JSON_KIND = "json"
PLAIN_JSON_SUFFIX = ".json"
HEADER_FORMAT = "safetensors_header"

Parser = Callable[[str, Any, SidecarContext], SidecarFields]


@dataclass(frozen=True)
class SidecarFormat:
    """One sidecar format. Rows are listed by merge precedence, highest first."""

    name: str  # the format as stored in `adapter.sources`
    display: str
    suffixes: tuple[str, ...] = ()  # lower-case file name endings that name this format alone
    parser: Parser | None = None  # None: not a file the walk finds (the safetensors header)
    claims_plain_json: Callable[[Any], bool] | None = None  # reads a plain `.json` whose content this says
    needs_model_file: bool = False  # a plain `.json` of this format beside no model file is not a sidecar
    parse_rank: int = 9  # a group's files are parsed by rank: those that may know the file's SHA-256 first


def _any(data: Any) -> bool:
    return True


FORMATS: tuple[SidecarFormat, ...] = (
    SidecarFormat("lora_manager", "Lora Manager .metadata.json", (".metadata.json",), lora_manager.parse, parse_rank=0),
    SidecarFormat("civitai_model", "CivitAI model JSON", (), civitai_model.parse,
                  claims_plain_json=civitai_model.is_model_object, parse_rank=3),
    SidecarFormat("civitai_api_info", "sd-civitai-browser-plus .api_info.json", (".api_info.json",),
                  civitai_model.parse_api_info, parse_rank=4),
    SidecarFormat("civitai_info", "Civitai Helper .civitai.info", (".civitai.info",), civitai_version.parse_version_object,
                  claims_plain_json=civitai_version.is_version_object, parse_rank=1),
    SidecarFormat("stability_matrix", "Stability Matrix .cm-info.json", (".cm-info.json",), stability_matrix.parse, parse_rank=2),
    SidecarFormat("a1111", "A1111 user metadata .json", (), a1111.parse, claims_plain_json=_any, needs_model_file=True, parse_rank=3),
    SidecarFormat(HEADER_FORMAT, "safetensors header"),
)
# Files that look like sidecars but are not (Lora Manager recipes, exported stacks).
NOT_SIDECAR_SUFFIXES: tuple[str, ...] = (".recipe.json", ".lora_json.json")

BY_NAME: dict[str, SidecarFormat] = {f.name: f for f in FORMATS}
PRECEDENCE: tuple[str, ...] = tuple(f.name for f in FORMATS)
_PLAIN_JSON: tuple[SidecarFormat, ...] = tuple(f for f in FORMATS if f.claims_plain_json is not None)


def _suffixes() -> tuple[tuple[str, str], ...]:
    rows = [(suffix, f.name) for f in FORMATS for suffix in f.suffixes]
    if _PLAIN_JSON:
        rows.append((PLAIN_JSON_SUFFIX, PLAIN_JSON_KIND))
    return tuple(sorted(rows, key=lambda row: -len(row[0])))


# (lower-case suffix, kind), longest first: the first that matches a file name wins. A kind is the
# name of the format the suffix names, or PLAIN_JSON_KIND.
SIDECAR_SUFFIXES: tuple[tuple[str, str], ...] = _suffixes()


def _kind_ranks() -> dict[str, int]:
    ranks = {f.name: f.parse_rank for f in FORMATS if f.suffixes}
    if _PLAIN_JSON:  # a plain .json may be a model object that picks its version by hash: parsed
        ranks[PLAIN_JSON_KIND] = max(f.parse_rank for f in _PLAIN_JSON)  # after all that may know it
    return ranks


PARSE_ORDER: dict[str, int] = _kind_ranks()


def plain_json_format(data: Any) -> SidecarFormat:
    """The format of a plain `.json` with this content (the first row that claims it)."""
    for fmt in _PLAIN_JSON:
        assert fmt.claims_plain_json is not None
        if fmt.claims_plain_json(data):
            return fmt
    return BY_NAME["a1111"]


def format_of_kind(kind: str, data: Any) -> SidecarFormat:
    if kind == PLAIN_JSON_KIND:
        return plain_json_format(data)
    return BY_NAME[kind]


def display_name(fmt: str) -> str:
    row = BY_NAME.get(fmt)
    return row.display if row is not None else fmt


_versions: dict[tuple[int, int], str] = {}


def parser_set_version() -> str:
    """A short digest of the parser set: the registry's rows and PARSER_VERSION. Stored in the
    import's fingerprints and signatures, so any change to either re-reads every folder once."""
    key = (PARSER_VERSION, id(FORMATS))
    found = _versions.get(key)
    if found is None:
        rows = [(f.name, f.suffixes, f.parse_rank, f.parser is not None, f.claims_plain_json is not None, f.needs_model_file)
                for f in FORMATS]
        text = repr((PARSER_VERSION, rows, NOT_SIDECAR_SUFFIXES))
        found = _versions[key] = "p" + hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()
    return found
