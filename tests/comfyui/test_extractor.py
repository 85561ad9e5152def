"""LoRAInfoExtractor on every stack shape, with a real library shared with the CLI (`hash`,
`import`, `inspect --json`). CivitAI is unreachable here (tests/conftest.py): lookups fail fast
or run out of a zero budget; test_extractor_civitai.py has the CivitAI side."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lora_manager_gui.comfyui.extract import ExtractRequest, extract
from lora_manager_gui.comfyui.runtime import get_runtime
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.db import hash_cache
from tests.comfyui.conftest import ComfyTree, cli_env
from tests.services.test_inspect import validate


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def run_node(node_pack, lora, **kw):
    node = node_pack.NODE_CLASS_MAPPINGS["LoRAInfoExtractor"]()
    kw.setdefault("civitai_budget_s", 0.0)
    lora_json, lora_info = node.extract_blocking(lora, **kw)
    document = json.loads(lora_json)
    validate(document)
    return document, lora_info


def run_extract(lora, **kw):
    runtime = get_runtime()
    kw.setdefault("budget_s", 0.0)
    return runtime.run(extract(runtime, ExtractRequest(lora=lora, **kw)), timeout=120)


@pytest.fixture
def files(comfy: ComfyTree) -> dict[str, Path]:
    return {name: comfy.lora(rel, seed) for seed, (name, rel) in enumerate([
        ("a", "wan/motion_a.safetensors"), ("b", "wan/motion_b.safetensors"),
        ("c", "style_c.safetensors"), ("d", "style_d.safetensors"), ("e", "deep/e/style_e.safetensors")])}


def wan(path: Path, strength: float = 1.0, **extra) -> dict:
    """An entry of WanVideo's WANVIDLORA list, as WanVideoLoraSelect builds it."""
    return {"path": str(path), "strength": strength, "name": path.stem, "blocks": {}, "layer_filter": "",
            "low_mem_load": False, "merge_loras": True, **extra}


def summary_of(document: dict) -> list[tuple[str, bool, str | None]]:
    return [(block["file"]["path"], block["file"]["exists"], block.get("hash")) for block in document["loras"]]


def test_wanvideo_list_and_prev_lora_chain_give_every_lora(node_pack, files) -> None:
    flat = [wan(files["a"], 0.8), wan(files["b"], 0.5)]
    document, info = run_node(node_pack, flat)
    assert summary_of(document) == [(str(files["a"]), True, sha(files["a"])), (str(files["b"]), True, sha(files["b"]))]
    assert [b["strength"] for b in document["loras"]] == [0.8, 0.5]
    # WanVideoLoraSelect chained: each select's output carries the LoRAs before it in prev_lora.
    chained = {**wan(files["c"], 0.3), "prev_lora": {**wan(files["a"], 0.8), "prev_lora": [wan(files["b"], 0.5)]}}
    document, info = run_node(node_pack, chained)
    assert [b["file"]["path"] for b in document["loras"]] == [str(files[k]) for k in "cab"]
    assert info.splitlines()[0].startswith("3 LoRAs")
    assert f"#{sha(files['c'])[:10]}" in info


def test_lora_stack_tuples_resolve_through_comfyui_folder_paths(node_pack, files, comfy: ComfyTree) -> None:
    stack = [("wan/motion_a.safetensors", 0.8, 0.7), ("wan\\motion_b.safetensors", 1.0, 0.9),
             ("style_c", 0.6, 0.6)]  # a backslash name (Windows workflow), a name without extension
    document, _ = run_node(node_pack, stack)
    assert summary_of(document) == [(str(files[k]), True, sha(files[k])) for k in "abc"]
    assert [(b["strength"], b["clip_strength"]) for b in document["loras"]] == [(0.8, 0.7), (1.0, 0.9), (0.6, 0.6)]
    # The document says what the socket carried, beside the file ComfyUI resolved.
    assert document["loras"][0]["original"]["path"] == "wan/motion_a.safetensors"
    assert ("loras", "wan/motion_a.safetensors") in sys.modules["folder_paths"].calls


