"""LoRA Manager: a desktop manager for large LoRA libraries."""
from __future__ import annotations

APP_NAME = "lora-manager"
APP_DISPLAY_NAME = "LoRA Manager"


def _read_version() -> str:
    """The version is defined once, in pyproject.toml; installed metadata carries it."""
    from importlib import metadata as _metadata  # ~20 ms: not paid by every import worker process

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


_version: str | None = None


def __getattr__(name: str) -> str:
    """`__version__`, read on first use (PEP 562)."""
    global _version
    if name == "__version__":
        if _version is None:
            _version = _read_version()
        return _version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
