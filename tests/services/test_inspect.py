"""Inspector and exporter on a real library: SQLite file, model files on disk, the real HashService."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from lora_manager_gui.core.records import AdapterRecord, LibraryFile
from lora_manager_gui.core.stacks import StackReadError
from lora_manager_gui.db import adapters, library_files
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.exporter import export_adapters, write_document
from lora_manager_gui.services.inspector import inspect_bytes, inspect_file

hasher_module = pytest.importorskip("lora_manager_gui.services.hasher")
FIXTURES = Path(__file__).parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "lora_json.schema.json").read_text())
TINY = FIXTURES / "formats" / "tiny_test_lora.safetensors"
TINY_SHA = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(document)))


class Library:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "loras"
        self.db = DatabaseExecutor(tmp_path / "library.sqlite3")
        self.hasher = hasher_module.HashService(self.db, workers=2)

    def add_file(self, rel: str, content: bytes | Path, adapter_id: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_bytes(content)
        st = path.stat()
        record = LibraryFile(path=str(path), root=str(self.root), rel_path=rel, size_bytes=st.st_size,
                             mtime_ns=st.st_mtime_ns, adapter_id=adapter_id)
        self.db.call_sync(library_files.upsert_files, [record], link=True)
        return path

    def add_adapter(self, **fields) -> AdapterRecord:
        return self.db.call_sync(adapters.insert_adapter, AdapterRecord(**fields))

    def close(self) -> None:
        self.hasher.close()
        self.db.close()


@pytest.fixture
def library(tmp_path: Path):
    lib = Library(tmp_path)
    yield lib
    lib.close()


def workflow(*nodes) -> bytes:
    return json.dumps({"nodes": [
        {"id": i + 1, "type": t, "mode": 0, "widgets_values": w} for i, (t, w) in enumerate(nodes)
    ], "links": []}).encode()


def test_entries_resolve_by_path_name_and_stay_missing(library: Library, tmp_path: Path) -> None:
    a = library.add_file("WanVideo/Lightx2v/light_x2v.safetensors", b"A" * 1536)
    b = library.add_file("styles/b_style.safetensors", b"B" * 2048)
    data = workflow(
        ("LoraLoader", ["WanVideo\\Lightx2v\\light_x2v.safetensors", 0.8, 1.0]),
        ("Lora Loader (LoraManager)", ["", [{"name": "b_style", "strength": 0.5, "active": True}]]),
        ("LoraLoaderModelOnly", ["gone/never_here.safetensors", 0.3]),
    )
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "drop.json"))
    document = inspection.document
    validate(document)
    first, second, third = document["loras"]
    assert (first["match"], first["file"]["path"], first["file"]["exists"]) == ("path", str(a), True)
    assert first["hash"] == hashlib.sha256(b"A" * 1536).hexdigest().upper()
    assert first["file"]["size_human"] == "1.50 KB"
    assert first["file"]["modified_at"].endswith("Z")
    assert (second["match"], second["file"]["path"], second["strength"]) == ("name", str(b), 0.5)
    assert third["file"] == {"exists": False, "path": "gone/never_here.safetensors", "size_bytes": None,
                             "size_human": None, "modified_at": None}
    assert "hash" not in third
    assert document["summary"]["count"] == 3
    assert document["summary"]["missing_files"] == 1
    assert document["summary"]["total_size_bytes"] == 1536 + 2048
    assert document["summary"]["total_size_human"] == "3.50 KB"
    assert "missing file" in inspection.lora_info.splitlines()[3]


def test_paths_from_metadata_never_leave_the_library(library: Library, tmp_path: Path) -> None:
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(b"do not read me")
    data = workflow(("LoraLoader", [f"..\\..\\{secret.name}", 1, 1]), ("LoraLoader", [str(secret), 1, 1]))
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, data, "evil.json"))
    for block in inspection.document["loras"]:
        assert block["file"]["exists"] is False
        assert "hash" not in block
    assert any("leaves the library" in w for w in inspection.warnings)


def test_a1111_autov3_picks_the_right_file_among_same_named_ones(library: Library) -> None:
    impostor = library.add_file("a/tiny_test_lora.safetensors", b"\x08" + b"\0" * 7 + b"{}      ")
    real = library.add_file("b/tiny_test_lora.safetensors", TINY)
    inspection = asyncio.run(inspect_file(library.db, library.hasher, FIXTURES / "formats" / "a1111_output.png"))
    first = inspection.document["loras"][0]
    assert first["match"] == "autov3"
    assert first["file"]["path"] == str(real) != str(impostor)
    assert first["hash"] == TINY_SHA
    assert inspection.document["loras"][1]["file"]["exists"] is False  # add_detail is not in the library


def test_foreign_absolute_wan_path_and_library_civitai_data(library: Library) -> None:
    adapter = library.add_adapter(
        name="Detailz Wan", version="v2", civitai_model_id=42, civitai_version_id=4242, tags=["detail", "wan"],
        author_username="someone", stats={"downloadCount": 7}, last_ingested_at=datetime(2026, 1, 2, tzinfo=timezone.utc))
    path = library.add_file("wan/detailz-wan-v2.safetensors", b"W" * 100, adapter_id=adapter.id)
    library.db.call_sync(lambda: adapters.Adapter.update(file_path=str(path)).where(
        adapters.Adapter.id == adapter.id).execute())
    inspection = asyncio.run(inspect_file(library.db, library.hasher, FIXTURES / "formats" / "wanvideo_stack.json"))
    document = inspection.document
    validate(document)
    detail = document["loras"][1]
    assert detail["match"] == "path" and detail["file"]["path"] == str(path)
    assert detail["display_name"] == "Detailz Wan"
    assert detail["civitai"]["civitai_name"] == "Detailz Wan"
    assert detail["civitai"]["creator"] == "someone"
    assert detail["civitai"]["fetched_at"] == "2026-01-02T00:00:00Z"
    assert document["summary"]["civitai_matches"] == 1 and document["summary"]["tags"] == ["detail", "wan"]
    assert document["loras"][2]["strength"] == [1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]


def test_empty_stack_and_broken_file(library: Library, tmp_path: Path) -> None:
    inspection = asyncio.run(inspect_bytes(library.db, library.hasher, b"[]", "empty.json", fallback_name="Plain"))
    validate(inspection.document)
    assert inspection.document["combined_display"] == "Plain" and inspection.document["error"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [')
    with pytest.raises(StackReadError) as info:
        asyncio.run(inspect_file(library.db, library.hasher, broken))
    assert info.value.kind == "malformed"


def test_export_adapters_at_preferred_weight_written_atomically(library: Library, tmp_path: Path) -> None:
    first = library.add_adapter(name="Pixel Art", version="v1", weight=0.7, tags=["style"])
    path = library.add_file("styles/pixel.safetensors", TINY, adapter_id=first.id)
    library.db.call_sync(lambda: adapters.Adapter.update(file_path=str(path)).where(
        adapters.Adapter.id == first.id).execute())
    library.add_adapter(name="Offline One", version="v1", weight=1.2, file_path=str(tmp_path / "offline.safetensors"))
    document = asyncio.run(export_adapters(library.db, library.hasher, search="pixel"))
    validate(document)
    assert [(b["display_name"], b["strength"], b["file"]["exists"]) for b in document["loras"]] == [
        ("Pixel Art", 0.7, True)]
    assert document["loras"][0]["hash"] == TINY_SHA
    everything = asyncio.run(export_adapters(library.db, library.hasher))
    assert [b["display_name"] for b in everything["loras"]] == ["Offline One", "Pixel Art"]
    assert everything["summary"]["missing_files"] == 1
    out = write_document(everything, tmp_path / "out" / "stack.json")
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(everything))
    assert sorted(os.listdir(out.parent)) == ["stack.json"]