def test_lora_manager_stacks_and_nested_structures(node_pack, files) -> None:
    lora_manager = [{"name": "style_c", "strength": 0.6, "clipStrength": 0.5, "active": True},
                    {"name": "style_d", "strength": 0.4, "active": False}]  # switched off: not in the stack
    document, _ = run_node(node_pack, lora_manager)
    assert summary_of(document) == [(str(files["c"]), True, sha(files["c"]))]
    nested = {"stack": [{"loras": [wan(files["a"])]},
                        {"children": [{"items": [("style_c.safetensors", 1.0, 1.0)]}]},
                        {"chain": [{"lora_name": "deep/e/style_e.safetensors", "strength": 0.9}]}]}
    document, _ = run_node(node_pack, nested)
    assert [b["file"]["path"] for b in document["loras"]] == [str(files[k]) for k in "ace"]
    assert all(b["file"]["exists"] for b in document["loras"])


def test_a_single_name_path_dict_or_object(node_pack, files) -> None:
    @dataclasses.dataclass
    class WanLora:  # an object of some node pack's own making
        path: str
        strength: float

    for value in ("wan/motion_a.safetensors", str(files["a"]), {"lora_name": "wan/motion_a.safetensors"},
                  WanLora(str(files["a"]), 0.7), SimpleNamespace(lora="wan/motion_a.safetensors", strength=0.7)):
        document, _ = run_node(node_pack, value)
        assert summary_of(document) == [(str(files["a"]), True, sha(files["a"]))], value


def test_duplicates_missing_files_and_empty_stacks(node_pack, files) -> None:
    stack = [wan(files["a"]), wan(files["a"]), ("wan/gone.safetensors", 1.0, 1.0), ("wan/gone.safetensors", 1.0, 1.0)]
    document, info = run_node(node_pack, stack)
    assert [(b["file"]["exists"], "hash" in b) for b in document["loras"]] == [(True, True), (False, False)]
    assert document["summary"]["missing_files"] == 1
    assert info.splitlines()[-1].endswith("no hash — missing file")
    for empty in ([], None, {}, ""):
        document, info = run_node(node_pack, empty, fallback_name="Plain video")
        assert document["combined_display"] == "Plain video" and document["loras"] == []
        assert document["error"] and info.startswith("Plain video: ")


def test_a_file_that_cannot_be_hashed_keeps_its_entry_without_a_hash(node_pack, files, comfy: ComfyTree,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lora_manager_gui.core.errors import UnreadableFileError
    from lora_manager_gui.services import hasher

    broken = comfy.lora("broken.safetensors", 99)
    real = hasher.sha256_file_stat

    def read(path, *args, **kw):  # an I/O error half way through this one file (a failing disk)
        if os.path.samefile(path, broken):
            raise UnreadableFileError(str(path), "cannot read the file: Input/output error")
        return real(path, *args, **kw)

    monkeypatch.setattr(hasher, "sha256_file_stat", read)
    document, info = run_node(node_pack, [("broken.safetensors", 1.0, 1.0), ("style_c.safetensors", 1.0, 1.0)])
    first, second = document["loras"]
    assert first["file"]["exists"] is True and "hash" not in first and "Input/output error" in first["problem"]
    assert second["hash"] == sha(files["c"])
    assert "no hash" in info.splitlines()[1]


def test_bad_input_gives_an_error_document_not_a_crash(node_pack) -> None:
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    document, info = run_node(node_pack, deep, fallback_name="x")
    assert document["loras"] == [] and "nested" in document["error"] and info.startswith("x: ")
    cyclic: dict = {"name": "loop"}
    cyclic["stack"] = [cyclic]
    document, _ = run_node(node_pack, cyclic)  # a cycle is read once, not forever
    assert document["summary"]["count"] == 0


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), *args],
                          capture_output=True, text=True, env=cli_env(), timeout=300)


def test_files_the_app_hashed_are_never_hashed_again_and_the_app_sees_what_the_node_hashed(
        node_pack, files, comfy: ComfyTree) -> None:
    hashed = cli(comfy.db, "hash", str(comfy.loras / "wan"), "--json")
    assert hashed.returncode == 0, hashed.stderr
    assert {row["cached"] for row in json.loads(hashed.stdout)} == {False}
    db = DatabaseExecutor(comfy.db)  # the desktop app, open on the same library at the same time
    try:
        before = {p: db.call_sync(hash_cache.get_any, str(files[p])) for p in "ab"}
        extraction = run_extract([wan(files["a"]), wan(files["b"]), ("style_c.safetensors", 1.0, 1.0)])
        assert extraction.files_hashed == 1  # only style_c, which `hash` had not seen
        after = {p: db.call_sync(hash_cache.get_any, str(files[p])) for p in "ab"}
        assert after == before  # the cache rows were read, not rewritten
        assert [b["hash"] for b in extraction.document["loras"]] == [sha(files[k]) for k in "abc"]
        again = run_extract([wan(files["a"]), wan(files["b"]), ("style_c.safetensors", 1.0, 1.0)])
        assert again.files_hashed == 0
        learned = db.call_sync(hash_cache.get_any, str(files["c"]))
        assert learned is not None and learned.sha256 == sha(files["c"])
    finally:
        db.close()
    rehash = cli(comfy.db, "hash", str(files["c"]), "--json")
    assert json.loads(rehash.stdout)[0]["cached"] is True


