"""`Copy for ComfyUI`: a stack as LoraLoader nodes in the shapes ComfyUI's frontend takes on paste
(src/composables/usePaste.ts, useCopy.ts of Comfy-Org/ComfyUI_frontend) and as a workflow file."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

from lora_manager_gui.core.comfy_paste import LoraRow, paste_payload, read_clipboard_html
from tests.comfyui.conftest import cli_env

# The fragment the newest frontend accepts (useCopy.ts, clipboardHtmlPattern), and the older test
# (usePaste.ts: /data-metadata="([A-Za-z0-9+/=]+)"/ anywhere in text/html).
STRICT = re.compile(
    r"^(?:<meta charset='utf-8'>|<html>\r?\n<body>\r?\n<!--StartFragment-->)?<meta charset=\"utf-8\"><div><span "
    r"data-(?:comfy-)?metadata=\"([A-Za-z0-9+/=]+)\"></span></div><span style=\"white-space:pre-wrap;\">Text</span>"
    r"(?:<!--EndFragment-->\r?\n</body>\r?\n</html>)?$")
LOOSE = re.compile(r'data-metadata="([A-Za-z0-9+/=]+)"')

ROWS = [LoraRow("wan/motion_a.safetensors", 0.8, 0.7), LoraRow("style_ü.safetensors", 1.0, 1.0),
        ("deep\\e.safetensors", 0.5, 0.25)]


def check_items(items: dict) -> None:
    """What the frontend's zClipboardItems demands, and what _deserializeItems dereferences."""
    assert isinstance(items["nodes"], list) and items["nodes"]
    ids = {node["id"] for node in items["nodes"]}
    for node in items["nodes"]:
        assert isinstance(node["type"], str) and len(node["pos"]) >= 2
    for link in items["links"]:
        assert isinstance(link["id"], int) and link["origin_id"] in ids and link["target_id"] in ids


def test_the_clipboard_fragment_is_what_the_frontend_pastes_as_nodes() -> None:
    payload = paste_payload(ROWS)
    for pattern in (STRICT, LOOSE):
        match = pattern.search(payload.html)
        assert match, pattern.pattern
        items = json.loads(base64.b64decode(match.group(1)).decode("utf-8"))  # atob + TextDecoder
        assert items == payload.items
    check_items(payload.items)
    assert read_clipboard_html(payload.html) == payload.items
    nodes = payload.items["nodes"]
    assert [n["type"] for n in nodes] == ["LoraLoader"] * 3
    assert [n["widgets_values"] for n in nodes] == [["wan/motion_a.safetensors", 0.8, 0.7],
                                                   ["style_ü.safetensors", 1.0, 1.0], ["deep\\e.safetensors", 0.5, 0.25]]
    # A chain: MODEL and CLIP of each loader feed the next; the first loader's inputs are left open.
    links = {(lk["origin_id"], lk["origin_slot"], lk["target_id"], lk["target_slot"]) for lk in payload.items["links"]}
    assert links == {(1, 0, 2, 0), (1, 1, 2, 1), (2, 0, 3, 0), (2, 1, 3, 1)}
    assert nodes[0]["inputs"][0]["link"] is None and nodes[1]["inputs"][1]["link"] is not None


def test_the_plain_text_and_the_file_are_a_workflow_the_frontend_loads() -> None:
    payload = paste_payload(ROWS)
    workflow = json.loads(payload.text)
    assert workflow == payload.workflow
    # usePaste.ts isWorkflow(): version (number or string), nodes (array), extra (an object).
    assert isinstance(workflow["version"], (int, float)) and isinstance(workflow["nodes"], list)
    assert isinstance(workflow["extra"], dict)
    ids = {n["id"] for n in workflow["nodes"]}
    assert workflow["last_node_id"] == max(ids) and workflow["last_link_id"] == len(workflow["links"])
    for link_id, origin, _, target, _, kind in workflow["links"]:
        assert origin in ids and target in ids and kind in ("MODEL", "CLIP")
        assert any(link_id in out["links"] for n in workflow["nodes"] if n["id"] == origin for out in n["outputs"])


def test_an_empty_stack_gives_no_nodes() -> None:
    payload = paste_payload([LoraRow("  ", 1.0, 1.0)])
    assert payload.items["nodes"] == [] and payload.workflow["nodes"] == []


def test_copy_stack_from_a_stack_file(tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps([{"path": "wan/motion_a.safetensors", "strength": 0.8, "clip_strength": 0.6},
                                 ["style_c.safetensors", 0.5, 0.4],
                                 {"path": "/home/someone/ComfyUI/models/loras/far.safetensors", "strength": [0.2, 0.4]}]))
    out, html = tmp_path / "workflow.json", tmp_path / "clip.html"
    result = subprocess.run([sys.executable, "-m", "lora_manager_gui", "comfyui", "copy-stack", str(stack),
                             "--out", str(out), "--html", str(html), "--json"],
                            capture_output=True, text=True, env=cli_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert STRICT.search(printed["html"]) and html.read_text("utf-8") == printed["html"]
    workflow = json.loads(out.read_text("utf-8"))
    assert [n["widgets_values"] for n in workflow["nodes"]] == [
        ["wan/motion_a.safetensors", 0.8, 0.6], ["style_c.safetensors", 0.5, 0.4], ["far.safetensors", 0.2, 0.2]]
    bad = subprocess.run([sys.executable, "-m", "lora_manager_gui", "comfyui", "copy-stack", str(tmp_path / "none.json")],
                         capture_output=True, text=True, env=cli_env(), timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr
