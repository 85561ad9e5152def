"""The node as ComfyUI runs it: the server's asyncio loop on the main thread, the prompt on a worker
thread that drives its own loop and awaits the node's coroutine (or calls the blocking variant).
A slow CivitAI must block neither loop, and nothing may deadlock."""
from __future__ import annotations

import asyncio
import threading

import pytest

from lora_manager_gui.comfyui.nodes import LoRAInfoExtractor
from tests.comfyui.conftest import ComfyTree

JOIN_TIMEOUT_S = 60.0  # a deadlock shows as a worker that never ends, not as a slow test


@pytest.fixture
def slow_civitai(comfy: ComfyTree, fake_civitai, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)
    fake_civitai.add_fault("by-hash", "429_json", times=None, retry_after="20")  # a storm, for the whole test
    for i in range(4):
        comfy.lora(f"wan/style_{i}.safetensors", i)
    return fake_civitai


STACK = [(f"wan/style_{i}.safetensors", 1.0, 1.0) for i in range(4)]


def test_worker_thread_node_keeps_the_main_loop_free(slow_civitai) -> None:
    results: dict[str, tuple[str, str]] = {}
    errors: list[BaseException] = []

    def prompt_worker() -> None:  # ComfyUI's prompt worker: its own loop per prompt, the node awaited on it
        try:
            node = LoRAInfoExtractor()
            results["async"] = asyncio.run(node.extract(STACK, civitai_budget_s=0.5, unique_id="1"))

            async def sync_node_in_async_executor() -> tuple[str, str]:  # an older-style call on that loop
                return node.extract_blocking(STACK, civitai_budget_s=0.5, unique_id="1")

            results["blocking"] = asyncio.run(sync_node_in_async_executor())
            results["changed"] = (LoRAInfoExtractor.IS_CHANGED(None, unique_id="1"), "")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    async def server_loop() -> int:
        ticks = 0
        worker = threading.Thread(target=prompt_worker, daemon=True)
        worker.start()
        waited = 0.0
        while worker.is_alive() and waited < JOIN_TIMEOUT_S:
            await asyncio.sleep(0.01)  # the server's loop: it must keep turning while the node runs
            ticks += 1
            waited += 0.01
        worker.join(1.0)
        assert not worker.is_alive(), "the node never returned (deadlock or unbounded wait)"
        return ticks

    ticks = asyncio.run(server_loop())
    assert not errors, errors
    assert ticks > 10  # the main loop ran throughout (a blocked loop would count 0 or 1)
    for key in ("async", "blocking"):
        lora_json, lora_info = results[key]
        assert lora_info.startswith("4 LoRAs") and "0 on CivitAI" in lora_info
    assert results["changed"][0]


def test_many_prompts_at_once_share_one_lookup(slow_civitai, comfy: ComfyTree) -> None:
    """Several workers (ComfyUI with more than one queue runner, or a batch) at the same time."""
    outputs: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker() -> None:
        out = asyncio.run(LoRAInfoExtractor().extract(STACK, civitai_budget_s=0.3))
        with lock:
            outputs.append(out)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads)
    assert len(outputs) == 4 and len({o[1] for o in outputs}) == 1
    assert len(slow_civitai.requests_to("by-hash")) <= 3  # one lookup (and its retries), not four
