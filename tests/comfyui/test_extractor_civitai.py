"""LoRAInfoExtractor and CivitAI (the fake server of tests/civitai_server.py, real HTTP): answers
land in the library the app reads, what the app knows is never asked again, a 429 storm or a slow
host never holds the node past its budget, and a lookup that outlives it serves the next run."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from lora_manager_gui.comfyui.extract import ExtractRequest, extract
from lora_manager_gui.comfyui.runtime import get_runtime, library_path
from lora_manager_gui.db import civitai_store
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.identify import identify
from tests.comfyui.conftest import ComfyTree
from tests.services.test_identify import client_for
from tests.services.test_inspect import validate


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


@pytest.fixture
def online(comfy: ComfyTree, fake_civitai, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)
    known, unknown = comfy.lora("wan/known.safetensors", 1), comfy.lora("wan/unknown.safetensors", 2)
    fake_civitai.catalogue.add_synthetic(sha(known), version_id=7101, model_id=7100, name="Known Style")
    return fake_civitai, known, unknown


STACK = [("wan/known.safetensors", 0.8, 0.8), ("wan/unknown.safetensors", 0.5, 0.5), ("wan/gone.safetensors", 1.0, 1.0)]


def run(budget_s: float, stack=STACK, **kw):
    runtime = get_runtime()
    extraction = runtime.run(extract(runtime, ExtractRequest(lora=stack, budget_s=budget_s, **kw)), timeout=120)
    validate(extraction.document)
    return extraction


def by_hash_asked(server) -> list[str]:
    return [h for r in server.requests_to("by-hash") if r.method == "POST" for h in r.body]


def wait_for_background_lookups(db: Path) -> None:
    runtime = get_runtime()

    async def settle() -> None:
        await asyncio.gather(*[t.task for t in runtime.running_lookups(db)], return_exceptions=True)

    runtime.run(settle(), timeout=60)


def test_answers_fill_the_document_and_land_where_the_app_reads_them(online, comfy: ComfyTree) -> None:
    server, known, unknown = online
    extraction = run(budget_s=30)
    assert not extraction.lookup_pending
    first, second, absent = extraction.document["loras"]
    assert first["civitai"]["civitai_name"] == "Known Style" and first["display_name"] == "Known Style"
    assert second["civitai"] is None and absent["civitai"] is None and absent["file"]["exists"] is False
    assert "1 on CivitAI" in extraction.lora_info
    assert sorted(by_hash_asked(server)) == sorted([sha(known), sha(unknown)])  # the absent file has no hash
    app = DatabaseExecutor(comfy.db)  # the desktop app on the same library
    try:
        states = app.call_sync(civitai_store.states_for, [sha(known), sha(unknown)])
        assert states[sha(known)].status == "found" and states[sha(unknown)].status == "not_found"
    finally:
        app.close()
    asked = len(server.requests)
    again = run(budget_s=30)
    assert len(server.requests) == asked  # the found and the not-found answer are both remembered
    assert again.document == extraction.document


def test_what_the_app_already_identified_is_never_asked_again(online, comfy: ComfyTree) -> None:
    server, known, unknown = online

    async def app_identifies() -> None:  # the desktop app's `identify`, before ComfyUI runs the node
        db = DatabaseExecutor(comfy.db)
        hasher = HashService(db, workers=1)
        client = client_for(server)
        try:
            await identify(db, client, hasher, [str(known), str(unknown)])
        finally:
            await client.close()
            hasher.close()
            db.close()

    asyncio.run(app_identifies())
    asked = len(server.requests)
    extraction = run(budget_s=30)
    assert len(server.requests) == asked and extraction.files_hashed == 0
    assert extraction.document["loras"][0]["civitai"]["civitai_name"] == "Known Style"


def test_a_429_storm_never_holds_the_node_past_its_budget(online, comfy: ComfyTree) -> None:
    server, known, unknown = online
    server.add_fault("by-hash", "429_json", times=None, retry_after="20")
    extraction = run(budget_s=0.5)
    assert extraction.lookup_pending  # returned with local data; the lookup goes on in the background
    assert [b["civitai"] for b in extraction.document["loras"]] == [None, None, None]
    assert [b.get("hash") for b in extraction.document["loras"][:2]] == [sha(known), sha(unknown)]
    assert any("background" in w for w in extraction.warnings)
    again = run(budget_s=0.5)  # a second run joins the running lookup instead of starting another
    assert again.lookup_pending
    assert len(get_runtime().running_lookups(library_path(None))) == 1
    assert len(server.requests_to("by-hash")) <= 3  # the storm was not multiplied by the runs


def test_a_slow_lookup_finishes_in_the_background_for_the_next_run(online, comfy: ComfyTree) -> None:
    server, known, unknown = online
    server.add_fault("by-hash", "timeout", delay=1.5, times=1)  # a slow answer, not a failure
    node_class = __import__("lora_manager_gui.comfyui.nodes", fromlist=["x"]).LoRAInfoExtractor
    extraction = run(budget_s=0.2, node_id="3")
    assert extraction.lookup_pending and extraction.document["loras"][0]["civitai"] is None
    pending_fingerprint = node_class.IS_CHANGED(None, unique_id="3")
    wait_for_background_lookups(library_path(None))
    assert node_class.IS_CHANGED(None, unique_id="3") != pending_fingerprint  # ComfyUI re-runs the node
    asked = len(server.requests_to("by-hash"))
    later = run(budget_s=0.2, node_id="3")
    assert not later.lookup_pending
    assert later.document["loras"][0]["civitai"]["civitai_name"] == "Known Style"
    assert len(server.requests_to("by-hash")) == asked


def test_civitai_errors_are_logged_and_the_node_goes_on_with_local_data(online, comfy: ComfyTree,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    server, known, unknown = online
    server.add_fault("by-hash", "500", times=None)
    with caplog.at_level(logging.WARNING, logger="lora_manager_gui.comfyui"):
        extraction = run(budget_s=30)
    assert [b["civitai"] for b in extraction.document["loras"]] == [None, None, None]
    assert extraction.document["summary"]["count"] == 3 and "error" not in extraction.document
    assert "CivitAI lookup" in caplog.text
    assert server.origin not in caplog.text or "api_key" not in caplog.text
    # After a failure the host is given a rest: the next run does not ask again at once.
    asked = len(server.requests)
    run(budget_s=30)
    assert len(server.requests) == asked


def test_the_api_key_input_is_used_and_never_logged(online, comfy: ComfyTree,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    server, known, unknown = online
    with caplog.at_level(logging.DEBUG, logger="lora_manager_gui"), caplog.at_level(logging.DEBUG, logger="httpx"):
        run(budget_s=30, api_key="secret-key-123")
    sent = [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in server.requests_to("/models")]
    assert "Bearer secret-key-123" in sent  # the client sends it where CivitAI reads it (/models)
    assert "secret-key-123" not in caplog.text
