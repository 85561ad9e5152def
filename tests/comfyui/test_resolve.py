"""The batched path for files ComfyUI resolved gives what StackResolver gives for the same trusted
paths: adapters from imported sidecars, stored CivitAI answers, unknown and missing files."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from lora_manager_gui.comfyui.inputs import comfy_entry, comfy_folder_paths, read_lora_input
from lora_manager_gui.comfyui.resolve import resolve_comfy_entries
from lora_manager_gui.comfyui.runtime import get_runtime, node_settings
from lora_manager_gui.comfyui.extract import ExtractRequest, extract
from lora_manager_gui.core.lora_json import build_document
from lora_manager_gui.services.inspector import StackResolver
from tests.comfyui.conftest import ComfyTree, cli_env
from tests.conftest import LibraryTree


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


@pytest.fixture
def stocked(comfy: ComfyTree, fake_civitai, monkeypatch: pytest.MonkeyPatch):
    tree = LibraryTree(comfy.loras)
    tree.model("wan/with_sidecar.safetensors", b"\x05" * 32)
    tree.civitai_model("wan/with_sidecar.json", "Sidecar Style", file_name="with_sidecar.safetensors")
    identified = comfy.lora("wan/identified.safetensors", 7)
    comfy.lora("unknown.safetensors", 8)
    fake_civitai.catalogue.add_synthetic(sha(identified), version_id=8101, model_id=8100, name="Identified Style")
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)
    imported = subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(comfy.db), "import", str(comfy.loras)],
                              capture_output=True, text=True, env=cli_env(), timeout=300)
    assert imported.returncode == 0, imported.stderr
    stack = [("wan/with_sidecar.safetensors", 1.0, 1.0), ("wan/identified.safetensors", 0.7, 0.7),
             ("unknown.safetensors", 0.5, 0.5), ("wan/missing.safetensors", 1.0, 1.0)]
    runtime = get_runtime()
    runtime.run(extract(runtime, ExtractRequest(lora=stack, budget_s=30)), timeout=120)  # identify, store
    return stack


def test_batched_reads_match_the_stack_resolver(stocked, comfy: ComfyTree) -> None:
    runtime = get_runtime()
    work = [comfy_entry(e, comfy_folder_paths()) for e in read_lora_input(stocked).entries]

    async def both():
        library = await runtime.library(comfy.db.resolve(), node_settings(None))
        async with library.use_hasher() as hasher:
            batched, _ = await resolve_comfy_entries(library, hasher, work)
            reference, _ = await StackResolver(library.db, hasher, trust_paths=True).resolve(work)
        return build_document(batched), build_document(reference)

    batched, reference = runtime.run(both(), timeout=120)
    assert batched == reference
    sidecar, identified, unknown, missing = batched["loras"]
    assert sidecar["civitai"]["source"] == "sidecar" and sidecar["library_name"] == "Sidecar Style"
    assert identified["civitai"]["civitai_name"] == "Identified Style" and identified["civitai"]["source"] == "civitai"
    assert unknown["civitai"] is None and unknown["hash"] == sha(comfy.loras / "unknown.safetensors")
    assert missing["file"]["exists"] is False
