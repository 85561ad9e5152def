"""Where the files shipped with the app live: one lookup for the source tree, a wheel and the build.

The resources sit at the top of the repository (`resources/`, beside `lora_manager_gui/`). A wheel
installs them as the package `lora_manager_gui.resources` (pyproject's package-dir maps it to the
top-level folder) and the desktop build unpacks them to the same place beside its package
(`_internal/lora_manager_gui/resources`, see build.spec), so the lookup tries, in order:

1. `<package>/resources`: an installed wheel, the PyInstaller build;
2. `<package>/../resources`: a source tree, and `pip install -e .` (whose package is that tree).

A candidate counts only if it holds the app icon (MARKER), so a `resources` folder of something
else beside an installed package is never taken. Every caller goes through `resource_path`.
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
MARKER = APP_ICON_PNG  # a folder is the app's resources only if it holds this


class ResourceMissingError(LoraManagerError):
    """A file the app ships with is not where the package says it is (a broken install or build)."""


def _package_dir() -> Path:
    root = _resources.files(PACKAGE)
    if not isinstance(root, Path):  # e.g. a zipped install: the demo library must be a real folder
        raise ResourceMissingError(f"{PACKAGE} is not installed on disk ({root!r}); install the package unzipped")
    return root


def resource_candidates(package_dir: Path | None = None) -> list[Path]:
    """Where the resources may be, in the order they are looked for (see the module docstring)."""
    package = package_dir or _package_dir()
    return [package / RESOURCES, package.parent / RESOURCES]


@cache
def resources_dir() -> Path:
    """The folder holding the shipped resources, as a real directory on disk."""
    candidates = resource_candidates()
    for candidate in candidates:
        if candidate.joinpath(*MARKER.split("/")).is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ResourceMissingError(f"the resources folder is missing (looked in {looked}): the installation or build is incomplete")


def resource_path(relative: str) -> Path:
    """The path of a shipped file or folder, e.g. `resource_path("demo/library")`.

    Raises `ResourceMissingError` naming the path when it does not exist."""
    path = resources_dir().joinpath(*relative.split("/"))
    if not path.exists():
        raise ResourceMissingError(f"the resource {relative!r} is missing (looked for {path})")
    return path
