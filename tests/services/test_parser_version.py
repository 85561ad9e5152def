"""The parser set's version is part of the import's stored state: a release that learns a sidecar
format or changes a parser re-reads every folder once, then finds them unchanged again."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lora_manager_gui.core.sidecars import group as group_module
from lora_manager_gui.core.sidecars import registry
from lora_manager_gui.services import import_walk
from lora_manager_gui.services.importer import run_import


def imp(db, root: Path):
    return asyncio.run(run_import(db, [root]))


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    keys: list[str] = []
    original = group_module.parse_group
    monkeypatch.setattr(group_module, "parse_group", lambda *a, **k: keys.append(a[0].key) or original(*a, **k))
    return keys


@pytest.fixture
def skipped(monkeypatch) -> list[dict]:
    seen: list[dict] = []
    original = import_walk.scan_root

    def spy(*args, **kwargs):
        scan = original(*args, **kwargs)
        seen.append(dict(scan.skipped))
        return scan

    monkeypatch.setattr(import_walk, "scan_root", spy)
    return seen


def test_a_new_parser_version_rereads_every_folder_once(dbx, lora_tree, parsed, skipped, monkeypatch) -> None:
    for folder in ("a", "b", "c/d"):
        lora_tree.civitai_model(f"{folder}/m.json", f"Model {folder}")
        lora_tree.model(f"{folder}/m.safetensors")
    lora_tree.write("a/n.cm-info.json", {"ModelName": "SM model", "VersionName": "v1"})
    lora_tree.model("a/n.safetensors")
    first = imp(dbx, lora_tree.root)
    assert first.imported == 4
    parsed.clear()
    again = imp(dbx, lora_tree.root)
    assert again.unchanged == 4 and parsed == [] and len(skipped[-1]) >= 3

    before = registry.parser_set_version()
    monkeypatch.setattr(registry, "PARSER_VERSION", registry.PARSER_VERSION + 1)
    assert registry.parser_set_version() != before
    reread = imp(dbx, lora_tree.root)
    assert skipped[-1] == {}  # no folder fingerprint matches
    assert sorted(parsed) == sorted(str(lora_tree.root / f) + "/" + b for f, b in (("a", "m"), ("a", "n"), ("b", "m"), ("c/d", "m")))
    assert (reread.unchanged, reread.imported, reread.failed) == (0, 0, 0), reread.to_json()

    parsed.clear()
    settled = imp(dbx, lora_tree.root)
    assert parsed == [] and settled.unchanged == 4 and len(skipped[-1]) >= 3


def test_a_new_format_in_the_registry_changes_the_version(monkeypatch) -> None:
    before = registry.parser_set_version()
    extra = registry.SidecarFormat("new_tool", "New tool .new.json", (".new.json",), registry.BY_NAME["a1111"].parser)
    monkeypatch.setattr(registry, "FORMATS", registry.FORMATS + (extra,))
    assert registry.parser_set_version() != before


def test_the_three_orders_come_from_the_registry() -> None:
    from lora_manager_gui.core.sidecars import SIDECAR_SUFFIXES
    from lora_manager_gui.core.sidecars.merge import PRECEDENCE, rank

    assert PRECEDENCE == tuple(f.name for f in registry.FORMATS)
    assert [rank(f.name) for f in registry.FORMATS] == list(range(len(registry.FORMATS)))
    owned = {s for f in registry.FORMATS for s in f.suffixes} | {registry.PLAIN_JSON_SUFFIX}
    assert {s for s, _ in SIDECAR_SUFFIXES} == owned
    assert [len(s) for s, _ in SIDECAR_SUFFIXES] == sorted((len(s) for s, _ in SIDECAR_SUFFIXES), reverse=True)
    # Files that may know the local file's hash are parsed before those that pick a version by it.
    order = registry.PARSE_ORDER
    assert order["lora_manager"] < order["stability_matrix"] < order["json"] < order["civitai_api_info"]
    assert all(registry.display_name(f.name) for f in registry.FORMATS)
