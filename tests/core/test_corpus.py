"""Compatibility: every `ok` and `no_loras` file of the third-party corpus gives exactly its expected set.

The corpus is never copied into the project; LORA_MANAGER_CORPUS names the folder (CI sets it).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from lora_manager_gui.core.stacks import StackReadError, read_stack_file

CORPUS = os.environ.get("LORA_MANAGER_CORPUS", "").strip()

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS, reason="LORA_MANAGER_CORPUS is not set"),
]


def _expected() -> dict[str, dict]:
    if not CORPUS:
        return {}
    return json.loads((Path(CORPUS) / "expected.json").read_text(encoding="utf-8"))["files"]


EXPECTED = _expected()
DECIDED = sorted(name for name, item in EXPECTED.items() if item["status"] in ("ok", "no_loras"))


def test_corpus_lists_files() -> None:
    assert len(DECIDED) >= 30, "expected.json should list the corpus files"


@pytest.mark.parametrize("relative", DECIDED)
def test_corpus_file_gives_expected_active_set(relative: str) -> None:
    expected = EXPECTED[relative]["active"]
    result = read_stack_file(Path(CORPUS) / relative)
    got = [(entry.stem, entry.strength, entry.node_type) for entry in result.entries]
    assert [name for name, _, _ in got] == [item["name"] for item in expected]
    for (_, strength, node_type), item in zip(got, expected):
        assert isinstance(strength, float)
        assert math.isclose(strength, float(item["strength"]), rel_tol=1e-9, abs_tol=1e-9)
        assert node_type == item["node_type"]


@pytest.mark.parametrize(
    "relative", sorted(name for name, item in EXPECTED.items() if item["status"] == "ambiguous")
)
def test_corpus_ambiguous_file_is_flagged_not_guessed(relative: str) -> None:
    """Run-time selectors and stealth PNGs: no fixed entries, and the reader says why."""
    try:
        result = read_stack_file(Path(CORPUS) / relative)
    except StackReadError as exc:
        assert exc.kind == "no_metadata"
        return
    assert result.entries == []
    assert any("when the workflow runs" in warning for warning in result.warnings)
