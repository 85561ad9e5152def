"""Every subcommand that touches the library runs over one `Library`, built from the environment
(CIVITAI_BASE_URL / CIVITAI_API_KEY win, as for tests), and closes it in order when it ends."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lora_manager_gui import cli
from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.services.library import Library

KEY = "cli-library-key-55a9d0"


@pytest.fixture
def opened(monkeypatch) -> list[Library]:
    """Every Library the commands open, kept to look at after they end."""
    libraries: list[Library] = []
    real_open = Library.open.__func__  # type: ignore[attr-defined]

    async def recording_open(cls, *args, **kwargs):
        library = await real_open(cls, *args, **kwargs)
        libraries.append(library)
        return library

    monkeypatch.setattr(Library, "open", classmethod(recording_open))
    return libraries


def test_each_command_opens_one_library_and_closes_it(tmp_path: Path, opened, monkeypatch, fake_civitai,
                                                       capsys) -> None:
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)
    monkeypatch.setenv("CIVITAI_API_KEY", KEY)
    db = tmp_path / "lib.sqlite3"
    root = tmp_path / "loras"
    root.mkdir()
    model = write_safetensors(root / "one.safetensors", {"w": b"\x01" * 32}, {"ss_output_name": "one"})
    sha = hashlib.sha256(model.read_bytes()).hexdigest().upper()
    fake_civitai.catalogue.add_synthetic(sha, version_id=501, model_id=502)
    stack = tmp_path / "stack.json"
    stack.write_text("[]")
    commands = [
        ["import", str(root), "--json"],
        ["orphans", str(root), "--json"],
        ["hash", str(model), "--json", "--workers", "2"],
        ["cache", "stats", "--json"],
        ["identify", "--json"],
        ["inspect", str(stack), "--json", "--online"],
        ["export", "-o", str(tmp_path / "out.json")],
    ]
    for argv in commands:
        before = len(opened)
        assert cli.run(["--db", str(db), *argv]) == 0, (argv, capsys.readouterr().err)
        assert len(opened) == before + 1, argv
        library = opened[-1]
        assert library.db_path == db
        assert library.closed and library.db.db.is_closed() and library.pool._pool._shutdown, argv
    capsys.readouterr()
    hashing, identifying = opened[2], opened[4]
    assert hashing.settings.hash_workers == 2 and identifying.settings.hash_workers is None
    assert identifying.settings.civitai.base_url == fake_civitai.base_url
    [models] = fake_civitai.requests_to("/models")
    assert models.headers.get("Authorization") == f"Bearer {KEY}"


def test_cache_clear_reports_through_the_library(tmp_path: Path, opened, capsys) -> None:
    db = tmp_path / "lib.sqlite3"
    model = write_safetensors(tmp_path / "m.safetensors", {"w": b"\x02" * 16})
    assert cli.run(["--db", str(db), "hash", str(model), "--json"]) == 0
    capsys.readouterr()
    assert cli.run(["--db", str(db), "cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": 1}
    assert all(library.closed for library in opened) and len(opened) == 2
