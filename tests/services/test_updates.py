"""Update checks against the fake CivitAI: batched, throttled, early access, ignored, two hosts."""
from __future__ import annotations

import asyncio
from pathlib import Path

from lora_manager_gui.db import updates as store
from lora_manager_gui.db.updates import UpdateStatus
from lora_manager_gui.services.updates import check_updates, default_hosts
from tests.civitai_server import Catalogue, FakeCivitai
from tests.services.download_helpers import open_library


def _model(model_id: int, versions: list[tuple[int, str, str]]) -> dict:
    return {"id": model_id, "name": f"Model {model_id}", "type": "LORA", "creator": {"username": "c"},
            "modelVersions": [{"id": vid, "name": f"v{vid}", "publishedAt": when, "availability": avail, "files": []}
                              for vid, when, avail in versions]}


def _own(library, pairs: list[tuple[int, int]]) -> None:
    def write() -> None:
        from lora_manager_gui.db.models import database_proxy
        with database_proxy.atomic():
            for model_id, version_id in pairs:
                database_proxy.execute_sql(
                    "INSERT INTO civitai_lookup (sha256, status, version_id, model_id, fetched_at, checked_at) "
                    "VALUES (?, 'found', ?, ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
                    (f"{version_id:064X}", version_id, model_id))
    library.db.call_sync(write)


def test_a_thousand_models_in_at_most_ten_requests_then_throttled(tmp_path: Path, fake_civitai) -> None:
    cat = fake_civitai.catalogue
    for m in range(1, 1001):
        versions = [(m * 10, "2025-01-01T00:00:00Z", "Public")]
        if m % 10 == 0:
            versions.append((m * 10 + 1, "2025-06-01T00:00:00Z", "Public"))
        if m % 100 == 7:
            versions.append((m * 10 + 2, "2025-07-01T00:00:00Z", "EarlyAccess"))
        cat.models[m] = _model(m, versions)

    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            _own(library, [(m, m * 10) for m in range(1, 1001)])
            before = len(fake_civitai.requests)
            first = await check_updates(library, hosts=[fake_civitai.base_url])
            used = len(fake_civitai.requests) - before
            second = await check_updates(library, hosts=[fake_civitai.base_url])
            again = len(fake_civitai.requests) - before - used
            listed = await library.db.call(store.available_updates)
            return first, used, second, again, listed
        finally:
            await library.aclose()

    first, used, second, again, listed = asyncio.run(main())
    assert first.checked == 1000 and used <= 10 and first.problems == []
    assert all(len(r.query["ids"][0].split(",")) <= 100 for r in fake_civitai.requests_to("/models"))
    assert len(first.updates) == 100 + 10
    early = [s for s in first.updates if s.early_access]
    assert sorted(s.model_id for s in early) == list(range(7, 1001, 100)) and all(s.latest_version_id % 10 == 2 for s in early)
    regular = [s for s in first.updates if not s.early_access]
    assert all(s.latest_version_id == s.model_id * 10 + 1 for s in regular)
    assert second.checked == 0 and second.skipped == 1000 and again == 0
    assert {s.model_id for s in listed} == {s.model_id for s in first.updates}


def test_ignored_version_is_not_an_update_and_newer_regular_wins_over_early_access(tmp_path: Path, fake_civitai) -> None:
    fake_civitai.catalogue.models[5] = _model(5, [(50, "2025-01-01", "Public"), (51, "2025-02-01", "Public"),
                                                  (52, "2025-03-01", "EarlyAccess")])
    fake_civitai.catalogue.models[6] = _model(6, [(60, "2025-01-01", "Public"), (61, "2025-02-01", "Public")])

    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            _own(library, [(5, 50), (6, 60)])
            first = await check_updates(library, hosts=[fake_civitai.base_url])
            await library.db.call(store.ignore_version, 61, 6)
            second = await check_updates(library, hosts=[fake_civitai.base_url])  # the ignored model is re-checked
            return first, second, await library.db.call(store.get, 6)
        finally:
            await library.aclose()

    first, second, six = asyncio.run(main())
    five = next(s for s in first.updates if s.model_id == 5)
    assert five.latest_version_id == 51 and not five.early_access
    assert [s.model_id for s in second.states] == [6] and six.status is UpdateStatus.UP_TO_DATE


def test_what_the_first_host_hides_is_asked_of_the_next(tmp_path: Path, fake_civitai) -> None:
    fake_civitai.catalogue.models[1] = _model(1, [(10, "2025-01-01", "Public"), (11, "2025-02-01", "Public")])
    red = FakeCivitai(Catalogue()).start()
    try:
        red.catalogue.models[1] = fake_civitai.catalogue.models[1]
        red.catalogue.models[2] = _model(2, [(20, "2025-01-01", "Public"), (21, "2025-02-01", "Public")])  # mature: .red only

        async def main():
            library = open_library(tmp_path, fake_civitai)
            try:
                _own(library, [(1, 10), (2, 20), (3, 30)])
                return await check_updates(library, hosts=[fake_civitai.base_url, red.base_url])
            finally:
                await library.aclose()

        report = asyncio.run(main())
    finally:
        red.stop()
    by_model = {s.model_id: s for s in report.states}
    assert by_model[1].host == fake_civitai.base_url and by_model[2].host == red.base_url
    assert by_model[2].latest_version_id == 21 and by_model[3].status is UpdateStatus.NOT_FOUND
    [red_ask] = red.requests_to("/models")
    assert red_ask.query["ids"] == ["2,3"]


def test_failed_batch_keeps_what_an_earlier_check_learnt(tmp_path: Path, fake_civitai) -> None:
    fake_civitai.catalogue.models[1] = _model(1, [(10, "2025-01-01", "Public"), (11, "2025-02-01", "Public")])

    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            _own(library, [(1, 10)])
            await check_updates(library, hosts=[fake_civitai.base_url])
            fake_civitai.add_fault("/models", "html_200", times=None)
            failed = await check_updates(library, hosts=[fake_civitai.base_url], force=True)
            return failed, await library.db.call(store.get, 1)
        finally:
            await library.aclose()

    failed, state = asyncio.run(main())
    assert failed.problems and failed.problems[0].kind.value == "html_body"
    assert state.status is UpdateStatus.UPDATE_AVAILABLE and state.latest_version_id == 11 and state.error


def test_default_hosts() -> None:
    assert default_hosts("https://civitai.com/api/v1") == ["https://civitai.com/api/v1", "https://civitai.red/api/v1"]
    assert default_hosts("https://civitai.red/api/v1/") == ["https://civitai.red/api/v1", "https://civitai.com/api/v1"]
    assert default_hosts("http://127.0.0.1:5/api/v1") == ["http://127.0.0.1:5/api/v1"]
