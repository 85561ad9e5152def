"""db/browse.py: counts, pages, search, filters and sorting done in SQLite."""
from __future__ import annotations

import pytest

from lora_manager_gui.db import browse
from lora_manager_gui.db.browse import BrowseQuery
from lora_manager_gui.db.models import Adapter


@pytest.fixture
def adapters(library_db):
    rows = [
        ("Pixel Art XL", "v1.1", "nerijs", "SDXL 1.0", ["pixel art"], 1, 10),
        ("Ink Wash", "v2", "Sumi", "SD 1.5", ["ink"], 2, None),
        ("anime eyes", "v3", "kohaku", "SDXL 1.0", ["sparkling eyes"], 16, 30),
    ]
    for name, version, creator, base, words, nsfw, model_id in rows:
        Adapter.create(name=name, version=version, author_username=creator, base_model=base, trained_words=words,
                       nsfw_level=nsfw, civitai_model_id=model_id, file_path=f"/l/{name}.safetensors",
                       primary_file_name=f"{name.replace(' ', '_').lower()}.safetensors")
    return library_db


def names(query: BrowseQuery) -> list[str]:
    return [r.name for r in browse.fetch_adapters(query, 0)]


def test_search_filters_and_sort(adapters) -> None:
    assert names(BrowseQuery()) == ["anime eyes", "Ink Wash", "Pixel Art XL"]  # case-insensitive order
    assert names(BrowseQuery(sort_key="creator", descending=True)) == ["Ink Wash", "Pixel Art XL", "anime eyes"]
    assert names(BrowseQuery(search="SPARKLING")) == ["anime eyes"]  # trigram index, any case
    assert names(BrowseQuery(search="xl pix")) == ["Pixel Art XL"]  # a short word falls back to LIKE
    assert names(BrowseQuery(search="ink_wash.safetensors")) == ["Ink Wash"]
    assert names(BrowseQuery(base_model="SDXL 1.0", max_nsfw=4)) == ["Pixel Art XL"]
    assert names(BrowseQuery(identified=False)) == ["Ink Wash"]
    assert browse.count_adapters(BrowseQuery(identified=True)) == 2
    assert browse.base_models() == ["SD 1.5", "SDXL 1.0"]


def test_search_index_follows_inserts_updates_and_deletes(adapters) -> None:
    a = Adapter.get(Adapter.name == "Ink Wash")
    a.name = "Sumi-e Landscapes"
    a.file_path, a.primary_file_name = "/l/sumi.safetensors", "sumi.safetensors"
    a.save()
    assert names(BrowseQuery(search="landscapes")) == ["Sumi-e Landscapes"]
    assert names(BrowseQuery(search="wash")) == []
    a.delete_instance()
    assert names(BrowseQuery(search="sumi")) == []
    Adapter.create(name="Neon Noir", version="1")
    assert names(BrowseQuery(search="noir")) == ["Neon Noir"]


@pytest.mark.parametrize("key", [k for k in browse.SORT_EXPRESSIONS])
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_uses_an_index(adapters, key: str, descending: bool) -> None:
    """No full sort of the table for any column: ORDER BY ... LIMIT walks an index."""
    db = adapters
    original = db.execute_sql

    plans: list[str] = []

    def explain(sql, params=None, *a, **k):
        if sql.startswith("SELECT") and "LIMIT" in sql:
            plans.extend(str(r) for r in original("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        return original(sql, params, *a, **k)

    db.execute_sql = explain  # type: ignore[method-assign]
    try:
        browse.fetch_adapters(BrowseQuery(sort_key=key, descending=descending), 0)
    finally:
        db.execute_sql = original  # type: ignore[method-assign]
    assert plans and not any("TEMP B-TREE FOR ORDER BY" in p for p in plans), plans
