"""Folder fingerprints: a re-import skips unchanged, self-contained folders whole (no entries, no
groups, no signatures) and still reports exactly what a full comparison reports; anything that
makes a folder depend on more than its own files keeps it walked in full."""
from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest

from lora_manager_gui.core import discovery
from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.core.sidecars import group as group_module
from lora_manager_gui.db import adapters, library_files
from lora_manager_gui.db.models import ImportFolder, ImportSource
from lora_manager_gui.services import import_walk
from lora_manager_gui.core.tasks import Stage
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import


@pytest.fixture
def scans(monkeypatch):
    """Every RootScan the importer's walks return, in order."""
    seen: list[discovery.RootScan] = []
    original = import_walk.scan_root

    def spy(*args, **kwargs):
        scan = original(*args, **kwargs)
        seen.append(scan)
        return scan

    monkeypatch.setattr(import_walk, "scan_root", spy)
    return seen


@pytest.fixture
def parsed(monkeypatch):
    """Keys of the sidecar groups parsed (in this process: these imports are too small for workers)."""
    keys: list[str] = []
    original = group_module.parse_group
    monkeypatch.setattr(group_module, "parse_group", lambda *a, **k: keys.append(a[0].key) or original(*a, **k))
    return keys


def imp(db: DatabaseExecutor, *roots: Path, **kw):
    return asyncio.run(run_import(db, list(roots), **kw))


def summary(report) -> dict:
    """What a user reads in a report, in a comparable form."""
    data = report.to_json()
    data.pop("duration_s", None)
    data.pop("time_per_file_ms", None)
    data["errors"] = sorted((e["path"], e["class"], e["message"]) for e in data["errors"])
    data["orphans"] = sorted(data["orphans"])
    return data


def build_mixed(t) -> None:
    """One folder per situation the report distinguishes."""
    t.civitai_model("good/a.json", "Good A")
    t.model("good/a.safetensors")
    t.civitai_model("good/b.json", "Good B")
    t.model("good/b.safetensors")
    t.write("broken/bad.json", "{ not json")
    t.model("broken/bad.safetensors")
    t.write("broken/trunc.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{")  # truncated header
    t.model("orphans/plain.safetensors")
    t.write("orphans/old.pt", b"\x80\x02not really a pickle")
    t.write("lookup/seen.civitai.info", {})
    t.model("lookup/seen.safetensors")
    t.write("lookup/workflow.json", {"nodes": []})
    t.civitai_model("nomodel/gone.json", "No Model")  # metadata whose model file is missing
    t.civitai_model("cross/top.json", "Cross", file_name="deep/top.safetensors")  # names a model in a subfolder
    t.model("cross/deep/top.safetensors")


def test_unchanged_folders_are_skipped_and_the_report_is_the_full_comparisons(dbx, lora_tree, scans) -> None:
    build_mixed(lora_tree)
    first = imp(dbx, lora_tree.root)
    assert first.imported == 3 and first.failed >= 2
    again = imp(dbx, lora_tree.root)
    walked = scans[-1]
    root = str(lora_tree.root)
    # Only the folder whose metadata names a model elsewhere is entered; every other folder is skipped.
    assert set(walked.skipped) == {root} | {os.path.join(root, f) for f in ("good", "broken", "orphans", "lookup", "nomodel", "cross/deep")}
    assert [Path(p).name for p in walked.models] == [] and [g.base for g in walked.groups] == ["top"]
    assert again.unchanged == 7  # every group: good/a, good/b, broken/bad, lookup/seen, lookup/workflow, nomodel/gone, cross/top
    # The same run without fingerprints: a comparison of every file against its stored signature.
    dbx.call_sync(lambda: ImportFolder.delete().execute())
    full = imp(dbx, lora_tree.root)
    assert scans[-1].skipped == {}
    assert summary(again) == summary(full)
    assert summary(again)["orphans"] == sorted(
        str(lora_tree.root / p) for p in ("lookup/seen.safetensors", "orphans/old.pt", "orphans/plain.safetensors")
    )
    assert {e[1] for e in summary(again)["errors"]} == {"invalid_json", "invalid_model_file", "missing_model_file"}


