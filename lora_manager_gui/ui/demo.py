"""Where the demo library ships (resources/demo) and where its separate database lives."""
from __future__ import annotations

from pathlib import Path

from lora_manager_gui.core import config
from lora_manager_gui.core.resources import resource_path

DEMO_DB_NAME = "demo-library.sqlite3"


def demo_dir() -> Path:
    return resource_path("demo")


def demo_root() -> Path:
    """The folder the demo library imports (the stacks to drop sit beside it, in demo/stacks)."""
    return demo_dir() / "library"


def demo_db_path() -> Path:
    """The demo library is a database of its own, never mixed into the user's library."""
    return config.data_dir() / DEMO_DB_NAME
