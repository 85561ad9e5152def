"""The import service on real folders and a real SQLite file: formats, error classes, change
detection, duplicates, missing files, cancellation and a failure in the middle of a run."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.core.records import ERROR_CLASSES
from lora_manager_gui.core.tasks import Stage
from lora_manager_gui.core.sidecars import group as group_module
from lora_manager_gui.db import adapters, library_files
from lora_manager_gui.db.models import Adapter, ImportSource, LibraryFile
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.importer import (
    AdapterExistsError,
    ImportRunError,
    import_orphan_from_header,
    run_import,
)


def imp(db: DatabaseExecutor, *roots: Path, **kw):
    return asyncio.run(run_import(db, list(roots), **kw))


def rows(db: DatabaseExecutor, query):
    return db.call_sync(lambda: list(query()))


def test_each_format_is_imported_and_merged(dbx, lora_tree) -> None:
    t = lora_tree
    t.fixture("civitai/model.json", "sdxl/inkwashStyleXL_v10.json")
    t.model("sdxl/inkwashStyleXL_v10.safetensors")
    t.fixture("formats/civitai_info.json", "sdxl/pixel.civitai.info")
    t.fixture("formats/a1111_user_metadata.json", "sdxl/pixel.json")
    t.model("sdxl/pixel.safetensors")
    t.fixture("formats/lora_manager_metadata.json", "wan/detailz-wan-v2.metadata.json")
    t.model("wan/detailz-wan-v2.safetensors")
    t.fixture("formats/civitai_model_api.json", "api/pixel-art-xl.api_info.json")
    t.model("api/pixel-art-xl.safetensors")
    t.write("sm/thing.cm-info.json", {"ModelName": "Thing", "VersionName": "v9", "BaseModel": "Pony"})
    t.model("sm/thing.safetensors")
    report = imp(dbx, t.root)
    assert (report.imported, report.updated, report.failed, report.unchanged) == (5, 0, 0, 0), report.errors
    ink = dbx.call_sync(adapters.find_by_name, "Inkwash Style XL")
    assert ink.version == "v1.0"  # the version whose file is beside the JSON, not the first
    assert ink.file_path == str(t.root / "sdxl/inkwashStyleXL_v10.safetensors")
    assert ink.triggers == ["inkwash"] and ink.base_model == "SDXL 1.0" and ink.civitai_version_id == 1187990
    assert ink.sources == ["civitai_model"] and "allowCommercialUse" in ink.extra
    pixel = dbx.call_sync(adapters.find_by_file_path, t.root / "sdxl/pixel.safetensors")
    assert pixel.sources == ["civitai_info", "a1111"]
    assert (pixel.name, pixel.activation_text, pixel.sd_version, pixel.weight) == ("Pixel Art XL", "pixel art, 16-bit", "SDXL", 0.8)
    lm = dbx.call_sync(adapters.find_by_sha256, "199ba7db5b56d2eb9e6f087d138447a1ed749e997df0a71b75d393d196687fc0")
    assert lm is not None and lm.name == "DetailZ - Wan 2.1 Detail Enhancer"
    api = dbx.call_sync(adapters.find_by_file_path, t.root / "api/pixel-art-xl.safetensors")
    assert api.version == "v1.0" and api.sources == ["civitai_api_info"]  # pixel-art-xl.safetensors is v1.0's file
    sm = dbx.call_sync(adapters.find_by_name, "thing")
    assert (sm.version, sm.base_model) == ("v9", "Pony")
    assert report.field_coverage()["base_model"] == 1.0
    assert report.orphans == []


def test_model_file_found_by_the_primary_name_in_the_json(dbx, lora_tree) -> None:
    lora_tree.civitai_model("a/info.api_info.json", "Named", file_name="real_name.safetensors")
    lora_tree.model("a/real_name.safetensors")
    report = imp(dbx, lora_tree.root)
    assert report.imported == 1 and report.orphans == []
    assert dbx.call_sync(adapters.find_by_name, "Named").file_path.endswith("real_name.safetensors")


def test_every_error_class_is_reported_and_the_rest_imports(dbx, lora_tree, tmp_path: Path) -> None:
    t = lora_tree
    t.civitai_model("ok/good.json", "Good")
    t.model("ok/good.safetensors")
    t.write("bad/broken.json", '{"name": "x", "modelVersions": [')  # invalid_json
    t.model("bad/broken.safetensors")
    t.write("bad/deep.civitai.info", "[" * 100_000 + "]" * 100_000)  # invalid_json (RecursionError)
    t.model("bad/deep.safetensors")
    t.write("bad/types.json", {"name": "T", "tags": "x", "modelVersions": [{"name": "v"}]})  # invalid_metadata
    t.model("bad/types.safetensors")
    t.civitai_model("bad/lonely.api_info.json", "Lonely")  # missing_model_file
    outside = tmp_path / "outside.safetensors"
    shutil.copy(t.model("tmp/x.safetensors"), outside)
    shutil.rmtree(t.root / "tmp")
    t.civitai_model("bad/escape.api_info.json", "Escape", file_name="../../outside.safetensors")  # unsafe_path
    t.civitai_model("bad/trunc.json", "Trunc")
    t.write("bad/trunc.safetensors", t.model("x/full.safetensors").read_bytes()[:-2])  # invalid_model_file
    shutil.rmtree(t.root / "x")
    t.civitai_model("bad/empty.json", "Empty")
    t.write("bad/empty.safetensors", b"")  # invalid_model_file
    os.symlink(t.root / "nowhere.civitai.info", t.root / "bad/dangling.civitai.info")  # unreadable
    os.mkfifo(t.root / "bad/fifo.metadata.json")  # unreadable, and never opened (it would block)
    report = imp(dbx, t.root)
    by_path = {Path(e.path).name: e.kind.value for e in report.errors}
    assert by_path == {
        "broken.json": "invalid_json",
        "deep.civitai.info": "invalid_json",
        "types.json": "invalid_metadata",
        "lonely.api_info.json": "missing_model_file",
        "escape.api_info.json": "unsafe_path",
        "trunc.safetensors": "invalid_model_file",
        "empty.safetensors": "invalid_model_file",
        "dangling.civitai.info": "unreadable",
        "fifo.metadata.json": "unreadable",
    }
    assert set(report.failed_by_class) <= set(ERROR_CLASSES)
    assert report.imported == 1 and report.failed == 9
    names = rows(dbx, lambda: Adapter.select(Adapter.name).tuples())
    assert names == [("Good",)]  # nothing half-written for the broken ones
    assert "tags" in next(e.message for e in report.errors if e.path.endswith("types.json"))
    # The broken model file is recorded as such, not offered as an orphan.
    trunc = dbx.call_sync(library_files.get_by_path, t.root / "bad/trunc.safetensors")
    assert trunc.problem == "invalid_model_file"
    assert str(t.root / "bad/trunc.safetensors") not in [f.path for f in dbx.call_sync(library_files.list_orphans)]


def test_unchanged_sidecars_are_not_parsed_again(dbx, lora_tree, monkeypatch) -> None:
    for i in range(5):
        lora_tree.civitai_model(f"m/l{i}.json", f"L{i}")
        lora_tree.model(f"m/l{i}.safetensors")
    first = imp(dbx, lora_tree.root)
    assert first.imported == 5
    calls = []
    original = group_module.parse_group
    monkeypatch.setattr(group_module, "parse_group", lambda *a, **k: calls.append(a[0].key) or original(*a, **k))
    again = imp(dbx, lora_tree.root)
    assert (again.unchanged, again.imported, again.updated, calls) == (5, 0, 0, [])
    # Content made invalid but size and mtime restored: still skipped, by design of the stat check.
    path = lora_tree.root / "m/l0.json"
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(b"X" * len(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert imp(dbx, lora_tree.root).failed == 0 and calls == []
    # --force re-reads everything and now sees the broken file.
    forced = imp(dbx, lora_tree.root, force=True)
    assert forced.updated == 4 and forced.failed_by_class == {"invalid_json": 1} and len(calls) == 5


def test_changed_sidecar_updates_and_empty_never_erases(dbx, lora_tree) -> None:
    lora_tree.civitai_model("a/x.json", "X", description="<p>long text</p>")
    lora_tree.model("a/x.safetensors")
    imp(dbx, lora_tree.root)
    dbx.call_sync(lambda: Adapter.update(weight=0.7, active=True).execute())  # the user's own settings
    lora_tree.civitai_model("a/x.json", "X", description="", tags=[], creator={"username": "new_name"})
    report = imp(dbx, lora_tree.root)
    assert report.updated == 1 and report.unchanged == 0
    x = dbx.call_sync(adapters.find_by_name, "X")
    assert x.description == "<p>long text</p>" and x.tags == ["style"]  # empty did not erase filled
    assert x.author_username == "new_name" and (x.weight, x.active) == (0.7, True)


def test_duplicates_are_reported_not_merged(dbx, lora_tree) -> None:
    lora_tree.civitai_model("one/a.json", "Same", description="first")
    lora_tree.model("one/a.safetensors")
    lora_tree.civitai_model("two/b.json", "Same", description="second", file_name="b.safetensors")
    lora_tree.model("two/b.safetensors")
    report = imp(dbx, lora_tree.root)
    assert report.imported == 1 and len(report.duplicates) == 1
    dup = report.duplicates[0]
    assert {dup.kept_path, dup.duplicate_path} == {str(lora_tree.root / "one/a.safetensors"), str(lora_tree.root / "two/b.safetensors")}
    assert dbx.call_sync(adapters.find_by_name, "Same").description == "first"
    # A later run sees the same duplicate against the stored row, still without merging.
    forced = imp(dbx, lora_tree.root, force=True)
    assert len(forced.duplicates) == 1 and dbx.call_sync(adapters.count_adapters) == 1


def test_moved_file_takes_over_its_row_and_gone_files_are_flagged(dbx, lora_tree) -> None:
    lora_tree.civitai_model("old/m.json", "Mover")
    lora_tree.model("old/m.safetensors")
    lora_tree.model("old/orphan.safetensors")
    imp(dbx, lora_tree.root)
    adapter_id = dbx.call_sync(adapters.find_by_name, "Mover").id
    (lora_tree.root / "new").mkdir()
    for name in ("m.json", "m.safetensors"):
        (lora_tree.root / "old" / name).rename(lora_tree.root / "new" / name)
    (lora_tree.root / "old/orphan.safetensors").unlink()
    report = imp(dbx, lora_tree.root)
    # Recognised as a move (issue 17: same size and mtime_ns): the row follows, nothing re-read.
    assert report.duplicates == [] and report.updated == 0 and report.unchanged == 1
    assert report.moved == [(str(lora_tree.root / "old/m.safetensors"), str(lora_tree.root / "new/m.safetensors"))]
    moved = dbx.call_sync(adapters.find_by_name, "Mover")
    assert moved.id == adapter_id and moved.file_path == str(lora_tree.root / "new/m.safetensors")
    assert moved.json_file_path == str(lora_tree.root / "new/m.json")
    assert sorted(Path(p).name for p in report.missing) == ["orphan.safetensors"]
    gone = dbx.call_sync(library_files.get_by_path, lora_tree.root / "old/orphan.safetensors")
    assert gone is not None and gone.missing  # flagged, not deleted


def test_orphans_and_not_on_civitai(dbx, lora_tree) -> None:
    lora_tree.model("o/plain.safetensors")
    lora_tree.write("o/old.pt", b"\x80\x02not really a pickle")  # only stat'ed, never unpickled
    lora_tree.write("o/looked_up.civitai.info", {})
    lora_tree.model("o/looked_up.safetensors")
    lora_tree.write("o/workflow.json", {"nodes": []})  # a stray JSON beside no model: not a sidecar
    report = imp(dbx, lora_tree.root)
    assert [Path(p).name for p in report.orphans] == ["looked_up.safetensors", "old.pt", "plain.safetensors"]
    assert report.not_on_civitai == 1 and report.not_sidecars == 1 and report.failed == 0
    stored = [Path(f.path).name for f in dbx.call_sync(library_files.list_orphans)]
    assert stored == ["looked_up.safetensors", "old.pt", "plain.safetensors"]
    again = imp(dbx, lora_tree.root)
    assert [Path(p).name for p in again.orphans] == [Path(p).name for p in report.orphans]


def test_import_orphan_from_header(dbx, lora_tree, fixtures_dir: Path) -> None:
    meta = json.loads((fixtures_dir / "formats/safetensors_header_kohya_lora.json").read_text())["__metadata__"]
    path = lora_tree.model("h/kohya.safetensors", metadata=meta)
    imp(dbx, lora_tree.root)
    record = import_orphan_from_header(dbx, path)
    assert record.name == "pixel-art-xl-v1.1" and record.base_model == "SDXL 1.0"
    assert record.trained_words[0] == "pixel art" and record.sources == ["safetensors_header"]
    assert dbx.call_sync(library_files.get_by_path, path).adapter_id == record.id
    assert dbx.call_sync(library_files.list_orphans) == []
    assert imp(dbx, lora_tree.root).orphans == []  # the link survives the next import
    other = lora_tree.model("h2/pixel-art-xl-v1.1.safetensors", metadata=meta)
    with pytest.raises(AdapterExistsError, match="another file"):
        import_orphan_from_header(dbx, other)


def test_failure_inside_a_chunk_leaves_no_half_rows_and_a_rerun_completes(dbx, lora_tree, monkeypatch) -> None:
    for i in range(10):
        lora_tree.civitai_model(f"c/m{i:02d}.json", f"M{i:02d}")
        lora_tree.model(f"c/m{i:02d}.safetensors")
    from lora_manager_gui.db import import_sources

    original = import_sources.upsert_source_rows
    calls = {"n": 0}

    def failing(rows):
        calls["n"] += 1
        original(rows)  # written, then the transaction fails: must be rolled back as a whole
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(import_sources, "upsert_source_rows", failing)
    with pytest.raises(Exception, match="disk full"):
        imp(dbx, lora_tree.root, options=ImportOptions(chunk_size=3))
    assert dbx.call_sync(adapters.count_adapters) == 3
    assert dbx.call_sync(lambda: ImportSource.select().count()) == 3
    assert dbx.call_sync(lambda: LibraryFile.select().count()) == 3
    monkeypatch.setattr(import_sources, "upsert_source_rows", original)
    report = imp(dbx, lora_tree.root, options=ImportOptions(chunk_size=3))
    assert (report.unchanged, report.imported) == (3, 7)
    assert dbx.call_sync(adapters.count_adapters) == 10


def test_cancel_stops_between_chunks_and_keeps_what_was_committed(dbx, lora_tree) -> None:
    for i in range(12):
        lora_tree.civitai_model(f"c/m{i:02d}.json", f"M{i:02d}")
        lora_tree.model(f"c/m{i:02d}.safetensors")
    cancel = threading.Event()
    seen = []

    def on_progress(p) -> None:
        seen.append(p)
        if p.stage is Stage.STORE:
            cancel.set()

    async def go():
        pool = WorkPool(2)
        try:
            return await run_import(dbx, [lora_tree.root], pool=pool, options=ImportOptions(chunk_size=4),
                                    progress=on_progress, cancel=cancel)
        finally:
            pool.close()

    report = asyncio.run(go())
    assert report.cancelled and 0 < report.imported < 12
    assert dbx.call_sync(adapters.count_adapters) == report.imported
    assert all(p.total is None or p.done <= p.total for p in seen)
    assert imp(dbx, lora_tree.root).imported == 12 - report.imported


def test_renamed_version_in_the_sidecar_renames_the_row(dbx, lora_tree) -> None:
    lora_tree.civitai_model("r/x.json", "R", version="v1")
    lora_tree.model("r/x.safetensors")
    imp(dbx, lora_tree.root)
    first = dbx.call_sync(adapters.find_by_name, "R")
    lora_tree.civitai_model("r/x.json", "R", version="v1-fixed", description="longer now")
    imp(dbx, lora_tree.root)
    records = dbx.call_sync(adapters.search_adapters, "R")
    assert [(r.id, r.version) for r in records] == [(first.id, "v1-fixed")]


def test_roots_that_cannot_be_imported(dbx, tmp_path: Path) -> None:
    with pytest.raises(ImportRunError, match="no such folder"):
        imp(dbx, tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImportRunError, match="not a folder"):
        imp(dbx, tmp_path / "file")


def test_base_model_from_the_header_when_no_sidecar_gives_one(dbx, lora_tree, monkeypatch) -> None:
    from lora_manager_gui.core import safetensors

    t = lora_tree
    t.model("flux/wordy.safetensors", metadata={"modelspec.architecture": "flux-1-dev/lora"})
    t.write("flux/wordy.json", {"description": "no base model here", "activation text": "wordy"})
    t.model("sdxl/told.safetensors", metadata={"modelspec.architecture": "flux-1-dev/lora"})
    t.write("sdxl/told.cm-info.json", {"ModelName": "Told", "VersionName": "v1", "BaseModel": "Pony"})
    reads: list[str] = []
    real = safetensors.read_header

    def counting(path, **kw):
        reads.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(group_module, "read_header", counting)
    report = imp(dbx, t.root, options=ImportOptions(parse_processes=0))
    assert (report.imported, report.failed) == (2, 0), report.errors
    wordy = dbx.call_sync(adapters.find_by_file_path, t.root / "flux/wordy.safetensors")
    assert wordy.base_model == "Flux.1 D"  # from the header: the sidecar has none
    told = dbx.call_sync(adapters.find_by_file_path, t.root / "sdxl/told.safetensors")
    assert told.base_model == "Pony"  # the sidecar's word wins over the header's
    assert sorted(reads) == sorted({str(t.root / "flux/wordy.safetensors"), str(t.root / "sdxl/told.safetensors")})
