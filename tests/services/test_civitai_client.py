"""The client against a real HTTP server on 127.0.0.1 (tests/civitai_server.py)."""
from __future__ import annotations

import asyncio
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from lora_manager_gui.core.civitai_errors import (
    CivitaiHtmlResponseError,
    CivitaiMalformedAnswerError,
    CivitaiMalformedResponseError,
    CivitaiNetworkError,
    CivitaiNotFoundError,
    CivitaiRateLimitedError,
    CivitaiServerError,
    CivitaiTimeoutError,
    CivitaiTooLargeError,
    CivitaiUnreachableError,
)
from lora_manager_gui.services.civitai import CivitaiClient
from lora_manager_gui.services.ratelimit import RateLimiter, parse_retry_after

SHA = "EE63E584ACE0019D7FAEF1BA9A5F89A444C265C2701D32D309008F6B2D5C4D77"
OLD_SHA = "AF247F639D2A3003DC9F58C8C5F86626059EF51F6BB3A534EC2692CC96617565"


class FakeTime:
    """A clock and a sleep that records waits and advances the clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_client(server, *, api_key=None, fake_time: FakeTime | None = None, **kw) -> CivitaiClient:
    t = fake_time or FakeTime()
    limiter = RateLimiter(1000, burst=100, max_concurrency=kw.pop("max_concurrency", 3), clock=t.clock, sleep=t.sleep)
    kw.setdefault("timeout", 2.0)
    return CivitaiClient(server.base_url, api_key, limiter=limiter, sleep=t.sleep, **kw)


def run(coro):
    return asyncio.run(coro)


async def _with(client: CivitaiClient, coro_fn):
    try:
        return await coro_fn(client)
    finally:
        await client.close()


def test_single_and_batch_lookups(fake_civitai) -> None:
    client = make_client(fake_civitai)

    async def go(c: CivitaiClient):
        single = await c.version_by_hash(SHA.lower())
        by_v3 = await c.version_by_hash("cdc2ca6bf6c6")
        batch = await c.versions_by_hashes([SHA.lower(), "0" * 64])
        models = await c.models_by_ids([1187354, 999])
        return single, by_v3, batch, models

    single, by_v3, batch, models = run(_with(client, go))
    assert single.id == by_v3.id == 1336201
    assert list(batch.found) == [SHA] and batch.found[SHA].model_id == 1187354
    assert not batch.rejected and not batch.unplaced
    assert list(models) == [1187354] and models[1187354].creator == "sumi_lab"
    post = fake_civitai.requests_to("by-hash")[2]
    assert post.method == "POST" and sorted(post.body) == sorted([SHA, "0" * 64])
    get_models = fake_civitai.requests_to("/models")[0]
    assert get_models.query["nsfw"] == ["true"] and get_models.query["ids"] == ["999,1187354"]
    assert all(r.headers["User-Agent"].startswith("LoRA-Manager/") for r in fake_civitai.requests)
    assert client.requests_made == 4


def test_not_found_is_its_own_class(fake_civitai) -> None:
    with pytest.raises(CivitaiNotFoundError):
        run(_with(make_client(fake_civitai), lambda c: c.version_by_hash("0" * 64)))


def test_batch_tolerates_null_items(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "null_items", times=None)
    hits = run(_with(make_client(fake_civitai), lambda c: c.versions_by_hashes([SHA])))
    assert list(hits.found) == [SHA] and not hits.rejected and not hits.unplaced


def test_api_key_only_on_mixed_endpoints_as_bearer(fake_civitai) -> None:
    key = "sk-test-0123456789abcdef"

    async def go(c: CivitaiClient):
        await c.versions_by_hashes([SHA])
        await c.version_by_hash(SHA)
        await c.models_by_ids([1187354])
        await c.model_version(1336201)

    run(_with(make_client(fake_civitai, api_key=key), go))
    by_hash = fake_civitai.requests_to("by-hash")
    assert by_hash and all("Authorization" not in r.headers for r in by_hash)
    mixed = fake_civitai.requests_to("/models") + fake_civitai.requests_to("model-versions/1336201")
    assert len(mixed) == 2 and all(r.headers["Authorization"] == f"Bearer {key}" for r in mixed)
    assert all(key not in r.path and key not in str(r.query) for r in fake_civitai.requests)
    assert key not in repr(make_client(fake_civitai, api_key=key))


@pytest.mark.parametrize("kind", ["429_json", "429_html"])
def test_429_honours_retry_after_seconds_and_pauses_the_queue(fake_civitai, kind: str) -> None:
    fake_civitai.add_fault("by-hash", kind, retry_after="30", times=2)
    t = FakeTime()
    client = make_client(fake_civitai, fake_time=t)
    hits = run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert list(hits.found) == [SHA]
    assert client.limiter.pauses == [30.0, 30.0]
    assert len(fake_civitai.requests) == 3 and client.requests_made == 3


def test_429_with_an_http_date(fake_civitai) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=45)
    fake_civitai.add_fault("by-hash", "429_html", retry_after=format_datetime(when, usegmt=True), times=1)
    client = make_client(fake_civitai)
    run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert len(client.limiter.pauses) == 1 and 40 <= client.limiter.pauses[0] <= 46


def test_429_without_retry_after_backs_off_then_defers(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "429_json", times=None)
    client = make_client(fake_civitai, backoff_base=1.5)
    with pytest.raises(CivitaiRateLimitedError):
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert len(fake_civitai.requests) == 3  # the first try and two retries, no more
    first, second = client.limiter.pauses
    assert 1.2 <= first <= 1.8 and 2.4 <= second <= 3.6


def test_retry_after_beyond_the_cap_defers_at_once(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "429_html", retry_after="3600", times=None)
    client = make_client(fake_civitai)
    with pytest.raises(CivitaiRateLimitedError) as info:
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert info.value.retry_after == 3600 and len(fake_civitai.requests) == 1


@pytest.mark.parametrize(
    "kind, error",
    [
        ("500", CivitaiServerError),
        ("503", CivitaiServerError),
        ("524", CivitaiServerError),
        ("html_200", CivitaiHtmlResponseError),
        ("truncated_json", CivitaiMalformedResponseError),
        ("dropped", CivitaiNetworkError),
    ],
)
def test_bad_answers_are_classified(fake_civitai, kind: str, error: type) -> None:
    fake_civitai.add_fault("by-hash", kind, times=None)
    client = make_client(fake_civitai, max_transient_retries=2, backoff_base=0.01)
    with pytest.raises(error) as info:
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert info.value.error_class == error.error_class
    retried = kind in ("500", "503", "524", "dropped")
    assert len(fake_civitai.requests) == (3 if retried else 1)


def test_a_transient_5xx_is_retried_and_succeeds(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "503", retry_after="2", times=1)
    t = FakeTime()
    client = make_client(fake_civitai, fake_time=t)
    assert list(run(_with(client, lambda c: c.versions_by_hashes([SHA]))).found) == [SHA]
    assert 2.0 in t.sleeps


def test_timeout_is_classified(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "timeout", delay=1.5, times=None)
    client = make_client(fake_civitai, timeout=0.3, max_transient_retries=0)
    with pytest.raises(CivitaiTimeoutError):
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))


def test_batch_limits() -> None:
    client = CivitaiClient("http://127.0.0.1:9/api/v1", transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(ValueError):
        run(_with(client, lambda c: c.versions_by_hashes([f"{i:064X}" for i in range(101)])))


def test_parse_retry_after() -> None:
    now = datetime(2026, 8, 18, 14, 7, 52, tzinfo=timezone.utc)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Tue, 18 Aug 2026 14:08:22 GMT", now=now) == 30
    assert parse_retry_after("Tue, 18 Aug 2026 14:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("") is None


def test_concurrency_is_bounded_for_every_caller(fake_civitai) -> None:
    fake_civitai.latency = 0.05
    client = make_client(fake_civitai, max_concurrency=2)
    active = peak = 0
    original = client._http.send

    async def counting(*a, **kw):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await original(*a, **kw)
        finally:
            active -= 1

    client._http.send = counting  # type: ignore[method-assign]

    async def go(c: CivitaiClient):
        await asyncio.gather(*(c.version_by_hash(SHA) for _ in range(6)), c.models_by_ids([1187354]))

    run(_with(client, go))
    assert peak == 2 and client.requests_made == 7


def test_an_answer_trickled_byte_by_byte_fails_at_the_deadline(fake_civitai) -> None:
    # every read gets a byte within the 2 s read timeout, so only an overall deadline can stop it
    fault = fake_civitai.add_fault("by-hash", "trickle", delay=1.5, times=None)
    client = make_client(fake_civitai, timeout=2.0, deadline=2.5, max_transient_retries=0)
    with pytest.raises(CivitaiTimeoutError) as info:
        run(_with(client, lambda c: c.version_by_hash(SHA)))
    assert "within 2.5 s" in str(info.value)
    assert fault.sent < 5  # of the 37 bytes: it was not read to the end


def test_a_gzip_bomb_is_refused_without_growing(fake_civitai) -> None:
    import tracemalloc

    fake_civitai.bomb(2 * 1024**3)  # built before measuring: about 2 MB that inflate to 2 GB
    fake_civitai.add_fault("by-hash", "gzip_bomb", times=None)
    client = make_client(fake_civitai, max_body_bytes=8 * 1024 * 1024, max_transient_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(CivitaiTooLargeError) as info:
            run(_with(client, lambda c: c.versions_by_hashes([SHA])))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.error_class == "too_large" and "8,388,608" in str(info.value)
    assert peak < 40 * 1024 * 1024, peak  # about the 8 MB cap, nowhere near 2 GB
    assert len(fake_civitai.requests) == 1  # not retried: the same answer would come again


def test_a_gzip_answer_within_the_cap_is_read(fake_civitai) -> None:
    fake_civitai.add_fault("by-hash", "gzip_bomb", size=3 * 1024 * 1024, times=None)
    client = make_client(fake_civitai, max_body_bytes=2 * 1024 * 1024, max_transient_retries=0)
    with pytest.raises(CivitaiTooLargeError):
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    client = make_client(fake_civitai, max_body_bytes=4 * 1024 * 1024, max_transient_retries=0)
    with pytest.raises(CivitaiMalformedResponseError):  # read in full: 3 MB of zeros are no JSON
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))


def test_an_unreachable_host_is_its_own_error(fake_civitai) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = FakeTime()
    limiter = RateLimiter(1000, burst=100, clock=t.clock, sleep=t.sleep)
    client = CivitaiClient(f"http://127.0.0.1:{port}/api/v1", limiter=limiter, sleep=t.sleep, backoff_base=0.01)
    with pytest.raises(CivitaiUnreachableError) as info:
        run(_with(client, lambda c: c.versions_by_hashes([SHA])))
    assert isinstance(info.value, CivitaiNetworkError) and info.value.error_class == "network"
    assert client.requests_made == 3 and client.unreachable_in_a_row == 3 and client.answers_received == 0


@pytest.mark.parametrize("patch", [
    {"files": None}, {"modelId": 10**30}, {"modelId": -3}, {"modelId": True}, {"modelId": "1187354"},
    {"id": 10**30}, {"id": "1336201"},
])
def test_malformed_single_answers_are_failures_not_misses(fake_civitai, patch: dict) -> None:
    fake_civitai.catalogue.versions[1336201].update(patch)
    with pytest.raises(CivitaiMalformedAnswerError) as info:
        run(_with(make_client(fake_civitai), lambda c: c.version_by_hash(SHA)))
    assert info.value.error_class == "malformed_answer" and not isinstance(info.value, CivitaiNotFoundError)


def test_a_batch_with_an_untrusted_item_keeps_the_good_one(fake_civitai) -> None:
    import json

    other = "B" * 64
    bad = {"id": 5, "modelId": 10**30, "files": [{"hashes": {"SHA256": other}}]}
    fake_civitai.add_fault("by-hash", "extra_items", payload=json.dumps(bad) + ', {"id": 6, "files": null}', times=None)
    answer = run(_with(make_client(fake_civitai), lambda c: c.versions_by_hashes([SHA, other, "C" * 64])))
    assert list(answer.found) == [SHA] and list(answer.rejected) == [other] and len(answer.unplaced) == 1


def test_non_standard_json_is_read_and_lone_surrogates_replaced(fake_civitai) -> None:
    text = ('[{"id": 1336201, "modelId": 1187354, "name": "bad \\ud800 name", "stats": {"n": NaN, "big": 1e400,'
            ' "huge": 100000000000000000000000000000}, "files": [{"hashes": {"SHA256": "%s"}}]}]' % SHA)
    fake_civitai.add_fault("by-hash", "body", payload=text, times=None)
    answer = run(_with(make_client(fake_civitai), lambda c: c.versions_by_hashes([SHA])))
    version = answer.found[SHA]
    assert "\ud800" not in version.name and version.name.startswith("bad ")
    assert version.raw["stats"]["huge"] == 10**29
