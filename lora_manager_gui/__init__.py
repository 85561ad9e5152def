"""LoRA Manager: a desktop manager for large LoRA libraries."""
from __future__ import annotations

from importlib import metadata as _metadata

APP_NAME = "lora-manager"
APP_DISPLAY_NAME = "LoRA Manager"


def _read_version() -> str:
    """The version is defined once, in pyproject.toml; installed metadata carries it."""
    try:
        return _metadata.version("lora-manager-gui")
    except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
        from pathlib import Path
        import re

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text("utf-8"), re.M)
        except OSError:
            match = None
        return match.group(1) if match else "0+unknown"


__version__ = _read_version()
