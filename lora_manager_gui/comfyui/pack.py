"""The node-pack folder in ComfyUI's custom_nodes: written, described, removed.

ComfyUI loads every folder of custom_nodes as a module named after the folder, from its
`__init__.py`, and reads NODE_CLASS_MAPPINGS / NODE_DISPLAY_NAME_MAPPINGS from it. The folder we
write holds only that `__init__.py` (importing the installed `lora_manager_gui.comfyui` package)
and a marker file; uninstall removes a folder only when our marker is in it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lora_manager_gui import __version__

PACK_DIR_NAME = "lora_manager_nodes"
MARKER_NAME = ".lora-manager-node-pack.json"
MARKER_KIND = "lora-manager-node-pack"
ENV_COMFYUI_PATH = "COMFYUI_PATH"

INIT_TEXT = '''"""LoRA Manager nodes for ComfyUI (written by `lora-manager comfyui install`; do not edit).

The nodes live in the `lora_manager_gui` package, which must be installed in the Python that runs
ComfyUI (pip install lora-manager-gui). `lora-manager comfyui uninstall` removes this folder.
"""
try:
    from lora_manager_gui.comfyui.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except ImportError as exc:  # pragma: no cover - depends on the ComfyUI environment
    raise ImportError(
        "LoRA Manager nodes: the lora_manager_gui package is not installed in the Python that runs "
        "ComfyUI (" + __import__("sys").executable + "); install it there (pip install lora-manager-gui). "
        "Cause: " + str(exc)
    ) from exc

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
'''


class PackState(StrEnum):
    INSTALLED = "installed"
    NOT_INSTALLED = "not_installed"
    FOREIGN = "foreign"  # a folder of that name that we did not write


class NodePackError(Exception):
    """Installing or removing the node pack failed; says where and why."""


@dataclass(frozen=True)
class PackStatus:
    custom_nodes: Path
    folder: Path
    state: PackState
    version: str | None = None
    python: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"custom_nodes": str(self.custom_nodes), "folder": str(self.folder), "state": str(self.state),
                "version": self.version, "python": self.python}


def default_custom_nodes() -> Path | None:
    """COMFYUI_PATH/custom_nodes when COMFYUI_PATH is set."""
    root = os.environ.get(ENV_COMFYUI_PATH, "").strip()
    return Path(root).expanduser() / "custom_nodes" if root else None


def custom_nodes_dir(value: str | os.PathLike[str] | None) -> Path:
    """The custom_nodes folder given (or COMFYUI_PATH's); a ComfyUI root is accepted too."""
    path = Path(value).expanduser() if value else default_custom_nodes()
    if path is None:
        raise NodePackError("say where ComfyUI's custom_nodes folder is (CUSTOM_NODES_DIR, or set COMFYUI_PATH)")
    if path.name != "custom_nodes" and (path / "custom_nodes").is_dir():
        path = path / "custom_nodes"
    return path.resolve()


def _marker(folder: Path) -> dict[str, str] | None:
    try:
        data = json.loads((folder / MARKER_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == MARKER_KIND else None


def status(custom_nodes: Path) -> PackStatus:
    folder = custom_nodes / PACK_DIR_NAME
    if not folder.exists():
        return PackStatus(custom_nodes, folder, PackState.NOT_INSTALLED)
    marker = _marker(folder)
    if marker is None:
        return PackStatus(custom_nodes, folder, PackState.FOREIGN)
    return PackStatus(custom_nodes, folder, PackState.INSTALLED, marker.get("version"), marker.get("python"))


def install(custom_nodes: Path) -> PackStatus:
    """Write (or refresh) the node-pack folder. Refuses a folder of that name we did not write."""
    if not custom_nodes.is_dir():
        raise NodePackError(f"{custom_nodes}: no such folder (ComfyUI's custom_nodes)")
    current = status(custom_nodes)
    if current.state is PackState.FOREIGN:
        raise NodePackError(f"{current.folder} exists and was not written by LoRA Manager; not touched")
    folder = current.folder
    folder.mkdir(exist_ok=True)
    marker = {"kind": MARKER_KIND, "version": __version__, "python": sys.executable}
    for name, text in (("__init__.py", INIT_TEXT), (MARKER_NAME, json.dumps(marker, indent=2) + "\n")):
        tmp = folder / (name + ".tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, folder / name)
    return status(custom_nodes)


def uninstall(custom_nodes: Path) -> PackStatus:
    """Remove the node-pack folder, only if our marker is in it."""
    current = status(custom_nodes)
    if current.state is PackState.FOREIGN:
        raise NodePackError(f"{current.folder} was not written by LoRA Manager (no marker); not removed")
    if current.state is PackState.INSTALLED:
        folder = current.folder
        shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        for name in ("__init__.py", MARKER_NAME):
            (folder / name).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError as exc:  # something else was put in it: left where it is
            raise NodePackError(f"{folder}: removed our files; the folder holds other files and stays ({exc})") from exc
    return status(custom_nodes)
