"""Shared set-up of the download tests: a fake CivitAI with downloadable versions, a Library on it."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.library import CivitaiSettings, Library, LibrarySettings


def model_bytes(tmp: Path, size: int, seed: int = 1, metadata: dict | None = None) -> bytes:
    """A valid safetensors file of about `size` bytes."""
    payload = (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]
    path = write_safetensors(tmp / f"src{seed}.safetensors", {"lora_up.weight": payload}, metadata)
    data = path.read_bytes()
    path.unlink()
    return data


def publish(server, content: bytes, *, version_id: int = 501, model_id: int = 77, name: str = "cool_style.safetensors",
            base_model: str = "SDXL 1.0", size_bytes: int | None = None, sha256: str | None = None, **kw):
    """A version on the fake CivitAI whose primary file is `content` (size and SHA-256 listed as given)."""
    sha = sha256 or hashlib.sha256(content).hexdigest().upper()
    version = server.catalogue.add_synthetic(sha, version_id=version_id, model_id=model_id, name=f"Model {model_id}",
                                             image_url=f"{server.origin}/images/preview.png")
    version["baseModel"] = base_model
    f = version["files"][0]
    f.update(name=name, sizeKB=(size_bytes if size_bytes is not None else len(content)) / 1024,
             id=version_id * 10, downloadUrl=f"https://civitai.com/api/download/models/{version_id}")
    server.add_download(version_id, content, name=name, **kw)
    return version


def open_library(tmp: Path, server, *, api_key: str | None = None) -> Library:
    settings = LibrarySettings(CivitaiSettings(server.base_url, api_key))
    return Library(DatabaseExecutor(tmp / "lib.sqlite3"), settings)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
