"""Hostile values in sidecars: seeded random documents (huge and non-finite numbers, lone surrogates,
wrong types, deep nesting) fed to every sidecar reader. No exception but a classified file problem
ever escapes, and what a parse gives can always be stored: 64-bit integers, finite floats, text
UTF-8 can encode, JSON orjson can write."""
from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from lora_manager_gui.core.discovery import FileEntry
from lora_manager_gui.core.errors import FileProblemError
from lora_manager_gui.core.records import INVALID_JSON, INVALID_METADATA, AdapterRecord
from lora_manager_gui.core.safetensors import parse_header_bytes
from lora_manager_gui.core.sidecars import parse_sidecar, registry
from lora_manager_gui.core.sidecars.base import SidecarContext, decode_json_checked
from lora_manager_gui.core.sidecars.group import build_record, storable_json
from lora_manager_gui.core.sidecars.header import header_fields
from lora_manager_gui.core.sidecars.merge import merge
from lora_manager_gui.core.sidecars.validation import clean_json

SEED = 20261203
KINDS = tuple(kind for _, kind in registry.SIDECAR_SUFFIXES)


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"d": value}
    return value


def hostile_value(rng: random.Random) -> Any:
    return rng.choice([
        10**30, -(10**30), 2**63, 2**64 - 1, -(2**63) - 1, 10**400, float("nan"), float("inf"), -float("inf"), 1e308,
        "\ud800", "ok\udfffok", "\udc80" * 3, {"\ud83d": 1}, ["\ud800", 1], "", " ", None, True, 0, -0.0, 3.5,
        [], {}, [None], [1, "a"], {"url": 5}, {"name": 7}, "nan", "1e999", "9" * 40, deep(rng.choice((50, 300, 700))),
    ])


def base_documents(fixtures_dir: Path) -> list[Any]:
    def load(rel: str) -> Any:
        return json.loads((fixtures_dir / rel).read_text("utf-8"))

    from tests.core.test_sidecar_writers import stability_matrix_cm_info

    return [
        load("civitai/model.json"), load("formats/civitai_info.json"), load("formats/civitai_model_api.json"),
        load("formats/lora_manager_metadata.json"), load("formats/a1111_user_metadata.json"), stability_matrix_cm_info(),
    ]


def _slots(doc: Any, depth: int = 0) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    if depth > 6:
        return out
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        out.append((doc, key))
        out.extend(_slots(value, depth + 1))
    return out


def mutate(rng: random.Random, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 6)):
        slots = _slots(doc)
        if not slots or rng.random() < 0.2:
            if isinstance(doc, dict):
                doc[rng.choice(["extraKey", "images", "Stats", "stats", "customImages", "id", "name", "sizeKB"])] = hostile_value(rng)
            continue
        container, key = rng.choice(slots)
        container[key] = hostile_value(rng)
    return doc


def assert_storable(value: Any, where: str = "", in_json: bool = False) -> None:
    """A column value SQLite takes (64-bit INTEGER), or inside a JSON column what orjson writes."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        assert -(2**63) <= value < (2**64 if in_json else 2**63), where
    elif isinstance(value, float):
        assert math.isfinite(value), where
    elif isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, (list, dict)):
        orjson.dumps(value)  # what the JSON columns do
        for k, v in (value.items() if isinstance(value, dict) else enumerate(value)):
            assert_storable(k, where, True)
            assert_storable(v, f"{where}.{k}", True)
    elif not hasattr(value, "isoformat"):
        raise AssertionError(f"{where}: {type(value).__name__}")


def to_bytes(rng: random.Random, doc: Any) -> bytes:
    try:  # ensure_ascii writes lone surrogates as \\u escapes; allow_nan writes NaN and Infinity
        return json.dumps(doc, ensure_ascii=rng.random() < 0.8, allow_nan=True).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        return b"[" * 5000


def test_no_exception_escapes_a_sidecar_reader_and_every_result_is_storable(fixtures_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    docs = base_documents(fixtures_dir)
    entry = FileEntry(str(tmp_path / "m.safetensors"), "m.safetensors", "m.safetensors", 10, 1)
    outcomes = {"parsed": 0, "refused": 0}
    for case in range(600):
        doc = mutate(rng, rng.choice(docs))
        ctx = SidecarContext(frozenset({"pixel-art-xl.safetensors"}), rng.choice([None, "AB" * 32]))
        # 1. Every parser on the value as it is (a caller that did not go through the reader).
        for kind in KINDS:
            try:
                parse_sidecar(kind, f"d{case}", doc, ctx)
            except FileProblemError as exc:
                assert exc.error_class in (INVALID_METADATA, INVALID_JSON)
        # 2. The reader's way: bytes, decoded and cleaned, parsed, merged, made a record.
        raw = to_bytes(rng, doc)
        try:
            data, problems = decode_json_checked(f"d{case}", raw)
        except FileProblemError as exc:
            assert exc.error_class == INVALID_JSON
            outcomes["refused"] += 1
            continue
        assert all(isinstance(p, str) and p for p in problems)
        for kind in KINDS:
            try:
                fields = parse_sidecar(kind, f"d{case}", data, ctx)
            except FileProblemError as exc:
                assert exc.error_class == INVALID_METADATA, exc
                outcomes["refused"] += 1
                continue
            merged = merge([fields])
            storable_json(merged)
            record = build_record(merged, entry, entry, [fields.format])
            for name, value in vars(record).items():
                assert_storable(value, f"case {case} {kind} {name}")
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 500 and outcomes["refused"] > 100  # both paths were exercised


def test_clean_json_leaves_out_what_no_column_holds_and_names_it() -> None:
    value = {"ok": [1, 2.5, "t"], "big": 10**30, "nan": float("nan"), "text": "a\ud800b", "deep": deep(300),
             "list": [float("inf"), 3], "\udfffkey": 1}
    cleaned, problems = clean_json(value)
    assert cleaned["ok"] == [1, 2.5, "t"] and cleaned["list"] == [3] and cleaned["text"] == "a\ufffdb"
    assert "big" not in cleaned and "nan" not in cleaned and "\ufffdkey" in cleaned
    orjson.dumps(cleaned)
    joined = "\n".join(problems)
    for where in ("'big'", "'nan'", "'text'", "'list[0]'", "over 128 levels"):
        assert where in joined


@pytest.mark.parametrize("meta", [
    {"modelspec.title": "\ud800name", "ss_base_model_version": "\udfffweird", "ss_tag_frequency": '{"1_\\ud800": {"\\ud800": 5}}'},
    {"ss_tag_frequency": '{"d": {"a": NaN, "b": 1e999, "c": 100000000000000000000000}}', "ss_dataset_dirs": "[1]"},
    {"ss_tag_frequency": json.dumps(deep(900)), "modelspec.trigger_phrase": "x\ud800, y"},
])
def test_hostile_safetensors_metadata_gives_storable_fields(meta: dict[str, str]) -> None:
    raw = json.dumps({"__metadata__": meta, "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode()
    header = parse_header_bytes("h.safetensors", raw, 8 + len(raw) + 1)
    fields = header_fields("h.safetensors", header, full=True)
    for name, value in vars(fields).items():
        assert_storable(value, name)
    assert isinstance(AdapterRecord(name=fields.name or "x"), AdapterRecord)
