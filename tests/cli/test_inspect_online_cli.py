"""`inspect --online` for real: the CLI builds its CivitaiClient from CIVITAI_BASE_URL and asks the
fake CivitAI on 127.0.0.1 about library files it has no answer for; without --online, nothing."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from lora_manager_gui import cli
from lora_manager_gui.core.records import LibraryFile
from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.db import library_files
from lora_manager_gui.services.executors import DatabaseExecutor

SCHEMA = json.loads((Path(__file__).parent.parent / "fixtures" / "lora_json.schema.json").read_text())


@pytest.fixture
def setup(tmp_path: Path, fake_civitai, monkeypatch):
    """A library with one model file CivitAI knows (the library does not yet), a stack naming it."""
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)
    (tmp_path / "loras" / "wan").mkdir(parents=True)
    model = write_safetensors(tmp_path / "loras" / "wan" / "motion.safetensors", {"w": b"\x07" * 64})
    sha = hashlib.sha256(model.read_bytes()).hexdigest().upper()
    fake_civitai.catalogue.add_synthetic(sha, version_id=8801, model_id=8800, name="Motion Boost")
    db_file = tmp_path / "library.sqlite3"
    db = DatabaseExecutor(db_file)
    try:
        st = model.stat()
        db.call_sync(library_files.upsert_files, [LibraryFile(
            path=str(model), root=str(tmp_path / "loras"), rel_path="wan/motion.safetensors",
            size_bytes=st.st_size, mtime_ns=st.st_mtime_ns)], link=False)
    finally:
        db.close()
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps([{"path": "wan\\motion.safetensors", "strength": 0.9}]))
    return db_file, stack, sha


def run_json(capsys, *args: str) -> tuple[int, dict, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_online_fills_the_civitai_block(setup, fake_civitai, capsys) -> None:
    db_file, stack, sha = setup
    code, document, _ = run_json(capsys, "--db", str(db_file), "inspect", str(stack), "--online", "--json")
    assert code == 0
    jsonschema.validate(document, SCHEMA)
    block = document["loras"][0]
    assert block["hash"] == sha
    assert block["civitai"]["civitai_name"] == "Motion Boost"
    assert block["civitai"]["creator"] == "creator8800"
    assert block["display_name"] == "Motion Boost"
    assert fake_civitai.requests_to("by-hash")
    # Stored in the library: an offline run now shows it and asks nothing.
    asked = len(fake_civitai.requests)
    code, offline, _ = run_json(capsys, "--db", str(db_file), "inspect", str(stack), "--json")
    assert code == 0 and offline["loras"][0]["civitai"]["civitai_name"] == "Motion Boost"
    assert len(fake_civitai.requests) == asked


def test_offline_by_default_makes_no_request(setup, fake_civitai, capsys) -> None:
    db_file, stack, sha = setup
    code, document, _ = run_json(capsys, "--db", str(db_file), "inspect", str(stack), "--json")
    assert code == 0
    assert document["loras"][0]["hash"] == sha
    assert document["loras"][0]["civitai"] is None
    assert fake_civitai.requests == []


def test_server_error_still_succeeds_with_a_warning(setup, fake_civitai, capsys) -> None:
    db_file, stack, _ = setup
    fake_civitai.add_fault("by-hash", "500", times=None)
    code, document, err = run_json(capsys, "--db", str(db_file), "inspect", str(stack), "--online", "--json")
    assert code == 0
    jsonschema.validate(document, SCHEMA)
    assert document["loras"][0]["civitai"] is None
    assert "motion.safetensors failed" in err and "note:" in err
    assert len(fake_civitai.requests_to("by-hash")) == 3  # the first try and two retries, no more