def test_a_change_reparses_only_its_own_group(dbx, lora_tree, scans, parsed) -> None:
    for folder in ("x", "y", "z"):
        lora_tree.civitai_model(f"{folder}/m.json", f"Model {folder}")
        lora_tree.model(f"{folder}/m.safetensors")
    imp(dbx, lora_tree.root)
    parsed.clear()
    lora_tree.civitai_model("y/m.json", "Model y", description="<p>a longer description now</p>")
    report = imp(dbx, lora_tree.root)
    assert (report.updated, report.unchanged, report.imported) == (1, 2, 0)
    assert parsed == [str(lora_tree.root / "y") + "/m"]
    assert set(scans[-1].skipped) == {str(lora_tree.root), str(lora_tree.root / "x"), str(lora_tree.root / "z")}
    assert dbx.call_sync(adapters.find_by_name, "Model y").description == "<p>a longer description now</p>"
    # The changed folder has its new fingerprint: the next run skips everything.
    imp(dbx, lora_tree.root)
    assert len(scans[-1].skipped) == 4 and scans[-1].groups == []


def test_a_changed_model_file_in_another_folder_is_seen(dbx, lora_tree, scans) -> None:
    lora_tree.civitai_model("top.json", "Cross", file_name="deep/top.safetensors")
    lora_tree.model("deep/top.safetensors")
    imp(dbx, lora_tree.root)
    assert imp(dbx, lora_tree.root).unchanged == 1
    assert str(lora_tree.root) not in scans[-1].skipped  # its group depends on deep/
    lora_tree.model("deep/top.safetensors", payload=bytes(64))  # a new file, another size
    report = imp(dbx, lora_tree.root)
    assert (report.updated, report.unchanged) == (1, 0)
    stored = dbx.call_sync(library_files.get_by_path, lora_tree.root / "deep/top.safetensors")
    assert stored.size_bytes == (lora_tree.root / "deep/top.safetensors").stat().st_size


def test_a_missing_model_that_appears_in_another_folder_is_linked(dbx, lora_tree) -> None:
    lora_tree.civitai_model("top.json", "Waiting", file_name="deep/top.safetensors")
    lora_tree.model("deep/other.safetensors")
    first = imp(dbx, lora_tree.root)
    assert first.failed_by_class == {"missing_model_file": 1}
    imp(dbx, lora_tree.root)  # deep/ is skipped from now on; the root folder is not
    lora_tree.model("deep/top.safetensors")
    report = imp(dbx, lora_tree.root)
    assert report.imported == 1 and report.failed == 0
    assert dbx.call_sync(adapters.find_by_name, "Waiting").file_path == str(lora_tree.root / "deep/top.safetensors")
    assert str(lora_tree.root / "deep/other.safetensors") in report.orphans


def test_new_metadata_may_claim_a_model_in_a_skipped_folder(dbx, lora_tree, scans) -> None:
    lora_tree.model("b/x.safetensors")
    assert imp(dbx, lora_tree.root).orphans == [str(lora_tree.root / "b/x.safetensors")]
    assert imp(dbx, lora_tree.root).orphans == [str(lora_tree.root / "b/x.safetensors")]
    lora_tree.civitai_model("new.json", "Claimer", file_name="b/x.safetensors")
    report = imp(dbx, lora_tree.root)
    assert str(lora_tree.root / "b") in scans[-1].skipped  # b/ itself did not change
    assert report.imported == 1 and report.orphans == []
    assert dbx.call_sync(adapters.find_by_name, "Claimer").file_path == str(lora_tree.root / "b/x.safetensors")
    again = imp(dbx, lora_tree.root)
    assert again.orphans == [] and again.unchanged == 1


def test_a_duplicate_of_a_file_in_a_skipped_folder_is_reported_not_merged(dbx, lora_tree, scans) -> None:
    lora_tree.civitai_model("one/a.json", "Same", description="first")
    lora_tree.model("one/a.safetensors")
    imp(dbx, lora_tree.root)
    lora_tree.civitai_model("two/b.json", "Same", description="second", file_name="b.safetensors")
    lora_tree.model("two/b.safetensors")
    report = imp(dbx, lora_tree.root)
    assert str(lora_tree.root / "one") in scans[-1].skipped
    assert report.imported == 0 and len(report.duplicates) == 1
    assert report.duplicates[0].kept_path == str(lora_tree.root / "one/a.safetensors")
    same = dbx.call_sync(adapters.find_by_name, "Same")
    assert same.description == "first" and same.file_path == str(lora_tree.root / "one/a.safetensors")


