"""Values SQLite cannot hold, on real files and a real library: each costs its own group (a
classified problem), never the chunk, the run or the next import."""
from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path

import pytest

from lora_manager_gui.cli import run
from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.db import import_store
from lora_manager_gui.db.models import Adapter, ImportSource, LibraryFile
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import
from tests.conftest import LibraryTree


def imp(db: DatabaseExecutor, root: Path, **kw):
    return asyncio.run(run_import(db, [root], **kw))


# Each case: how it is written, and what becomes of its group. A mapped field that cannot hold the
# value fails the group ("failed"); a JSON token only the standard library reads (NaN, Infinity, a
# lone surrogate) is left out by core/sidecars/validation.py and the rest of the file is stored
# ("imported"). Either way the problem is `invalid_metadata` on that file and nothing else is lost.
BAD_SIDECARS = {
    "id_beyond_64_bits": (lambda t: t.civitai_model("bad/x.json", "Huge id", id=10**30), "failed"),
    "float_overflowing_an_integer": (lambda t: t.civitai_model("bad/x.json", "Lewd", nsfwLevel=1e300), "failed"),
    "nan_weight": (lambda t: t.write("bad/x.json", '{"description": "d", "preferred weight": NaN, "activation text": "a"}'),
                   "imported"),
    "minus_infinity_weight": (lambda t: t.write("bad/x.json", '{"description": "d", "preferred weight": -Infinity}'),
                              "imported"),
    "lone_surrogate": (lambda t: t.write("bad/x.json", '{"description": "\\ud800 alone", "activation text": "a"}'),
                       "imported"),
    "lone_surrogate_in_an_unmapped_key": (lambda t: t.civitai_model("bad/x.json", "Odd", someKey="\udfff"), "imported"),
}


def good_neighbours(t: LibraryTree, count: int = 3) -> None:
    for i in range(count):
        t.civitai_model(f"bad/good{i}.json", f"Good {i}")  # in the same folder, so in the same chunk
        t.model(f"bad/good{i}.safetensors")


@pytest.mark.parametrize("case", sorted(BAD_SIDECARS))
def test_a_value_sqlite_cannot_hold_fails_its_group_only(dbx, lora_tree, case: str) -> None:
    write, fate = BAD_SIDECARS[case]
    write(lora_tree)
    lora_tree.model("bad/x.safetensors")
    good_neighbours(lora_tree)
    report = imp(dbx, lora_tree.root)
    assert report.imported == (3 if fate == "failed" else 4) and not report.cancelled
    assert [(Path(e.path).name, e.kind.value) for e in report.problems] == [("x.json", "invalid_metadata")]
    assert report.problems[0].message  # says which value, in words
    stored = dbx.call_sync(lambda: sorted((a.name, a.weight, a.nsfw_level, a.description) for a in Adapter.select()))
    assert {"Good 0", "Good 1", "Good 2"} <= {s[0] for s in stored}
    assert all(math.isfinite(weight) for _n, weight, _l, _d in stored)
    assert all((d or "").encode("utf-8") is not None for *_x, d in stored)  # no lone surrogate was stored
    status = dbx.call_sync(lambda: {Path(s.key).name: s.status for s in ImportSource.select()})
    assert status == {"x": fate, "good0": "imported", "good1": "imported", "good2": "imported"}
    assert report.outcome().status.value == "done_with_problems"
    # The library is not poisoned: the next import runs, the bad group still reported, unchanged.
    again = imp(dbx, lora_tree.root)
    assert (again.imported, again.unchanged) == (0, 4)
    assert [(Path(e.path).name, e.kind.value) for e in again.problems] == [("x.json", "invalid_metadata")]


