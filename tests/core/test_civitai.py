from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lora_manager_gui.core.civitai import (
    CivitaiMalformedResponseError,
    build_info,
    file_sha256s,
    first_preview,
    normalise_commercial_use,
    parse_images,
)

NOW = datetime(2026, 8, 1, tzinfo=timezone.utc)


@pytest.fixture
def version(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "civitai" / "by_hash_lora.json").read_text(encoding="utf-8"))


@pytest.fixture
def model(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "civitai" / "model.json").read_text(encoding="utf-8"))


def test_info_from_fixture_version_and_model(version: dict, model: dict) -> None:
    info = build_info(version, model, NOW, sha256=file_sha256s(version)[0].lower())
    assert (info.model_id, info.version_id) == (1187354, 1336201)
    assert (info.model_name, info.version_name, info.creator) == ("Inkwash Style XL", "v2.0", "sumi_lab")
    assert info.tags == ["style", "ink", "sumi-e", "traditional art", "monochrome"]
    assert info.stats == {"downloadCount": 9412, "thumbsUpCount": 1187}
    assert info.model_stats["commentCount"] == 87
    assert info.nsfw_level == 3 and info.base_model == "SDXL 1.0"
    assert info.trained_words == ["inkwash", "sumi-e brushwork"]
    assert info.description_html.startswith("<p><strong>v2.0") and "ink-wash" in info.model_description_html
    assert info.preview_url.endswith("/104877213.jpeg")
    assert info.download_url == "https://civitai.com/api/download/models/1336201"
    assert info.allow_commercial_use == ["Image", "RentCivit"] and info.allow_no_credit is True
    assert info.sha256 == "EE63E584ACE0019D7FAEF1BA9A5F89A444C265C2701D32D309008F6B2D5C4D77"
    assert info.autov2 == "EE63E584AC" and info.has_model_data and info.model_type == "LORA"
    assert json.loads(json.dumps(info.to_json()))["fetched_at"] == "2026-08-01T00:00:00Z"


def test_version_alone_still_gives_the_version_facts(version: dict) -> None:
    info = build_info(version, None, NOW)
    assert info.model_name == "Inkwash Style XL" and info.creator is None and info.tags == []
    assert not info.has_model_data


def test_tolerates_missing_and_null_keys() -> None:
    bare = {"id": 5, "modelId": 9, "stats": {"downloadCount": None}, "files": [], "unknownKey": {"x": 1}}
    info = build_info(bare, {"id": 9, "creator": None, "tags": None}, NOW)
    assert info.trained_words == [] and info.images == [] and info.preview_url is None
    assert info.stats == {"downloadCount": None} and info.creator is None and info.download_url is None
    assert info.description_html is None and info.base_model is None
    with pytest.raises(CivitaiMalformedResponseError):
        build_info({"name": "no id"}, None, NOW)


def test_version_falls_back_to_its_entry_in_the_model(model: dict) -> None:
    thin = {"id": 1187990, "modelId": 1187354}
    info = build_info(thin, model, NOW)
    assert info.version_name == "v1.0" and info.trained_words == ["inkwash"] and info.model_name == "Inkwash Style XL"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Sell", ["Sell"]),
        (["Image", "RentCivit", "Rent"], ["Image", "RentCivit", "Rent"]),
        ("{Image,RentCivit}", ["Image", "RentCivit"]),
        ("{}", []),
        (None, []),
        (3, []),
    ],
)
def test_commercial_use_shapes(raw, expected) -> None:
    assert normalise_commercial_use(raw) == expected


def test_preview_respects_the_nsfw_level(version: dict) -> None:
    images = parse_images(version)
    version["images"][0]["nsfwLevel"] = 4
    images = parse_images(version)
    assert first_preview(images, 1) is None
    assert first_preview(images, 2).url.endswith("104877340.jpeg")
    assert first_preview(images, None).url.endswith("104877213.jpeg")
    version["images"][1]["type"] = "video"
    assert first_preview(parse_images(version), 2) is None
