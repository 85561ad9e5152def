"""Where things live and which environment variables override settings."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir, user_log_dir

from lora_manager_gui import APP_NAME

ENV_DB = "LORA_MANAGER_DB"
ENV_CIVITAI_BASE_URL = "CIVITAI_BASE_URL"
ENV_CIVITAI_API_KEY = "CIVITAI_API_KEY"
DEFAULT_CIVITAI_BASE_URL = "https://civitai.com/api/v1"
DB_FILE_NAME = "library.sqlite3"


def data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(user_log_dir(APP_NAME, appauthor=False))


def default_db_path() -> Path:
    """The library database: LORA_MANAGER_DB if set, else the user data directory."""
    env = os.environ.get(ENV_DB, "").strip()
    if env:
        return Path(env).expanduser()
    return data_dir() / DB_FILE_NAME


def resolve_db_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """`--db PATH` wins over LORA_MANAGER_DB, which wins over the default."""
    if cli_value:
        return Path(cli_value).expanduser()
    return default_db_path()


def civitai_base_url(setting: str | None = None) -> str:
    env = os.environ.get(ENV_CIVITAI_BASE_URL, "").strip()
    value = env or (setting or "").strip() or DEFAULT_CIVITAI_BASE_URL
    return value.rstrip("/")


def civitai_api_key(setting: str | None = None) -> str | None:
    env = os.environ.get(ENV_CIVITAI_API_KEY, "").strip()
    value = env or (setting or "").strip()
    return value or None
