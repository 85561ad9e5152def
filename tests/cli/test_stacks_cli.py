"""`inspect` and `export` run for real: a library file made by the test, stack files on disk."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from lora_manager_gui import cli
from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.db import adapters, library_files
from lora_manager_gui.services.executors import DatabaseExecutor

FIXTURES = Path(__file__).parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "lora_json.schema.json").read_text())
TINY = FIXTURES / "formats" / "tiny_test_lora.safetensors"
TINY_SHA = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library with tiny_test_lora.safetensors under loras/sd/ and an adapter for it."""
    db_file = tmp_path / "library.sqlite3"
    model = tmp_path / "loras" / "sd" / "tiny_test_lora.safetensors"
    model.parent.mkdir(parents=True)
    model.write_bytes(TINY.read_bytes())
    st = model.stat()
    db = DatabaseExecutor(db_file)
    try:
        adapter = db.call_sync(adapters.insert_adapter, AdapterRecord(
            name="Tiny Test", version="v1", weight=0.65, file_path=str(model), tags=["test"]))
        db.call_sync(library_files.upsert_files, [LibraryFile(
            path=str(model), root=str(model.parent.parent), rel_path="sd/tiny_test_lora.safetensors",
            size_bytes=st.st_size, mtime_ns=st.st_mtime_ns, adapter_id=adapter.id)], link=True)
    finally:
        db.close()
    return db_file


def test_inspect_prints_lora_info_and_exports(library: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "exported.json"
    code = cli.run(["--db", str(library), "inspect", str(FIXTURES / "formats" / "a1111_parameters.txt"),
                    "--export", str(out)])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0
    assert printed[0].startswith("2 LoRAs · 1.08 KB")
    assert printed[1] == "• Tiny Test — strength 0.80 — #4802E5DDCA — 1.08 KB"
    assert printed[2].endswith("missing file")
    document = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA)
    assert document["loras"][0]["hash"] == TINY_SHA
    assert document["loras"][0]["match"] == "autov3"


def test_inspect_json_prints_the_document(library: Path, tmp_path: Path, capsys) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text("[]")
    code = cli.run(["--db", str(library), "inspect", str(stack), "--json", "--fallback-name", "Nothing"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    jsonschema.validate(document, SCHEMA)
    assert document["combined_display"] == "Nothing" and document["error"]


@pytest.mark.parametrize("content, words", [
    (b'{"nodes": [', "not valid JSON"),
    (FIXTURES.joinpath("formats", "civitai_info.json").read_bytes(), "not a workflow, prompt or LoRA stack"),
    (b"\x89PNG\r\n\x1a\n", "truncated"),
])
def test_inspect_refuses_broken_or_foreign_files(library: Path, tmp_path: Path, capsys, content, words) -> None:
    bad = tmp_path / "bad.input"
    bad.write_bytes(content)
    code = cli.run(["--db", str(library), "inspect", str(bad)])
    err = capsys.readouterr().err
    assert code != 0
    assert str(bad) in err and words in err


def test_export_from_the_library(library: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "library_stack.json"
    code = cli.run(["--db", str(library), "export", "--search", "tiny", "-o", str(out)])
    assert code == 0
    assert "wrote 1 LoRA" in capsys.readouterr().out
    document = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA)
    assert [(b["display_name"], b["strength"], b["hash"]) for b in document["loras"]] == [
        ("Tiny Test", 0.65, TINY_SHA)]


def test_subprocess_exit_code_for_a_missing_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lora_manager_gui", "--db", str(tmp_path / "l.sqlite3"), "inspect",
         str(tmp_path / "nope.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nope.json" in proc.stderr and "no such file" in proc.stderr
