"""The inspection is typed: views read its entries; the lora_json document is built only on request,
and its lora_info text is the same whether made from the entries or from the document."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lora_manager_gui.core.lora_json import build_document, lora_info_for, lora_info_text
from lora_manager_gui.services.inspector import inspect_bytes
from tests.core.test_stack_subgraphs import _switched
from tests.services.test_inspect import Library, workflow


def test_document_is_built_on_request_and_lora_info_agrees(tmp_path: Path) -> None:
    library = Library(tmp_path)
    try:
        library.add_file("styles/b_style.safetensors", b"B" * 2048)
        data = workflow(("LoraLoader", ["styles\\b_style.safetensors", 0.8, 1.0]),
                        ("LoraLoaderModelOnly", ["missing_one.safetensors", 0.5]))
        inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "wf.json"))
        assert "document" not in inspection.__dict__  # not built yet
        assert inspection.summary.count == 2 and inspection.summary.missing_files == 1
        text = inspection.lora_info
        assert text == lora_info_text(build_document(inspection.entries))
        assert inspection.document["summary"]["count"] == 2
        assert lora_info_for([], "Empty") == lora_info_text(build_document([], fallback_name="Empty"))
    finally:
        library.close()


def test_skipped_loras_reach_the_inspection(tmp_path: Path) -> None:
    library = Library(tmp_path)
    try:
        inspection = asyncio.run(inspect_bytes(library.db, library.hasher, json.dumps(_switched(True)).encode(),
                                               "switched.json"))
        assert [item.entry.stem for item in inspection.entries] == ["when_true"]
        assert [(s.entry.stem, s.reason_text) for s in inspection.skipped] == [("when_false", "switched off by node #4")]
        assert all(block["display_name"] != "when false" for block in inspection.document["loras"])
    finally:
        library.close()


def test_an_ambiguous_reference_is_noted_once_not_per_entry(tmp_path: Path) -> None:
    library = Library(tmp_path)
    try:
        library.add_file("a/dup.safetensors", b"A" * 100)
        library.add_file("b/dup.safetensors", b"B" * 100)
        data = workflow(*[("LoraLoaderModelOnly", ["dup.safetensors", 0.1 * i]) for i in range(1, 6)])
        inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "wf.json"))
        assert len(inspection.entries) == 5
        notes = [w for w in inspection.warnings if "library files match" in w]
        assert len(notes) == 1 and notes[0].startswith("entry 1 (dup.safetensors): 2 library files match")
    finally:
        library.close()
