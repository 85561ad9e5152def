"""The integrity scan on real files: whole, truncated, padded, pages, empty, size and hash mismatches."""
from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import
from lora_manager_gui.services.library import Library, LibrarySettings
from lora_manager_gui.services.verify import Finding, verify


def _lib(tmp: Path) -> Library:
    return Library(DatabaseExecutor(tmp / "lib.sqlite3"), LibrarySettings())


def _run(tmp: Path, roots, *, deep=False, import_first=False):
    async def main():
        library = _lib(tmp)
        try:
            if import_first:
                await run_import(library.db, roots, pool=library.pool)
            return await verify(library, [str(r) for r in roots], deep=deep)
        finally:
            await library.aclose()
    return asyncio.run(main())


def test_each_kind_of_broken_file_is_found_and_whole_ones_are_not(tmp_path: Path) -> None:
    root = tmp_path / "loras"
    root.mkdir()
    good = write_safetensors(root / "good.safetensors", {"w": b"\x01" * 5000})
    whole = good.read_bytes()
    (root / "truncated.safetensors").write_bytes(whole[:-1000])
    (root / "padded.safetensors").write_bytes(whole + b"\0" * 10)
    (root / "page.safetensors").write_bytes(b"<!DOCTYPE html><html><title>Maintenance</title></html>")
    (root / "error.ckpt").write_bytes(b'{"error":"Unauthorized"}')
    (root / "empty.safetensors").write_bytes(b"")
    (root / "garbage.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00abcdefgh")
    (root / "sub").mkdir()
    (root / "sub" / "fine.pt").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    report = _run(tmp_path, [root])
    found = {Path(f.path).name: f.finding for f in report.findings}
    assert found == {
        "truncated.safetensors": Finding.TRUNCATED, "padded.safetensors": Finding.TRAILING_DATA,
        "page.safetensors": Finding.NOT_A_MODEL, "error.ckpt": Finding.NOT_A_MODEL,
        "empty.safetensors": Finding.EMPTY, "garbage.safetensors": Finding.BAD_HEADER,
    }
    assert report.files == 8
    data = report.to_json()
    assert data["counts"]["truncated"] == 1 and "download it again" in data["findings"][0]["advice"]
    assert report.problems[0].kind.value == "invalid_model_file"


def test_size_differing_from_civitai_and_deep_sha256_and_edited_header(tmp_path: Path) -> None:
    root = tmp_path / "loras"
    root.mkdir()
    tensors = b"\x07" * 4000
    tensor_sha = hashlib.sha256(tensors).hexdigest()
    ok = write_safetensors(root / "ok.safetensors", {"w": tensors}, {"sshs_model_hash": tensor_sha})
    edited = write_safetensors(root / "edited.safetensors", {"w": tensors}, {"sshs_model_hash": "ab" * 32})
    resized = write_safetensors(root / "resized.safetensors", {"w": tensors})
    wrong_sha = write_safetensors(root / "wrong_sha.safetensors", {"w": tensors + b"x"})

    def sidecar(model: Path, size: int, sha: str) -> None:
        (root / (model.stem + ".civitai.info")).write_text(json.dumps({
            "id": abs(hash(model.name)) % 10**6, "modelId": 9, "name": model.stem, "model": {"name": model.stem, "type": "LORA"},
            "files": [{"name": model.name, "sizeKB": size / 1024, "primary": True, "hashes": {"SHA256": sha}}]}))

    for model in (ok, edited, wrong_sha):
        sidecar(model, model.stat().st_size, hashlib.sha256(model.read_bytes()).hexdigest().upper()
                if model is not wrong_sha else "CD" * 32)
    sidecar(resized, resized.stat().st_size + 512, hashlib.sha256(resized.read_bytes()).hexdigest().upper())
    quick = _run(tmp_path, [root], import_first=True)
    assert {Path(f.path).name: f.finding for f in quick.findings} == {"resized.safetensors": Finding.SIZE_MISMATCH}
    deep = _run(tmp_path, [root], deep=True)
    assert {Path(f.path).name: f.finding for f in deep.findings} == {
        "resized.safetensors": Finding.SIZE_MISMATCH, "wrong_sha.safetensors": Finding.SHA256_MISMATCH,
        "edited.safetensors": Finding.HEADER_EDITED,
    }
    again = _run(tmp_path, [root], deep=True)  # through the hash cache now
    assert [f.finding for f in again.findings] == [f.finding for f in deep.findings]
