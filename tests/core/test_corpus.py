"""Compatibility: every `ok` and `no_loras` file of the third-party corpus gives exactly its expected set.

The corpus contract (its MANIFEST, issue 4) is a set of active LoRAs, not an order: `expected.json`
lists them in file order while the readers return the order the nodes apply them. So the entries
are compared as a multiset of (name, node type, strength rounded to 9 places): nothing missing,
nothing extra, a LoRA loaded twice counts twice. The order is tested on hand-made graphs
(tests/core/test_stack_order.py).

The corpus is never copied into the project; LORA_MANAGER_CORPUS names the folder (CI sets it).
"""
from __future__ import annotations

import json
import os
from collections import Counter
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
    for entry in result.entries:
        assert isinstance(entry.strength, float), entry
    got = Counter(_key(entry.stem, entry.node_type, entry.strength) for entry in result.entries)
    want = Counter(_key(item["name"], item["node_type"], item["strength"]) for item in expected)
    assert got - want == Counter(), "entries the corpus does not list"
    assert want - got == Counter(), "listed entries the reader did not find"
    assert [entry.index for entry in result.entries] == list(range(len(result.entries)))


def _key(name: str, node_type: str | None, strength: object) -> tuple[str, str | None, float]:
    """Strengths are stored with float noise (1.0000000000000002): equal to 9 places is equal."""
    return name, node_type, round(float(strength), 9) + 0.0  # + 0.0: -0.0 and 0.0 are one key


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