def test_outside_comfyui_the_document_is_the_one_inspect_gives(outside_comfy: Path, tmp_path: Path) -> None:
    from lora_manager_gui.core.safetensors import write_safetensors

    root = tmp_path / "library"
    for seed, rel in enumerate(["wan/motion_a.safetensors", "style_c.safetensors"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_safetensors(root / rel, {"lora_up.weight": bytes([seed + 1]) * 64})
    assert cli(outside_comfy, "import", str(root)).returncode == 0
    stack = [{"path": "wan/motion_a.safetensors", "strength": 0.8, "name": "motion_a"},
             ("style_c.safetensors", 0.5, 0.4), ("absent.safetensors", 1.0, 1.0)]
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps(stack))
    inspected = cli(outside_comfy, "inspect", str(stack_file), "--json")
    assert inspected.returncode == 0, inspected.stderr
    extraction = run_extract(stack)
    assert extraction.document == json.loads(inspected.stdout)
    assert [b["file"]["exists"] for b in extraction.document["loras"]] == [True, True, False]


def test_is_changed_follows_the_files(node_pack, files) -> None:
    node_class = node_pack.NODE_CLASS_MAPPINGS["LoRAInfoExtractor"]
    stack = [("wan/motion_a.safetensors", 1.0, 1.0)]
    node_class().extract_blocking(stack, civitai_budget_s=0.0, unique_id="7")
    first = node_class.IS_CHANGED(stack, unique_id="7")
    assert node_class.IS_CHANGED(stack, unique_id="7") == first
    # ComfyUI hands IS_CHANGED a linked input as None: the files of the last run count.
    linked = node_class.IS_CHANGED(None, unique_id="7")
    assert node_class.IS_CHANGED(None, unique_id="7") == linked
    st = files["a"].stat()
    os.utime(files["a"], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert node_class.IS_CHANGED(stack, unique_id="7") != first
    assert node_class.IS_CHANGED(None, unique_id="7") != linked


def test_a_library_named_by_a_workflow_is_never_created(node_pack, files, tmp_path: Path) -> None:
    elsewhere = tmp_path / "someone" / "else" / "library.sqlite3"
    document, info = run_node(node_pack, [("style_c.safetensors", 1.0, 1.0)], library=str(elsewhere),
                              fallback_name="x")
    assert "cannot be opened" in document["error"] and document["loras"] == []
    assert not elsewhere.parent.exists()
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database")
    document, _ = run_node(node_pack, [("style_c.safetensors", 1.0, 1.0)], library=str(not_sqlite))
    assert "cannot be opened" in document["error"] and not_sqlite.read_text() == "not a database"
    report = node_pack.NODE_CLASS_MAPPINGS["LoRACacheDiagnostics"]().diagnose_blocking(library=str(elsewhere))
    assert "cannot be read" in report["result"][0] and not elsewhere.parent.exists()


def test_diagnostics_count_the_shared_cache(node_pack, files, comfy: ComfyTree) -> None:
    run_node(node_pack, [("style_c.safetensors", 1.0, 1.0), ("style_d.safetensors", 1.0, 1.0)])
    st = files["d"].stat()
    os.utime(files["d"], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # changed since it was hashed
    report = node_pack.NODE_CLASS_MAPPINGS["LoRACacheDiagnostics"]().diagnose_blocking()
    text, data = report["result"]
    data = json.loads(data)
    assert data["library"] == str(comfy.db.resolve())
    assert (data["entries"], data["stale_entries"], data["bytes_covered"]) == (2, 1, files["c"].stat().st_size)
    assert set(data["civitai_answers"]) == {"found", "not_found", "failed", "deferred"}
    assert "2 entries, 1 stale" in text and report["ui"]["text"] == [text]
