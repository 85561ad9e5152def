"""The manage commands end to end on a real library: import, edit, list, organize (dry run and
real), undo --list, undo, redo, duplicates, collection, backup and restore."""
from __future__ import annotations

import json
from pathlib import Path

from lora_manager_gui.cli import run
from tests.conftest import LibraryTree
from tests.services.manage_helpers import add_lora, snapshot


def _json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = run(argv + ["--json"])
    return code, json.loads(capsys.readouterr().out)


def test_manage_commands(tmp_path: Path, lora_tree: LibraryTree, capsys) -> None:
    db = ["--db", str(tmp_path / "lib.sqlite3")]
    add_lora(lora_tree, "in/one")
    add_lora(lora_tree, "two")
    assert run(db + ["import", str(lora_tree.root)]) == 0
    capsys.readouterr()
    code, listed = _json(capsys, db + ["list", "--search", "one"])
    assert code == 0 and listed["total"] == 1 and listed["adapters"][0]["name"] == "one"
    code, edited = _json(capsys, db + ["edit", "one", "--rating", "5", "--notes", "hi", "--weight", "0.8"])
    assert code == 0 and edited["edited"][0]["rating"] == 5 and len(edited["sidecars_written"]) == 2
    code, listed = _json(capsys, db + ["list", "--search", "one"])
    assert listed["adapters"][0]["user"]["rating"] == 5 and listed["adapters"][0]["user"]["preferred_weight"] == 0.8
    code, coll = _json(capsys, db + ["collection", "add", "best", "one", "two"])
    assert coll == {"added": 2}
    before = snapshot(lora_tree.root)
    code, preview = _json(capsys, db + ["organize", "--template", "{creator}/{name}", "--dry-run"])
    assert preview["dry_run"] and preview["models"] == 2 and snapshot(lora_tree.root) == before
    code, done = _json(capsys, db + ["organize", "--template", "{creator}/{name}"])
    assert code == 0 and (lora_tree.root / "maker/one.safetensors").is_file()
    code, log = _json(capsys, db + ["undo", "--list"])
    assert log["operations"][0]["state"] == "done"
    code, _ = _json(capsys, db + ["undo"])
    assert snapshot(lora_tree.root) == before
    code, _ = _json(capsys, db + ["redo"])
    assert (lora_tree.root / "maker/one.safetensors").is_file()
    code, dups = _json(capsys, db + ["duplicates"])
    assert dups["groups"] == 0  # nothing hashed yet, nothing claimed
    out = tmp_path / "backup.json"
    code, b = _json(capsys, db + ["backup", str(out)])
    assert b["adapters"] == 1 and b["collections"] == 1
    code, r = _json(capsys, db + ["restore", str(out)])
    assert r["restored"] == 1
    assert run(db + ["edit", "nobody"]) == 2
    assert run(db + ["organize", "--template", "{nope}"]) == 2
