"""The import's row building, which runs in worker processes: the fast paths give exactly the
values of the general conversion, and a chunk stored from them reads back as the records."""
from __future__ import annotations

from datetime import datetime, timezone

from lora_manager_gui.core.records import COVERAGE_FIELDS, AdapterRecord, ImportItem, LibraryFile, coverage_mask
from lora_manager_gui.db import adapters, import_store


def records() -> list[AdapterRecord]:
    full = AdapterRecord(
        name="Full ünïcode", version="v2", description="<p>x</p>", author_username="me", tags=["a", "b"],
        trained_words=["w"], triggers=["w"], file_path="/lib/f.safetensors", weight=0.5, active=True, ordinal=3,
        supports_generation=False, nsfw_level=4, stats={"downloadCount": 1, "nested": {"k": [1, 2]}},
        extra={"k": None, "n": 1.5}, json_file_mtime=123, json_file_size=456, base_model="Flux.1 D",
        civitai_model_id=9, civitai_version_id=10, sources=["civitai_model"], file_size_bytes=7, file_missing=False,
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc), last_ingested_at=None,
    )
    bare = AdapterRecord(name="Bare")
    return [full, bare]


def test_adapter_rows_equal_the_general_conversion() -> None:
    recs = records()
    general = adapters._UPSERT.rows([adapters._row_dict(r, "2025-01-01T00:00:00.000000Z") for r in recs])
    assert adapters._adapter_rows(recs, "2025-01-01T00:00:00.000000Z") == general


def test_coverage_mask_marks_exactly_the_filled_fields() -> None:
    full, bare = records()
    assert coverage_mask(bare) == 0
    mask = coverage_mask(full)
    filled = {name for i, name in enumerate(COVERAGE_FIELDS) if mask & (1 << i)}
    assert filled == {"description", "author_username", "tags", "trained_words", "base_model", "civitai_version_id", "stats"}


def test_a_chunk_stored_from_rows_reads_back_as_its_records(library_db) -> None:
    recs = records()
    items = [
        ImportItem(key=f"/lib/{r.name}", root="/lib", signature="sig", status="imported", record=r,
                   model_file=LibraryFile(path=f"/lib/{r.name}.safetensors", root="/lib", rel_path=f"{r.name}.safetensors",
                                          size_bytes=7, mtime_ns=8))
        for r in recs
    ]
    rows = import_store.store_items(items)
    import pickle

    rows = pickle.loads(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))  # as a worker sends them
    assert all(type(r) is import_store.StoreItem for r in rows)
    outcome = import_store.store_import_chunk(rows, present=lambda p: True, claims={})
    assert (outcome.imported, outcome.updated) == (2, 0)
    assert outcome.filled == [coverage_mask(r) for r in recs]
    stored = adapters.find_by_name("Full ünïcode")
    assert (stored.tags, stored.stats, stored.extra, stored.active, stored.weight) == (
        ["a", "b"], {"downloadCount": 1, "nested": {"k": [1, 2]}}, {"k": None, "n": 1.5}, True, 0.5
    )
    assert stored.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_stored_keys_read_back_exactly_whatever_the_text(library_db, monkeypatch) -> None:
    """Keys come back from SQLite as JSON, a page at a time: quotes, escapes and non-BMP text
    survive, and no key is lost or read twice at the edges of the pages."""
    monkeypatch.setattr(import_store, "KEY_PAGE_ROWS", 2)
    names = ['Quote "q" \\ back', "new\nline\ttab", "emoji 🎨 ünï", "  spaced  ", "0123"]
    items = [
        ImportItem(key=f"/lib/k{i}", root="/lib", signature="s", status="imported",
                   record=AdapterRecord(name=n, version=f"v\u2028{i}", file_path=None if i == 2 else f"/lib/{i}.pt"))
        for i, n in enumerate(names)
    ]
    outcome = import_store.store_import_chunk(import_store.store_items(items), present=lambda p: True, claims={})
    assert outcome.imported == len(names)
    keys = import_store.load_adapter_keys()
    assert set(keys) == {(n, f"v\u2028{i}") for i, n in enumerate(names)}
    assert keys[(names[2], "v\u20282")][1] is None and keys[(names[0], "v\u20280")][1] == "/lib/0.pt"
    ids = sorted(aid for aid, _path in keys.values())
    assert ids == list(range(ids[0], ids[0] + len(names)))
    monkeypatch.setattr(import_store, "KEY_PAGE_ROWS", len(names))  # the last page is full, the next empty
    assert import_store.load_adapter_keys() == keys


def test_file_and_source_rows_equal_the_general_conversion() -> None:
    from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
    from lora_manager_gui.db import import_sources, library_files

    now = "2025-01-01T00:00:00.000000Z"
    files = [
        LibraryFile(path="/lib/a/B.safetensors", root="/lib", rel_path="a/B.safetensors", size_bytes=7, mtime_ns=8),
        LibraryFile(path="/lib/x.pt", root="/lib", rel_path="x.pt", size_bytes=0, mtime_ns=1, adapter_id=4,
                    problem="invalid_model_file", external=True),
    ]
    general = library_files._UPSERT_LINK.rows([library_files._row_dict(f, now) for f in files])
    assert library_files.file_rows(files, now) == general
    items = [
        ImportItem(key="/lib/a/B", root="/lib", signature="sig", status="imported", record=None, model_file=files[0]),
        ImportItem(key="/lib/c", root="/lib", signature="s2", status="failed", record=None, model_file=None,
                   issues=[ItemProblem("/lib/c.json", ProblemKind.INVALID_JSON, "bad ü \"quoted\"")]),
    ]
    general = import_sources._UPSERT.rows([import_sources._row_dict(i, now) for i in items])
    assert import_sources.source_rows(items, now) == general
