""""Copy for ComfyUI" (issue 19): a stack, or selected adapters, on the clipboard as a chain of
LoraLoader nodes in the two forms ComfyUI's canvas pastes (core/comfy_paste.py)."""
from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication

from lora_manager_gui.core.comfy_paste import read_clipboard_html
from tests.ui.conftest import wait_until
from tests.ui.test_stacks_view import WAN, _inspect


def _pasted_nodes() -> tuple[list[tuple[str, list]], dict]:
    mime = QGuiApplication.clipboard().mimeData()
    items = read_clipboard_html(mime.html())
    assert items is not None, mime.html()[:200]
    nodes = [(n["type"], n["widgets_values"]) for n in items["nodes"]]
    return nodes, json.loads(mime.text())


def test_a_stack_is_copied_as_lora_loader_nodes(run, open_window, fixture_library, tmp_path) -> None:
    source = tmp_path / "stack.json"
    source.write_text(json.dumps({
        "1": {"class_type": "LoraLoader", "inputs": {"lora_name": WAN.replace("/", "\\"), "strength_model": 0.7,
                                                      "strength_clip": 0.5, "model": ["9", 0], "clip": ["9", 1]}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "style/ink.safetensors", "strength_model": 1.2,
                                                               "model": ["1", 0]}},
    }))

    async def scenario():
        window = await open_window(fixture_library)
        assert not window.stacks.comfy_button.isEnabled()  # nothing shown yet
        await _inspect(window, source)
        assert window.stacks.comfy_button.isEnabled()
        window.stacks.comfy_button.click()
        nodes, workflow = _pasted_nodes()
        assert [t for t, _ in nodes] == ["LoraLoader", "LoraLoader"]
        assert sorted(tuple(v) for _, v in nodes) == sorted([(WAN, 0.7, 0.5), ("style/ink.safetensors", 1.2, 1.2)])
        assert len(workflow["nodes"]) == 2 and workflow["links"]  # the text form: a whole workflow, chained

    run(scenario())


def test_selected_adapters_are_copied_at_their_preferred_weight(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        view = window.adapters
        await view.wait_idle()
        view.table.selectAll()
        QGuiApplication.clipboard().setText("untouched")
        window.adapter_actions.copy_comfy.trigger()
        await wait_until(lambda: QGuiApplication.clipboard().text() != "untouched")
        nodes, _ = _pasted_nodes()
        names = [v[0] for _, v in nodes]
        assert nodes and all(t == "LoraLoader" for t, _ in nodes)
        assert all(not n.startswith("/") and "\\" not in n and n.endswith(".safetensors") for n in names), names
        assert all(isinstance(v[1], float) for _, v in nodes)

    run(scenario())
