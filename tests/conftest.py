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


@pytest.fixture(autouse=True)
def no_kept_import_workers():
    """Each test starts without the worker processes an earlier test's import kept (a test may
    count or replace the pools an import starts)."""
    from lora_manager_gui.services.import_workers import stop_kept_workers

    stop_kept_workers()
    yield
    stop_kept_workers()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "library.sqlite3"


@pytest.fixture
def dbx(db_path: Path):
    """The database executor (one thread, one connection) on a fresh library file."""
    from lora_manager_gui.services.executors import DatabaseExecutor

    executor = DatabaseExecutor(db_path)
    yield executor
    executor.close()


@pytest.fixture
def library_db(db_path: Path):
    """A freshly created, migrated library database bound to the models."""
    from lora_manager_gui.db.database import close_database, open_database

    db = open_database(db_path)
    yield db
    close_database(db)


class LibraryTree:
    """Builds a real library folder for import tests: valid safetensors, sidecars, broken files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def model(self, rel: str, payload: bytes = b"\x01\x02\x03\x04", metadata: dict | None = None) -> Path:
        from lora_manager_gui.core.safetensors import write_safetensors

        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_safetensors(path, {"lora_up.weight": payload}, metadata)

    def write(self, rel: str, content: str | bytes | dict | list) -> Path:
        import json

        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            content = json.dumps(content, indent=2)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path

    def fixture(self, name: str, rel: str) -> Path:
        return self.write(rel, (FIXTURES / name).read_bytes())

    def civitai_model(self, rel: str, name: str, version: str = "v1.0", file_name: str | None = None, **top: object) -> Path:
        """A minimal valid CivitAI model JSON naming `file_name` as its primary file."""
        data = {
            "id": abs(hash(name)) % 1_000_000,
            "name": name,
            "description": f"<p>{name}</p>",
            "tags": ["style"],
            "creator": {"username": "tester"},
            "nsfwLevel": 1,
            "modelVersions": [
                {
                    "id": abs(hash((name, version))) % 10_000_000,
                    "name": version,
                    "baseModel": "SDXL 1.0",
                    "publishedAt": "2025-01-01T00:00:00.000Z",
                    "trainedWords": ["trigger one, trigger two", "trigger one"],
                    "files": [{"name": file_name or Path(rel).stem + ".safetensors", "sizeKB": 1.0, "primary": True,
                               "hashes": {"SHA256": "AB" * 32}, "downloadUrl": "https://example.invalid/dl"}],
                }
            ],
        }
        data.update(top)
        return self.write(rel, data)


@pytest.fixture
def lora_tree(tmp_path: Path) -> LibraryTree:
    return LibraryTree(tmp_path / "library")


@pytest.fixture
def fake_civitai():
    """A fake CivitAI on 127.0.0.1 (tests/civitai_server.py), started and stopped around the test."""
    from tests.civitai_server import FakeCivitai

    server = FakeCivitai().start()
    yield server
    server.stop()


@pytest.fixture
def two_civitai_servers():
    """Two fake CivitAI hosts, for tests of a changed base URL."""
    from tests.civitai_server import FakeCivitai

    first, second = FakeCivitai().start(), FakeCivitai().start()
    yield first, second
    first.stop()
    second.stop()
