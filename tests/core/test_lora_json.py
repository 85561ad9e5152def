"""The lora_json document: schema, exact summary figures for a known stack, the empty stack, lora_info."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from lora_manager_gui.core.lora_json import CivitaiData, ResolvedEntry, build_document, lora_info_text
from lora_manager_gui.core.sizes import human_size
from lora_manager_gui.core.stacks import read_stack_data

SCHEMA = json.loads((Path(__file__).parent.parent / "fixtures" / "lora_json.schema.json").read_text())


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(document)))


def known_stack() -> list[ResolvedEntry]:
    entries = read_stack_data([
        {"path": "styles/pixel_art_xl.safetensors", "strength": 0.8},
        {"path": "wan\\motion_boost.safetensors", "strength": [1.0, 0.5, 0.0]},
        {"name": "gone_lora", "strength": 0.6},
    ]).entries
    fetched = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    civitai = CivitaiData(model_name="Pixel Art XL", version_name="v1.1", creator="nerijs",
                          tags=["style", "pixel art", "Style"], stats={"downloadCount": 10}, fetched_at=fetched,
                          model_id=120096, version_id=135931)
    missing_civitai = CivitaiData(model_name="Gone", version_name="v2", creator=None, tags=["style", "anime"],
                                  stats={}, fetched_at=fetched)
    return [
        ResolvedEntry(entries[0], "/lib/styles/pixel_art_xl.safetensors", True, 167772160,
                      datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "ab" * 32, civitai, match="path"),
        ResolvedEntry(entries[1], "/lib/wan/motion_boost.safetensors", True, 1536,
                      datetime(2026, 1, 1, tzinfo=timezone.utc), "CD" * 32, None, match="name"),
        ResolvedEntry(entries[2], None, False, civitai=missing_civitai),
    ]


def test_known_stack_summary_figures_are_exact() -> None:
    document = build_document(known_stack())
    validate(document)
    assert document["summary"] == {
        "count": 3, "missing_files": 1, "civitai_matches": 2, "local_only": 1,
        "total_size_bytes": 167772160 + 1536, "total_size_human": "160.00 MB",
        "tags": ["style", "pixel art", "anime"],
    }
    assert document["combined_display"] == "Pixel Art XL + motion boost + Gone"
    first, second, third = document["loras"]
    assert first["hash"] == "AB" * 32
    assert first["file"] == {"exists": True, "path": "/lib/styles/pixel_art_xl.safetensors",
                             "size_bytes": 167772160, "size_human": "160.00 MB",
                             "modified_at": "2025-12-31T23:59:59Z"}
    assert first["civitai"]["fetched_at"] == "2026-03-04T03:06:07Z"
    assert first["civitai"]["url"] == "https://civitai.com/models/120096?modelVersionId=135931"
    assert second["strength"] == [1.0, 0.5, 0.0]
    assert second["file"]["size_human"] == "1.50 KB"
    assert third["file"] == {"exists": False, "path": "gone_lora", "size_bytes": None, "size_human": None,
                             "modified_at": None}
    assert "hash" not in third
    assert third["original"] == {"raw": {"name": "gone_lora", "strength": 0.6}, "name": "gone_lora", "path": None}
    assert "error" not in document


def test_empty_stack_gives_error_and_fallback_name() -> None:
    document = build_document([], fallback_name="My Render")
    validate(document)
    assert document["combined_display"] == "My Render"
    assert document["error"]
    assert document["summary"]["count"] == 0 and document["summary"]["total_size_human"] == "0 B"
    assert build_document([])["combined_display"] == "No LoRAs"


def test_read_error_document_is_valid_and_empty() -> None:
    document = build_document(known_stack(), fallback_name="x", error="broken.json: is not valid JSON")
    validate(document)
    assert document["loras"] == [] and document["error"].startswith("broken.json")


def test_unserializable_raw_values_still_give_valid_json() -> None:
    entry = read_stack_data([{"path": "a.safetensors", "strength": 1}]).entries[0]
    loop: list = []
    loop.append(loop)
    entry.raw = {"odd": {1, 2}, "loop": loop}
    document = build_document([ResolvedEntry(entry)])
    validate(document)
    assert isinstance(document["loras"][0]["original"]["raw"], str)


def test_lora_info_lists_strength_hash_fragment_and_status() -> None:
    text = lora_info_text(build_document(known_stack()))
    lines = text.splitlines()
    assert lines[0] == "3 LoRAs · 160.00 MB · 2 on CivitAI · 1 local only · 1 missing file"
    assert lines[1] == "• Pixel Art XL — strength 0.80 — #ABABABABAB — 160.00 MB"
    assert lines[2] == "• motion boost — strength 0.00–1.00 over 3 steps — #CDCDCDCDCD — 1.50 KB"
    assert lines[3] == "• Gone — strength 0.60 — no hash — missing file"
    assert lora_info_text(build_document([], "Fallback")) == "Fallback: no LoRAs found in the stack"


@pytest.mark.parametrize("size, text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.00 KB"), (167772160, "160.00 MB"),
    (1024 ** 3 * 3 // 2, "1.50 GB"), (1024 ** 4 * 2, "2.00 TB"), (1024 * 1024 - 1, "1.00 MB"),
])
def test_human_size_binary_units(size: int, text: str) -> None:
    assert human_size(size) == text
