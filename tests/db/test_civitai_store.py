from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from lora_manager_gui.core.civitai_records import CivitaiModel, CivitaiVersion, parse_model, parse_version
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.db.models import CivitaiLookup, CivitaiVersion

SHA = "EE63E584ACE0019D7FAEF1BA9A5F89A444C265C2701D32D309008F6B2D5C4D77"


@pytest.fixture
def version(fixtures_dir: Path) -> CivitaiVersion:
    data = json.loads((fixtures_dir / "civitai" / "by_hash_lora.json").read_text(encoding="utf-8"))
    data["images"][0]["meta"]["comfy"] = "{\"huge\": true}"
    return parse_version(data)


@pytest.fixture
def model(fixtures_dir: Path) -> CivitaiModel:
    return parse_model(json.loads((fixtures_dir / "civitai" / "model.json").read_text(encoding="utf-8")))


def test_found_answer_gives_full_info_case_insensitively(library_db, version: CivitaiVersion, model: CivitaiModel) -> None:
    store.record_found(SHA.lower(), version)
    assert store.status_for_sha256(SHA) == "found"
    partial = store.info_for_sha256(SHA.lower())
    assert partial.version_id == 1336201 and partial.creator is None and not partial.has_model_data
    store.store_models([model])
    info = store.info_for_sha256(SHA)
    assert info.creator == "sumi_lab" and info.tags[0] == "style" and info.has_model_data
    assert info.fetched_at.tzinfo is not None and info.preview_url
    stored = CivitaiVersion.get_by_id(1336201).data
    assert "comfy" not in stored["images"][0]["meta"] and stored["images"][0]["meta"]["seed"] == 2871460019


def test_failures_never_overwrite_a_found_answer(library_db, version: CivitaiVersion) -> None:
    store.record_found(SHA, version)
    assert store.record_not_found(SHA) is False
    assert store.record_failed(SHA, "server_error", "500") is False
    assert store.record_deferred(SHA) is False
    state = store.lookup_state(SHA)
    assert state.status == "found" and state.version_id == 1336201 and state.error_class == "rate_limited"
    assert store.info_for_sha256(SHA).version_name == "v2.0"


def test_failed_and_deferred_keep_a_known_miss(library_db) -> None:
    store.record_not_found(SHA)
    store.record_failed(SHA, "timeout", "read timed out")
    store.record_deferred(SHA)
    assert store.status_for_sha256(SHA) == "not_found"


def test_statuses_and_recheck_rule(library_db) -> None:
    other = "A" * 64
    third = "B" * 64
    store.record_outcomes(not_found=[SHA], failed={other: ("html_body", "HTML")}, deferred={third: ("rate_limited", "429")})
    states = store.states_for([SHA.lower(), other, third, "C" * 64])
    assert {k: v.status for k, v in states.items()} == {SHA: "not_found", other: "failed", third: "deferred"}
    assert store.info_for_sha256(SHA) is None and store.status_for_sha256("C" * 64) is None
    assert not store.needs_lookup(states[SHA], recheck_not_found_days=30)
    later = states[SHA].fetched_at + timedelta(days=31)
    assert store.needs_lookup(states[SHA], recheck_not_found_days=30, now=later)
    assert store.needs_lookup(states[other], recheck_not_found_days=30)
    assert store.needs_lookup(states[third], recheck_not_found_days=30)
    assert store.needs_lookup(None, recheck_not_found_days=30)
    assert store.counts() == {"found": 0, "not_found": 1, "failed": 1, "deferred": 1}


def test_a_later_found_replaces_a_miss(library_db, version: CivitaiVersion) -> None:
    store.record_not_found(SHA)
    store.record_found(SHA, version, matched_by="autov3")
    state = store.lookup_state(SHA)
    assert (state.status, state.matched_by, state.model_id) == ("found", "autov3", 1187354)
    assert CivitaiLookup.get_by_id(SHA).attempts == 2
