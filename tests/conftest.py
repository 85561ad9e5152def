"""Shared test set-up: Qt on the offscreen platform, a real SQLite file per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never let a test reach a real CivitAI or a user's real library by accident.
os.environ.pop("CIVITAI_API_KEY", None)
os.environ["CIVITAI_BASE_URL"] = "http://127.0.0.1:9/unreachable-in-tests"
os.environ.pop("LORA_MANAGER_DB", None)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "library.sqlite3"


@pytest.fixture
def library_db(db_path: Path):
    """A freshly created, migrated library database bound to the models."""
    from lora_manager_gui.db.database import close_database, open_database

    db = open_database(db_path)
    yield db
    close_database(db)