def test_the_cli_exits_zero_and_exports_after_such_values(lora_tree, db_path: Path, capsys, tmp_path: Path) -> None:
    for i, case in enumerate(sorted(BAD_SIDECARS)):
        t = LibraryTree(lora_tree.root / f"case{i}")
        BAD_SIDECARS[case][0](t)
        t.model("bad/x.safetensors")
    good_neighbours(lora_tree)
    assert run(["--db", str(db_path), "import", str(lora_tree.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kept = sum(1 for _write, fate in BAD_SIDECARS.values() if fate == "imported")
    # three of the kept A1111 sidecars give the same name ("x"): one adapter, two duplicates
    assert out["imported"] + len(out["duplicates"]) == 3 + kept and out["failed_by_class"] == {"invalid_metadata": len(BAD_SIDECARS)}
    exported = tmp_path / "out.json"
    assert run(["--db", str(db_path), "export", "-o", str(exported)]) == 0
    assert len(json.loads(exported.read_text("utf-8"))) >= 1


@pytest.fixture
def no_sidecar_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar readers' own cleaning (core/sidecars/validation.py) switched off, so that bad
    values reach the database boundary, which must hold on its own."""
    from lora_manager_gui.core.sidecars import base, group

    monkeypatch.setattr(base, "clean_json", lambda value: (value, []))
    monkeypatch.setattr(group, "clean_json", lambda value: (value, []))


@pytest.mark.parametrize("good", [20, 511])
def test_a_row_sqlite_refuses_is_split_from_its_chunk(library_db, monkeypatch: pytest.MonkeyPatch, good: int) -> None:
    """Past every check (as a value no check foresaw would be): the chunk's write fails, is split
    in halves down to the one row, and only that row's group fails (511 neighbours in a chunk of 512 kept)."""
    monkeypatch.setattr(import_store.ADAPTER_GUARD, "rejects", lambda rows: {})
    items = [_item(f"good{i:03d}", 1.0) for i in range(good)]
    items.insert(good // 3, _item("x", float("nan")))  # NaN is stored as NULL: NOT NULL constraint failed
    outcome = import_store.store_import_chunk(items, present=lambda p: True, claims={}, existing={})
    assert outcome.imported == good
    assert [(Path(e.path).name, e.kind.value) for e in outcome.problems] == [("x.json", "invalid_metadata")]
    assert "cannot be stored in the library: 'weight' holds nan" in outcome.problems[0].message  # found after the write failed
    counts = (Adapter.select().count(), ImportSource.select().count(), LibraryFile.select().count())
    assert counts == (good, good + 1, good + 1)  # the failed group keeps its bookkeeping and its model file


def _item(name: str, weight: float):
    from lora_manager_gui.core.records import AdapterRecord, ImportItem, LibraryFile as FileRecord

    path = f"/lib/{name}.safetensors"
    return ImportItem(key=f"/lib/{name}", root="/lib", signature="s", status="imported",
                      record=AdapterRecord(name=name, file_path=path, weight=weight, json_file_path=f"/lib/{name}.json"),
                      model_file=FileRecord(path=path, root="/lib", rel_path=f"{name}.safetensors", size_bytes=1, mtime_ns=1))


def test_claims_of_a_rolled_back_attempt_are_forgotten(library_db, monkeypatch: pytest.MonkeyPatch) -> None:
    """A split chunk's claims are those of what was committed: a good row after the bad one is
    not a duplicate of itself."""
    monkeypatch.setattr(import_store.ADAPTER_GUARD, "rejects", lambda rows: {})
    claims: dict = {}
    outcome = import_store.store_import_chunk([_item("a", 1.0), _item("b", float("nan")), _item("c", 1.0)],
                                              present=lambda p: True, claims=claims, existing={})
    assert (outcome.imported, outcome.duplicates, [p.path for p in outcome.problems]) == (2, [], ["/lib/b.json"])
    assert claims == {("a", ""): "/lib/a.safetensors", ("c", ""): "/lib/c.safetensors"}


def test_undecodable_file_names_are_reported_and_the_rest_imports(dbx, lora_tree, capsys, db_path: Path) -> None:
    if os.name == "nt":
        pytest.skip("Windows file names are UTF-16")
    good_neighbours(lora_tree, 2)
    folder = os.fsencode(lora_tree.root / "bad")
    with open(folder + b"/caf\xe9.safetensors", "wb") as f:  # Latin-1 bytes: not UTF-8
        f.write((lora_tree.root / "bad/good0.safetensors").read_bytes())
    with open(folder + b"/caf\xe9.json", "w", encoding="utf-8") as f:
        f.write(json.dumps({"description": "x", "activation text": "a"}))
    os.makedirs(folder + b"/sub\xff")
    with open(folder + b"/sub\xff/inner.safetensors", "wb") as f:
        f.write((lora_tree.root / "bad/good0.safetensors").read_bytes())
    report = imp(dbx, lora_tree.root)
    assert report.imported == 2
    problems = sorted((e.path, e.kind.value) for e in report.problems)
    bad = str(lora_tree.root / "bad")
    assert problems == [(bad + "/caf\\xe9.json", "unreadable_name"), (bad + "/caf\\xe9.safetensors", "unreadable_name"),
                        (bad + "/sub\\xff", "unreadable_name")]
    assert dbx.call_sync(lambda: LibraryFile.select().count()) == 2
    # The CLI prints the report (the names shown with their bytes escaped) and exits 0.
    assert run(["--db", str(db_path), "import", str(lora_tree.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failed_by_class"] == {"unreadable_name": 3} and out["unchanged"] == 2


def test_a_large_chunk_with_one_bad_row_keeps_its_511_neighbours(dbx, lora_tree, no_sidecar_cleaning) -> None:
    for i in range(511):
        lora_tree.write(f"many/m{i:03d}.json", {"description": f"d{i}", "activation text": f"w{i}"})
        lora_tree.model(f"many/m{i:03d}.safetensors")
    lora_tree.write("many/zz.json", '{"description": "d", "preferred weight": Infinity}')
    lora_tree.model("many/zz.safetensors")
    report = imp(dbx, lora_tree.root, options=ImportOptions(chunk_size=512, parse_processes=0))  # in this process
    assert report.imported == 511 and [Path(e.path).name for e in report.problems] == ["zz.json"]


def test_unmapped_values_orjson_cannot_write_are_stored_as_json_sqlite_reads(dbx, lora_tree, no_sidecar_cleaning) -> None:
    """An integer beyond 64 bits beside a NaN in a key the import keeps in `extra`: the text is
    the standard library's, with NaN as null (as orjson writes it), so json_patch (the next import)
    and json_extract (every view) still read it."""
    from lora_manager_gui.db import browse
    from lora_manager_gui.db.models import database_proxy

    lora_tree.write("a/x.json", '{"description": "d", "activation text": "a", "odd": [NaN, 1' + "0" * 30 + "]}")
    lora_tree.model("a/x.safetensors")
    assert imp(dbx, lora_tree.root).imported == 1
    valid = dbx.call_sync(lambda: database_proxy.execute_sql("SELECT json_valid(extra), extra FROM adapter").fetchone())
    assert valid[0] == 1 and '"odd":[null,1' + "0" * 30 + "]" in valid[1]
    assert dbx.call_sync(browse.count_adapters, browse.BrowseQuery(identified=False)) == 1
    assert imp(dbx, lora_tree.root, force=True).updated == 1  # json_patch of the stored text


def test_a_group_whose_own_problems_hold_a_surrogate_is_stored_failed(library_db) -> None:
    """Even the bookkeeping of a group can hold text SQLite cannot encode (a problem message
    quoting a bad value): that group is stored failed, its messages escaped, beside the others."""
    from lora_manager_gui.core.records import AdapterRecord, ImportItem
    from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
    from lora_manager_gui.db.models import ImportSource as SourceRow

    def item(name: str, message: str) -> ImportItem:
        return ImportItem(key=f"/lib/{name}", root="/lib", signature="s", status="imported",
                          record=AdapterRecord(name=name, json_file_path=f"/lib/{name}.json"),
                          issues=[ItemProblem(f"/lib/{name}.json", ProblemKind.INVALID_METADATA, message)])

    outcome = import_store.store_import_chunk([item("a", "fine"), item("b", "bad \ud800 text"), item("c", "fine")],
                                              present=lambda p: True, claims={}, existing={})
    assert outcome.imported == 2 and [p.path for p in outcome.problems] == ["/lib/b.json"]
    stored = {s.key: (s.status, s.issues) for s in SourceRow.select()}
    assert stored["/lib/b"][0] == "failed" and stored["/lib/b"][1][0]["message"] == "bad \\ud800 text"
    assert stored["/lib/a"][0] == stored["/lib/c"][0] == "imported"
