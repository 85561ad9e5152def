"""identify() end to end: real files, real SQLite, real HTTP server on 127.0.0.1."""
from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from pathlib import Path

import pytest

from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.core.tasks import OutcomeStatus, ProblemKind, Progress, Stage
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.services.civitai import CivitaiClient
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.identify import identify
from lora_manager_gui.services.ratelimit import RateLimiter
from tests.services.test_civitai_client import FakeTime

KEY = "civitai-secret-key-5f2b9a77e1"


@pytest.fixture
def env(db_path: Path):
    dbx = DatabaseExecutor(db_path)
    hasher = HashService(dbx, workers=2, rotational=lambda d: False)
    yield dbx, hasher
    hasher.close()
    dbx.close()


def make_files(tmp_path: Path, server, n: int, *, known: int | None = None) -> list[Path]:
    """n safetensors files; the first `known` are in the server's catalogue (model id = 5000 + i // 2)."""
    known = n if known is None else known
    files = []
    for i in range(n):
        path = write_safetensors(tmp_path / f"lora_{i}.safetensors", {"w": i.to_bytes(4, "little") * 8})
        files.append(path)
        if i < known:
            sha = hashlib.sha256(path.read_bytes()).hexdigest().upper()
            server.catalogue.add_synthetic(sha, version_id=9000 + i, model_id=5000 + i // 2)
    return files


def client_for(server, t: FakeTime | None = None, **kw) -> CivitaiClient:
    t = t or FakeTime()
    limiter = RateLimiter(1000, burst=100, max_concurrency=3, clock=t.clock, sleep=t.sleep)
    return CivitaiClient(server.base_url, kw.pop("api_key", None), limiter=limiter, sleep=t.sleep, timeout=kw.pop("timeout", 1.0),
                         backoff_base=0.01, **kw)


def run_identify(env, server, paths, **kw):
    dbx, hasher = env

    async def go():
        client = client_for(server, api_key=kw.pop("api_key", None))
        try:
            return await identify(dbx, client, hasher, paths, **kw)
        finally:
            await client.close()

    return asyncio.run(go())


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def test_batch_identification_with_model_data(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 6, known=4)
    report = run_identify(env, fake_civitai, files)
    assert (report.looked_up, report.found, report.not_found, report.failed, report.deferred) == (6, 4, 2, 0, 0)
    # one batch POST, two AutoV3 retries for the misses, one /models call for the two distinct models
    assert report.requests == 4 and report.autov3_lookups == 2 and report.models_fetched == 2
    assert [r.method for r in fake_civitai.requests_to("by-hash")] == ["POST", "GET", "GET"]
    dbx, _ = env
    info = dbx.call_sync(store.info_for_sha256, sha_of(files[1]).lower())
    assert (info.version_id, info.model_id, info.creator) == (9001, 5000, "creator5000")
    assert info.model_name == "Model 5000" and info.tags and info.trained_words and info.base_model == "SDXL 1.0"
    assert info.nsfw_level == 3 and info.preview_url and info.stats["downloadCount"] == 9412
    assert dbx.call_sync(store.status_for_sha256, sha_of(files[5])) == "not_found"
    again = run_identify(env, fake_civitai, files)  # everything is known now: no request at all
    assert (again.requests, again.already_known, again.looked_up) == (0, 6, 0)


def test_autov3_finds_a_file_whose_header_was_edited(env, fake_civitai, tmp_path: Path) -> None:
    original = write_safetensors(tmp_path / "orig.safetensors", {"w": b"\x09" * 64}, {"ss_output_name": "x"})
    fake_civitai.catalogue.add_synthetic(sha_of(original), version_id=77, model_id=7,
                                         autov3=hashlib.sha256(b"\x09" * 64).hexdigest()[:12])
    edited = write_safetensors(tmp_path / "edited.safetensors", {"w": b"\x09" * 64}, {"ss_output_name": "x", "note": "edited"})
    report = run_identify(env, fake_civitai, [edited])
    assert report.found == 1 and report.items[0].matched_by == "autov3"
    dbx, _ = env
    assert dbx.call_sync(store.info_for_sha256, sha_of(edited)).version_id == 77


@pytest.mark.parametrize("kind", ["500", "html_200", "truncated_json", "timeout"])
def test_a_failed_answer_never_overwrites_found_data(env, fake_civitai, tmp_path: Path, kind: str) -> None:
    files = make_files(tmp_path, fake_civitai, 2)
    assert run_identify(env, fake_civitai, files).found == 2
    dbx, _ = env
    before = dbx.call_sync(store.info_for_sha256, sha_of(files[0]))
    fake_civitai.add_fault("", kind, times=None, delay=3.0)
    report = run_identify(env, fake_civitai, files, refresh_found=True)
    assert report.failed == 2 and report.found == 0 and report.looked_up == 2
    assert {i.error_class for i in report.items} == {
        {"500": "server_error", "html_200": "html_body", "truncated_json": "malformed_json", "timeout": "timeout"}[kind]
    }
    after = dbx.call_sync(store.info_for_sha256, sha_of(files[0]))
    assert dbx.call_sync(store.status_for_sha256, sha_of(files[0])) == "found"
    assert after is not None and after.to_json() == before.to_json()


def test_a_successful_refresh_replaces_the_data(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 1)
    run_identify(env, fake_civitai, files)
    fake_civitai.catalogue.versions[9000]["stats"]["downloadCount"] = 12345
    report = run_identify(env, fake_civitai, files, refresh_found=True)
    assert report.found == 1 and report.models_fetched == 1
    dbx, _ = env
    assert dbx.call_sync(store.info_for_sha256, sha_of(files[0])).stats["downloadCount"] == 12345


def test_failure_of_one_batch_fails_only_its_items(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 150)
    fake_civitai.add_fault("by-hash", "html_200", times=1)  # the first of two batches
    report = run_identify(env, fake_civitai, files)
    assert report.looked_up == 150 and report.failed + report.found == 150
    assert report.failed == 100 and report.found == 50
    assert {i.error_class for i in report.items if i.status == "failed"} == {"html_body"}
    fake_civitai.clear_faults()
    again = run_identify(env, fake_civitai, files)
    assert (again.looked_up, again.found, again.already_known) == (100, 100, 50)


def test_a_429_storm_defers_and_the_next_run_picks_them_up(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 250)
    fake_civitai.add_fault("by-hash", "429_html", retry_after="30", times=3)
    report = run_identify(env, fake_civitai, files)
    assert (report.deferred, report.failed, report.found) == (250, 0, 0)
    assert report.requests == 3  # the first batch and its two retries; the rest was not asked at all
    dbx, _ = env
    assert dbx.call_sync(store.status_for_sha256, sha_of(files[0])) == "deferred"
    again = run_identify(env, fake_civitai, files)
    assert (again.looked_up, again.found, again.deferred) == (250, 250, 0)


def test_model_call_failure_is_retried_by_the_next_run(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 2)
    fake_civitai.add_fault("/models", "500", times=None)
    report = run_identify(env, fake_civitai, files)
    assert report.found == 2 and report.models_failed == 1
    dbx, _ = env
    assert dbx.call_sync(store.info_for_sha256, sha_of(files[0])).creator is None
    fake_civitai.clear_faults()
    again = run_identify(env, fake_civitai, files)
    assert again.models_fetched == 1 and again.requests == 1
    assert dbx.call_sync(store.info_for_sha256, sha_of(files[0])).creator == "creator5000"


def test_unreadable_files_are_reported_and_the_rest_identified(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 2)
    report = run_identify(env, fake_civitai, files + [tmp_path / "gone.safetensors"])
    assert (report.found, report.hash_failed) == (2, 1)


def test_the_key_is_never_logged_nor_stored(env, fake_civitai, tmp_path: Path, db_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "lora_manager_gui"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    files = make_files(tmp_path, fake_civitai, 3, known=2)
    fake_civitai.add_fault("/models", "500", times=1)
    fake_civitai.add_fault("by-hash", "429_json", times=1)
    report = run_identify(env, fake_civitai, files, api_key=KEY)
    assert report.found == 2
    assert any(r.headers.get("Authorization") == f"Bearer {KEY}" for r in fake_civitai.requests)
    logging.getLogger("lora_manager_gui.test").error("a careless line with %s", KEY)  # the redaction catches it
    assert len(caplog.records) > 10 and any(r.name.startswith("httpcore") for r in caplog.records)
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text
    dbx, _ = env
    dbx.call_sync(lambda: dbx.db.execute_sql("PRAGMA wal_checkpoint(FULL)"))
    for path in db_path.parent.glob(db_path.name + "*"):
        assert KEY.encode() not in path.read_bytes(), path


def dead_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_is_detected_once_said_once_and_the_run_stops_early(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 250)
    dbx, hasher = env
    seen: list[Progress] = []

    async def go(base_url: str):
        t = FakeTime()
        limiter = RateLimiter(1000, burst=100, clock=t.clock, sleep=t.sleep)
        client = CivitaiClient(base_url, limiter=limiter, sleep=t.sleep, backoff_base=0.01)
        try:
            return await identify(dbx, client, hasher, files, progress=seen.append)
        finally:
            await client.close()

    report = asyncio.run(go(f"http://127.0.0.1:{dead_port()}/api/v1"))
    assert (report.deferred, report.failed, report.found, report.looked_up) == (250, 0, 0, 250)
    assert report.requests == 3  # the first batch and its two retries; the other two batches were not tried
    assert {(i.status, i.error_class) for i in report.items} == {("deferred", "offline")}
    [problem] = report.problems  # one line, not 250
    assert problem.kind is ProblemKind.OFFLINE and "250 files" in problem.message
    assert report.outcome().status is OutcomeStatus.DEFERRED and report.outcome().deferred == 250
    assert seen[-1].stage is Stage.DONE and seen[-1].deferred == 250
    assert dbx.call_sync(store.lookup_state, sha_of(files[0])).error_class == "offline"
    again = asyncio.run(go(fake_civitai.base_url))  # back online: everything deferred is asked
    assert (again.looked_up, again.found, again.deferred) == (250, 250, 0)
    assert again.outcome().status is OutcomeStatus.DONE and again.problems == []


@pytest.mark.parametrize("patch", [
    {"files": None}, {"files": [{"hashes": "x"}]}, {"modelId": 10**30}, {"modelId": -5}, {"modelId": True},
    {"modelId": "5000"}, {"id": "9000"}, {"id": 2**64},
], ids=["files-null", "hashes-str", "modelId-huge", "modelId-negative", "modelId-bool", "modelId-str", "id-str",
        "id-over-64-bits"])
def test_a_malformed_answer_is_a_failure_and_the_neighbour_is_stored(env, fake_civitai, tmp_path: Path,
                                                                     patch: dict) -> None:
    files = make_files(tmp_path, fake_civitai, 2)
    good = copy.deepcopy(fake_civitai.catalogue.versions[9000])
    fake_civitai.catalogue.versions[9000].update(copy.deepcopy(patch))
    report = run_identify(env, fake_civitai, files)
    bad_item, good_item = sorted(report.items, key=lambda i: i.path)
    assert (bad_item.status, bad_item.error_class) == ("failed", "malformed_answer")
    assert (good_item.status, good_item.version_id) == ("found", 9001)
    assert report.not_found == 0 and report.outcome().status is OutcomeStatus.DONE_WITH_PROBLEMS
    assert [p.kind for p in report.problems] == [ProblemKind.MALFORMED_ANSWER]
    dbx, _ = env
    assert dbx.call_sync(store.status_for_sha256, sha_of(files[0])) == "failed"
    fake_civitai.catalogue.versions[9000] = good  # CivitAI is sane again: the next run asks again
    again = run_identify(env, fake_civitai, files)
    assert (again.looked_up, again.found, again.already_known) == (1, 1, 1)


def test_progress_is_task_progress_through_every_stage(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 4, known=3)
    seen: list[Progress] = []
    report = run_identify(env, fake_civitai, files, progress=seen.append)
    assert all(isinstance(p, Progress) for p in seen)
    stages = list(dict.fromkeys(p.stage for p in seen))
    assert stages == [Stage.HASH, Stage.LOOKUP, Stage.AUTOV3, Stage.MODELS, Stage.DONE]
    hashing = [p for p in seen if p.stage is Stage.HASH]
    assert hashing[-1].done == hashing[-1].total == 4 and hashing[-1].bytes_done == hashing[-1].bytes_total > 0
    assert [p for p in seen if p.stage is Stage.LOOKUP][-1].done == 4
    assert (seen[-1].done, seen[-1].total) == (4, 4)
    assert report.outcome().status is OutcomeStatus.DONE and report.outcome().changes.civitai


def test_a_429_storm_is_one_problem_and_a_deferred_outcome(env, fake_civitai, tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 150)
    fake_civitai.add_fault("by-hash", "429_json", times=None)
    report = run_identify(env, fake_civitai, files)
    [problem] = report.problems
    assert problem.kind is ProblemKind.RATE_LIMITED and "150 files" in problem.message
    assert report.outcome().status is OutcomeStatus.DEFERRED


def test_a_cancelled_run_defers_without_asking(env, fake_civitai, tmp_path: Path) -> None:
    import threading

    files = make_files(tmp_path, fake_civitai, 3)
    dbx, hasher = env
    asyncio.run(hasher.hash_paths(files))  # hashed already, so the run gets to the lookups
    cancel = threading.Event()
    cancel.set()
    report = run_identify(env, fake_civitai, files, cancel=cancel)
    assert report.requests == 0 and report.problems == []
    assert report.outcome().status is OutcomeStatus.CANCELLED
