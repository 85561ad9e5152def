"""Which library the window opens: `--db`, else LORA_MANAGER_DB, else the one open when it was last
closed (the demo, another database chosen in the File menu), else the default in the user data dir."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

from lora_manager_gui.core import config

LAST_LIBRARY_KEY = "library/last_path"


def remember(store: QSettings, db_path: Path) -> None:
    store.setValue(LAST_LIBRARY_KEY, str(db_path))


def choose_db_path(cli_value: str | None, store: QSettings) -> Path:
    if cli_value or os.environ.get(config.ENV_DB, "").strip():
        return config.resolve_db_path(cli_value)
    last = str(store.value(LAST_LIBRARY_KEY, "") or "")
    if last and Path(last).is_file():
        return Path(last)
    return config.default_db_path()
