"""The one parser of CivitAI answers: records from good answers, a malformed-answer failure otherwise."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lora_manager_gui.core.civitai_errors import CivitaiMalformedAnswerError, CivitaiMalformedResponseError
from lora_manager_gui.core.civitai_records import (
    MAX_ID,
    parse_model,
    parse_model_page,
    parse_version,
    parse_version_batch,
    pick_oldest,
    storable,
    strip_comfy,
)

SHA = "EE63E584ACE0019D7FAEF1BA9A5F89A444C265C2701D32D309008F6B2D5C4D77"


@pytest.fixture
def version(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "civitai" / "by_hash_lora.json").read_text(encoding="utf-8"))


@pytest.fixture
def model(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "civitai" / "model.json").read_text(encoding="utf-8"))


def test_a_version_answer_becomes_a_record_keeping_its_json(version: dict) -> None:
    version["images"][0]["meta"]["comfy"] = "{" + "x" * 10_000 + "}"
    record = parse_version(version)
    assert (record.id, record.model_id, record.name) == (1336201, 1187354, "v2.0")
    assert record.sha256s == (SHA,) and record.files[0].autov2 == SHA[:10] and record.images
    assert "comfy" not in record.raw["images"][0]["meta"] and record.raw["images"][0]["meta"]["seed"] == 2871460019
    assert "comfy" in version["images"][0]["meta"]  # the input is not modified


def test_strip_comfy_keeps_the_rest(version: dict) -> None:
    version["images"][0]["meta"]["comfy"] = "{" + "x" * 10_000 + "}"
    cleaned = strip_comfy(version)
    assert "comfy" not in cleaned["images"][0]["meta"] and cleaned["images"][0]["meta"]["seed"] == 2871460019
    assert "comfy" in version["images"][0]["meta"]
    wrapped = strip_comfy({"id": 1, "modelVersions": [version]})
    assert "comfy" not in wrapped["modelVersions"][0]["images"][0]["meta"]


BAD_VERSIONS = [
    ("files", None), ("files", "x"), ("files", [None]), ("files", [{"hashes": "x"}]),
    ("files", [{"hashes": {"SHA256": 5}}]),
    ("modelId", 10**30), ("modelId", -1), ("modelId", 0), ("modelId", True), ("modelId", "1187354"), ("modelId", 1.5),
    ("id", 10**30), ("id", MAX_ID + 1), ("id", False), ("id", "1336201"), ("id", None), ("id", float("nan")),
    ("name", 7), ("publishedAt", ["2024"]),
]


@pytest.mark.parametrize("key, value", BAD_VERSIONS)
def test_untrustworthy_versions_are_malformed_answers(version: dict, key: str, value: object) -> None:
    bad = copy.deepcopy(version)
    bad[key] = value
    with pytest.raises(CivitaiMalformedAnswerError) as info:
        parse_version(bad)
    assert info.value.error_class == "malformed_answer"
    assert isinstance(info.value, CivitaiMalformedResponseError)  # still a failure of the answer, never "not found"


def test_tolerated_shapes(version: dict) -> None:
    thin = {"id": MAX_ID, "files": [], "images": [None, {"url": 5}, {"url": "u", "nsfwLevel": 10**40}]}
    record = parse_version(thin)
    assert record.model_id is None and record.files == () and [i.url for i in record.images] == ["u"]
    assert record.images[0].nsfw_level == 0
    del version["files"][0]["hashes"]
    assert parse_version(version).sha256s == ()


def test_a_batch_keeps_good_items_and_rejects_the_others_with_their_hashes(version: dict) -> None:
    bad = copy.deepcopy(version)
    bad["modelId"] = 10**30
    bad["files"][0]["hashes"]["SHA256"] = "A" * 64
    batch = parse_version_batch([None, version, "junk", bad, {"files": None}])
    assert [v.id for v in batch.versions] == [1336201]
    assert [r.sha256s for r in batch.rejected] == [(), ("A" * 64,), ()]
    with pytest.raises(CivitaiMalformedAnswerError):
        parse_version_batch({"error": "x"})


def test_unstorable_answers_are_refused(version: dict) -> None:
    deep: list = []
    node = deep
    for _ in range(3000):
        node.append([])
        node = node[0]
    assert not storable(deep) and storable({"n": 10**30, "f": float("inf")})
    version["images"][0]["meta"]["deep"] = deep
    with pytest.raises(CivitaiMalformedAnswerError):
        parse_version(version)
    version["images"][0]["meta"]["deep"] = "\ud800"
    with pytest.raises(CivitaiMalformedAnswerError):
        parse_version(version)


def test_model_and_model_page(model: dict) -> None:
    record = parse_model(model)
    assert (record.id, record.creator, record.version_ids) == (1187354, "sumi_lab", (1336201, 1187990))
    page = parse_model_page({"items": [model, None, {"id": -4}], "metadata": {"nextCursor": None}})
    assert [m.id for m in page.items] == [1187354] and page.next_cursor is None and len(page.rejected) == 1
    with pytest.raises(CivitaiMalformedAnswerError):
        parse_model_page([model])
    with pytest.raises(CivitaiMalformedAnswerError):
        parse_model({"id": 10**30})


def test_pick_oldest(version: dict) -> None:
    a = parse_version({**version, "id": 2, "publishedAt": "2024-01-01T00:00:00Z"})
    b = parse_version({**version, "id": 1, "publishedAt": "2025-01-01T00:00:00Z"})
    assert pick_oldest([b, a]) is a
