"""Where the files shipped with the app live: one lookup for the source tree, a wheel and the build.

Resources sit inside the package (`lora_manager_gui/resources/`). `importlib.resources` finds them
beside the package in a source tree and in an installed wheel; in a PyInstaller build the frozen
importer answers with the folder the build unpacked them to (`sys._MEIPASS/lora_manager_gui/...`).
Every caller goes through `resource_path`, so no lookup works in one of these and not the others.
"""
from __future__ import annotations

from functools import cache
from importlib import resources as _resources
from pathlib import Path

from lora_manager_gui.core.errors import LoraManagerError

PACKAGE = "lora_manager_gui"
RESOURCES = "resources"
APP_ICON_PNG = "icons/lora-manager.png"
APP_ICON_ICO = "icons/lora-manager.ico"


class ResourceMissingError(LoraManagerError):
    """A file the app ships with is not where the package says it is (a broken install or build)."""


@cache
def resources_dir() -> Path:
    """The folder holding the shipped resources, as a real directory on disk."""
    root = _resources.files(PACKAGE) / RESOURCES
    if not isinstance(root, Path):  # e.g. a zipped install: the demo library must be a real folder
        raise ResourceMissingError(
            f"the resources of {PACKAGE} are not on disk ({root!r}); install the package unzipped")
    if not root.is_dir():
        raise ResourceMissingError(f"the resources folder {root} is missing: the installation or build is incomplete")
    return root


def resource_path(relative: str) -> Path:
    """The path of a shipped file or folder, e.g. `resource_path("demo/library")`.

    Raises `ResourceMissingError` naming the path when it does not exist."""
    path = resources_dir().joinpath(*relative.split("/"))
    if not path.exists():
        raise ResourceMissingError(f"the resource {relative!r} is missing (looked for {path})")
    return path