def test_a_gone_folder_is_flagged_and_forgets_its_fingerprint(dbx, lora_tree) -> None:
    lora_tree.civitai_model("keep/k.json", "Keep")
    lora_tree.model("keep/k.safetensors")
    lora_tree.civitai_model("drop/d.json", "Drop")
    lora_tree.model("drop/d.safetensors")
    imp(dbx, lora_tree.root)
    imp(dbx, lora_tree.root)
    shutil.rmtree(lora_tree.root / "drop")
    report = imp(dbx, lora_tree.root)
    assert report.missing == [str(lora_tree.root / "drop/d.safetensors")] and report.unchanged == 1
    assert dbx.call_sync(library_files.get_by_path, lora_tree.root / "drop/d.safetensors").missing
    folders = dbx.call_sync(lambda: sorted(f.path for f in ImportFolder.select()))
    assert str(lora_tree.root / "drop") not in folders and str(lora_tree.root / "keep") in folders
    sources = dbx.call_sync(lambda: [s.key for s in ImportSource.select()])
    assert sources == [str(lora_tree.root / "keep") + "/k"]


def test_other_options_or_force_never_use_old_fingerprints(dbx, lora_tree, scans) -> None:
    lora_tree.civitai_model("a/m.json", "M")
    lora_tree.model("a/m.safetensors")
    imp(dbx, lora_tree.root)
    imp(dbx, lora_tree.root)
    assert scans[-1].skipped
    imp(dbx, lora_tree.root, options=ImportOptions(max_model_bytes=10))
    assert scans[-1].skipped == {}
    imp(dbx, lora_tree.root, force=True)
    assert scans[-1].skipped == {}


def test_folders_with_links_are_always_walked(dbx, lora_tree, tmp_path: Path, scans) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    lora_tree.model("plain/p.safetensors")
    lora_tree.model("linked/own.safetensors")
    real = lora_tree.model("../elsewhere/real.safetensors")
    os.symlink(real, lora_tree.root / "linked/link.safetensors")
    first = imp(dbx, lora_tree.root)
    again = imp(dbx, lora_tree.root)
    assert str(lora_tree.root / "plain") in scans[-1].skipped
    assert str(lora_tree.root / "linked") not in scans[-1].skipped
    assert summary(again)["orphans"] == summary(first)["orphans"] and len(again.orphans) == 3
    assert again.external == first.external == [str(lora_tree.root / "linked/link.safetensors")]


def test_a_cancelled_run_stores_no_fingerprints(dbx, lora_tree) -> None:
    for i in range(6):
        lora_tree.civitai_model(f"f{i}/m.json", f"M{i}")
        lora_tree.model(f"f{i}/m.safetensors")
    cancel = threading.Event()

    def progress(p) -> None:
        if p.stage is Stage.STORE and p.done:
            cancel.set()

    report = imp(dbx, lora_tree.root, options=ImportOptions(chunk_size=2), cancel=cancel, progress=progress)
    assert report.cancelled and 0 < report.imported < 6
    assert dbx.call_sync(lambda: ImportFolder.select().count()) == 0
    done = imp(dbx, lora_tree.root)
    assert done.imported + report.imported == 6
    assert dbx.call_sync(lambda: ImportFolder.select().count()) == 7  # the root and its six folders


def test_a_group_still_missing_its_model_is_not_parsed_again(dbx, lora_tree, parsed) -> None:
    lora_tree.civitai_model("a/waiting.json", "Waiting")  # names a/waiting.safetensors, which is not there
    lora_tree.model("a/other.safetensors")
    first = imp(dbx, lora_tree.root)
    assert first.failed_by_class == {"missing_model_file": 1} and len(parsed) == 1
    dbx.call_sync(lambda: ImportFolder.delete().execute())  # compare group by group, not by folder
    again = imp(dbx, lora_tree.root)
    assert len(parsed) == 1 and again.unchanged == 1  # its signature still says the model is absent
    assert again.failed_by_class == {"missing_model_file": 1}  # and the stored error is reported again
    lora_tree.model("a/waiting.safetensors")
    dbx.call_sync(lambda: ImportFolder.delete().execute())
    found = imp(dbx, lora_tree.root)
    assert len(parsed) == 2 and found.imported == 1 and found.failed == 0
