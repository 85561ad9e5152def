"""Resolution of names from workflows against library_file: tail of the relative path, any case."""
from __future__ import annotations

from lora_manager_gui.core.records import LibraryFile
from lora_manager_gui.db import library_files


def add(root: str, rel: str, adapter_id=None) -> None:
    library_files.upsert_files([LibraryFile(f"{root}/{rel}", root, rel, 1, 1, adapter_id)], link=True)


def test_find_by_rel_path_tail_any_separator_and_case(library_db) -> None:
    add("/lib", "loras/WanVideo/Lightx2v/x.safetensors")
    add("/lib", "loras/other/x.safetensors")
    add("/lib", "loras/WanVideo/Lightx2v/ax.safetensors")
    hits = library_files.find_by_rel_path("wanvideo\\LIGHTX2V\\x.safetensors")
    assert [h.rel_path for h in hits] == ["loras/WanVideo/Lightx2v/x.safetensors"]
    assert len(library_files.find_by_rel_path("x.safetensors")) == 2
    assert [h.rel_path for h in library_files.find_by_rel_path("wanvideo/lightx2v/x")] == ["loras/WanVideo/Lightx2v/x.safetensors"]
    assert library_files.find_by_rel_path("ightx2v/x.safetensors") == []  # whole components only
    assert len(library_files.find_by_stem("X")) == 2 and library_files.find_by_stem("x.safetensors")
    assert library_files.find_by_rel_path("") == []


def test_orphans_and_links(library_db) -> None:
    add("/lib", "a.safetensors")
    add("/lib2", "b.safetensors")
    assert [o.rel_path for o in library_files.list_orphans()] == ["a.safetensors", "b.safetensors"]
    assert [o.rel_path for o in library_files.list_orphans("/lib2")] == ["b.safetensors"]
    library_files.mark_missing(["/lib/a.safetensors"])
    assert [o.rel_path for o in library_files.list_orphans()] == ["b.safetensors"]
    assert library_files.get_by_path("/lib/a.safetensors").missing
    assert len(library_files.all_files()) == 2
