"""The Stacks view as a user meets it (issue 16, defect 10): file names as written, LoRAs not in
the library counted apart, every readable format offered, no export of nothing, a calm word for an
image without a stack, human words and accessible names."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import wait_until
from tests.ui.test_stacks_and_drops import FIXTURES, drop, files_mime, table_texts

WAN = "Wan2_1_self_forcing/Wan21_T2V_14B_lightx2v_cfg_step_distill_lora_rank32.safetensors"


def _prompt(*names: str) -> dict:
    return {str(i): {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": n, "strength_model": 1}}
            for i, n in enumerate(names)}


async def _inspect(window, path: Path) -> None:
    window.stacks.document = None
    window.stacks.summary.setText("")
    drop(window, files_mime(path))
    await wait_until(lambda: window.stacks.summary.text() != "" and "reading" not in window.stacks.title.text())
    await window.stacks.wait_idle()


def test_file_names_are_shown_as_written_and_the_name_apart(run, open_window, fixture_library, tmp_path) -> None:
    source = tmp_path / "wan.json"
    source.write_text(json.dumps(_prompt(WAN)))

    async def scenario():
        window = await open_window(fixture_library)
        await _inspect(window, source)
        (row,) = table_texts(window.stacks)
        assert row[1] == WAN  # folders and underscores kept
        assert row[2] == "Wan21 T2V 14B lightx2v cfg step distill lora rank32"  # the display name, apart
        assert window.stacks.table.horizontalHeaderItem(1).text() == "LoRA file"

    run(scenario())


def test_loras_not_in_the_library_are_not_counted_local_only(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        await _inspect(window, FIXTURES / "formats" / "comfy_prompt_api.json")
        summary = window.stacks.summary.text()
        assert "4 not in the library" in summary and "0 found" in summary
        assert "local only" not in summary

    run(scenario())


def test_open_offers_every_format_the_inspector_reads(run, open_window, fixture_library, monkeypatch) -> None:
    offered = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (offered.append(a[3]), ("", ""))[1])

    async def scenario():
        window = await open_window(fixture_library)
        window.stacks.drop_zone.open_button.click()

    run(scenario())
    (filters,) = offered
    first = filters.split(";;")[0]
    for pattern in ("*.json", "*.png", "*.webp", "*.jpg", "*.jpeg", "*.txt"):
        assert pattern in first, (pattern, first)


def test_open_offers_formats_that_really_inspect(run, open_window, fixture_library) -> None:
    """What Open… offers reads: a text file of A1111 parameters shows its LoRAs."""
    async def scenario():
        window = await open_window(fixture_library)
        await window.stacks.inspect_path(FIXTURES / "formats" / "a1111_parameters.txt")
        assert window.stacks.table.rowCount() > 0 and window.stacks.export_button.isEnabled()

    run(scenario())


def test_export_is_disabled_for_a_stack_without_loras(run, open_window, fixture_library, tmp_path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")

    async def scenario():
        window = await open_window(fixture_library)
        await window.stacks.inspect_path(FIXTURES / "formats" / "comfy_prompt_api.json")
        assert window.stacks.export_button.isEnabled()
        await window.stacks.inspect_path(empty)
        assert window.stacks.inspection is not None and not window.stacks.inspection.entries
        assert not window.stacks.export_button.isEnabled()

    run(scenario())


def _stealth_png(path: Path, text: str) -> None:
    """Metadata in the alpha channel's low bits, column by column, as "stealth pnginfo" writes it."""
    from PIL import Image

    payload = text.encode("utf-8")
    bits = "".join(f"{b:08b}" for b in b"stealth_pnginfo") + f"{len(payload) * 8:032b}" + \
        "".join(f"{b:08b}" for b in payload)
    width, height = 64, 64
    assert len(bits) <= width * height
    image = Image.new("RGBA", (width, height), (120, 160, 200, 255))
    pixels = image.load()
    for i, bit in enumerate(bits):
        x, y = divmod(i, height)
        r, g, b, _a = pixels[x, y]
        pixels[x, y] = (r, g, b, 254 | int(bit))
    image.save(path)


def test_an_image_without_a_stack_gets_a_calm_message(run, open_window, fixture_library, tmp_path) -> None:
    from PIL import Image

    stealth = tmp_path / "stealth.png"
    _stealth_png(stealth, json.dumps({"prompt": "a cat <lora:cat:0.8>"}))
    plain = tmp_path / "plain.png"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(plain)

    async def scenario():
        window = await open_window(fixture_library)
        messages = []
        window.stacks.message_posted.connect(messages.append)
        for image in (stealth, plain):
            await window.stacks.inspect_path(image)
            summary = window.stacks.summary.text()
            assert "No LoRA stack found in this image" in summary, summary
            assert "Cannot read" not in summary and "color:" not in summary  # not shown as an error
            assert window.stacks.title.text() == image.name
            assert not window.stacks.export_button.isEnabled()
        assert all("Cannot read" not in m for m in messages)

    run(scenario())


def test_the_view_speaks_human_words_and_names_its_controls(run, open_window, fixture_library) -> None:
    async def scenario():
        window = await open_window(fixture_library)
        stacks = window.stacks
        await stacks.inspect_path(FIXTURES / "formats" / "comfy_prompt_api.json")
        assert "lora_info" not in stacks.lora_info.placeholderText()
        assert "lora_json" not in stacks.export_button.text()
        headers = [stacks.table.horizontalHeaderItem(c).text() for c in range(stacks.table.columnCount())]
        assert all("_" not in h for h in headers)
        for widget in (stacks.drop_zone.open_button, stacks.export_button, stacks.table, stacks.skipped_table,
                       stacks.lora_info, stacks.summary):
            assert widget.accessibleName(), widget

    run(scenario())
