"""ComfyUI node tests: a real library file, real LoRA files under a `models/loras` folder, ComfyUI's
`folder_paths` stood in for by a module that resolves names there, and the node pack installed into
a custom_nodes folder and loaded the way ComfyUI loads custom nodes."""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from lora_manager_gui.comfyui import pack
from lora_manager_gui.comfyui.runtime import reset_runtime
from lora_manager_gui.core.safetensors import write_safetensors


class ComfyTree:
    """A ComfyUI folder: models/loras with real safetensors files, custom_nodes, a library file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loras = root / "models" / "loras"
        self.custom_nodes = root / "custom_nodes"
        self.db = root / "library.sqlite3"
        self.loras.mkdir(parents=True)
        self.custom_nodes.mkdir()

    def lora(self, rel: str, seed: int, size: int = 64) -> Path:
        path = self.loras / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_safetensors(path, {"lora_up.weight": seed.to_bytes(4, "little") * (size // 4)})

    def folder_paths(self) -> types.ModuleType:
        """What ComfyUI's folder_paths.get_full_path("loras", name) does: the file under a loras folder."""
        module = types.ModuleType("folder_paths")
        loras = self.loras.resolve()
        module.calls = []  # type: ignore[attr-defined]

        def get_full_path(folder_name: str, filename: str) -> str | None:
            module.calls.append((folder_name, filename))  # type: ignore[attr-defined]
            if folder_name != "loras":
                return None
            relative = os.path.relpath(os.path.join("/", filename), "/")  # ComfyUI drops ".." this way
            candidate = os.path.join(str(loras), relative)
            return candidate if os.path.isfile(candidate) else None

        module.get_full_path = get_full_path  # type: ignore[attr-defined]
        return module


def load_custom_node(module_path: Path) -> types.ModuleType:
    """As ComfyUI's nodes.load_custom_node: the folder's name is the module name, its __init__.py
    is executed from a spec made by path, the module is put in sys.modules first."""
    module_name = module_path.name
    spec = importlib.util.spec_from_file_location(module_name, module_path / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ComfyTree:
    """A ComfyUI tree, its folder_paths importable, LORA_MANAGER_DB pointing at its library."""
    tree = ComfyTree(tmp_path / "ComfyUI")
    monkeypatch.setitem(sys.modules, "folder_paths", tree.folder_paths())
    monkeypatch.setenv("LORA_MANAGER_DB", str(tree.db))
    yield tree
    reset_runtime()


@pytest.fixture
def outside_comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No folder_paths module: the node resolves through the library, as `inspect` does."""
    monkeypatch.delitem(sys.modules, "folder_paths", raising=False)
    db = tmp_path / "library.sqlite3"
    monkeypatch.setenv("LORA_MANAGER_DB", str(db))
    yield db
    reset_runtime()


@pytest.fixture
def node_pack(comfy: ComfyTree, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The node pack written by `install`, loaded like ComfyUI loads a custom-node folder."""
    status = pack.install(comfy.custom_nodes)
    monkeypatch.syspath_prepend(str(comfy.custom_nodes))
    module = load_custom_node(status.folder)
    yield module
    sys.modules.pop(status.folder.name, None)


def cli_env(**extra: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(extra)
    return env
