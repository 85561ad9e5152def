"""A real library for the file operation and user data tests: files on disk, imported, hashed."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.importer import run_import
from tests.conftest import LibraryTree


def add_lora(tree: LibraryTree, rel_stem: str, *, name: str | None = None, payload: bytes | None = None,
             previews: bool = True, a1111: bool = True, model_id: int | None = None, version_id: int | None = None) -> Path:
    """A model file with a Lora Manager sidecar, an A1111 json, a CivitAI info and a preview."""
    name = name or Path(rel_stem).name
    model = tree.model(rel_stem + ".safetensors", payload=payload or rel_stem.encode()[:64].ljust(16, b"\x00"))
    tree.write(rel_stem + ".metadata.json", {
        "file_name": Path(rel_stem).name, "file_path": str(model).replace(os.sep, "/"), "model_name": name, "base_model": "SDXL 1.0", "tags": ["style"],
        "notes": "", "usage_tips": "{\"strength_min\": 0.5}", "favorite": False, "custom_key": {"kept": True},
        "civitai": {"id": version_id or abs(hash(rel_stem)) % 10**7, "modelId": model_id or abs(hash(name)) % 10**6,
                    "name": "v1", "baseModel": "SDXL 1.0", "model": {"name": name, "type": "LORA"},
                    "creator": {"username": "maker"}, "trainedWords": ["civitai word"]},
    })
    if a1111:
        tree.write(rel_stem + ".json", {"description": "d", "sd version": "SDXL", "unknown a1111 key": 3})
    if previews:
        tree.write(rel_stem + ".preview.png", b"\x89PNG fake preview " + rel_stem.encode())
    return model


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (trash folders included) with its bytes."""
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            p = Path(folder) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


async def import_and_hash(db: DatabaseExecutor, pool: WorkPool, roots: list[str], *, force: bool = False) -> None:
    await run_import(db, roots, force=force, pool=pool)
    hasher = HashService(db, workers=2, rotational=lambda dev: False)
    try:
        paths = await db.call(lambda: [r[0] for r in __import__("lora_manager_gui.db.models", fromlist=["x"])
                                       .database_proxy.execute_sql("SELECT path FROM library_file WHERE missing = 0")])
        await hasher.hash_paths(paths)
    finally:
        hasher.close()


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def mtimes(root: Path) -> dict[str, int]:
    return {str(Path(folder, f).relative_to(root)): os.stat(Path(folder, f)).st_mtime_ns
            for folder, _, files in os.walk(root) for f in files}
