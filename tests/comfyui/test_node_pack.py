"""The node pack as ComfyUI sees it: written by `comfyui install`, loaded by path like a custom-node
folder, its mappings and INPUT_TYPES; `status` and `uninstall`; no Qt anywhere in it."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lora_manager_gui.comfyui import pack
from tests.comfyui.conftest import ComfyTree, cli_env


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", *args], capture_output=True, text=True,
                          env=cli_env(**env), timeout=120)


def test_loaded_like_comfyui_the_pack_exports_both_nodes(node_pack) -> None:
    mappings = node_pack.NODE_CLASS_MAPPINGS
    assert set(mappings) == {"LoRAInfoExtractor", "LoRACacheDiagnostics"}
    assert set(node_pack.NODE_DISPLAY_NAME_MAPPINGS) == set(mappings)
    extractor = mappings["LoRAInfoExtractor"]
    types = extractor.INPUT_TYPES()
    assert list(types["required"]) == ["lora"]
    assert {"civitai_api_key", "fallback_name", "library"} <= set(types["optional"])
    assert types["hidden"] == {"unique_id": "UNIQUE_ID"}
    lora_type = types["required"]["lora"][0]
    # The lora socket takes WanVideo's and ComfyUI's stack outputs (ComfyUI compares types with !=).
    assert not (lora_type != "WANVIDLORA") and not (lora_type != "LORA_STACK")
    assert extractor.RETURN_TYPES == ("STRING", "STRING")
    assert extractor.RETURN_NAMES == ("lora_json", "lora_info")
    assert callable(getattr(extractor(), extractor.FUNCTION))
    assert callable(extractor.IS_CHANGED)
    diagnostics = mappings["LoRACacheDiagnostics"]
    assert diagnostics.RETURN_TYPES == ("STRING", "STRING") and diagnostics.OUTPUT_NODE is True


def test_the_node_pack_never_imports_qt(comfy: ComfyTree) -> None:
    folder = pack.install(comfy.custom_nodes).folder
    code = textwrap.dedent(f"""
        import importlib.util, json, sys
        sys.path.insert(0, {str(comfy.custom_nodes)!r})
        spec = importlib.util.spec_from_file_location({folder.name!r}, {str(folder / "__init__.py")!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        node = module.NODE_CLASS_MAPPINGS["LoRAInfoExtractor"]()
        lora_json, lora_info = node.extract_blocking([("x.safetensors", 1.0, 1.0)], civitai_budget_s=0)
        module.NODE_CLASS_MAPPINGS["LoRACacheDiagnostics"]().diagnose_blocking()
        qt = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "qasync")))
        print(json.dumps({{"qt": qt, "count": json.loads(lora_json)["summary"]["count"]}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=cli_env(LORA_MANAGER_DB=str(comfy.db)))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"qt": [], "count": 1}


def test_install_status_uninstall_through_the_cli(comfy: ComfyTree) -> None:
    target = str(comfy.custom_nodes)
    before = cli("comfyui", "status", target, "--json")
    assert before.returncode == 0 and json.loads(before.stdout)["state"] == "not_installed"
    installed = cli("comfyui", "install", str(comfy.root))  # a ComfyUI folder is accepted too
    assert installed.returncode == 0, installed.stderr
    folder = comfy.custom_nodes / pack.PACK_DIR_NAME
    assert (folder / "__init__.py").is_file() and (folder / pack.MARKER_NAME).is_file()
    status = json.loads(cli("comfyui", "status", target, "--json").stdout)
    assert status["state"] == "installed" and status["folder"] == str(folder.resolve())
    assert "installed in" in cli("comfyui", "status", target).stdout
    (folder / "__pycache__").mkdir()  # ComfyUI compiled it
    removed = cli("comfyui", "uninstall", target)
    assert removed.returncode == 0, removed.stderr
    assert not folder.exists()
    assert json.loads(cli("comfyui", "status", "--json", COMFYUI_PATH=str(comfy.root)).stdout)["state"] == "not_installed"


def test_a_folder_we_did_not_write_is_never_touched(comfy: ComfyTree) -> None:
    foreign = comfy.custom_nodes / pack.PACK_DIR_NAME
    foreign.mkdir()
    (foreign / "__init__.py").write_text("# someone else's nodes\n")
    for action in ("install", "uninstall"):
        result = cli("comfyui", action, str(comfy.custom_nodes))
        assert result.returncode == 2 and "not written by LoRA Manager" in result.stderr
    assert (foreign / "__init__.py").read_text() == "# someone else's nodes\n"
    assert pack.status(comfy.custom_nodes).state is pack.PackState.FOREIGN


def test_install_needs_to_know_where_comfyui_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    result = cli("comfyui", "install")
    assert result.returncode == 2 and "custom_nodes" in result.stderr
    missing = cli("comfyui", "install", str(tmp_path / "nowhere" / "custom_nodes"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
