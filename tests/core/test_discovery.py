"""The walk: ignore patterns, symlinked folders followed once, loops, links out of the root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions, WalkOptions, scan_root


def names(scan) -> list[str]:
    return sorted(e.rel_path for e in scan.models.values())


def test_groups_models_and_ignores(lora_tree) -> None:
    t = lora_tree
    t.model("a/x.safetensors")
    t.write("a/x.json", {"description": "d"})
    t.write("a/X.civitai.info", {})
    t.write("a/x.preview.png", b"png")
    t.model(".hidden/h.safetensors")
    t.model("a/__pycache__/p.safetensors")
    t.model("a/._x.safetensors")  # macOS AppleDouble on a NAS share
    t.model("skip/me/s.safetensors")
    scan = scan_root(str(t.root), ImportOptions(ignore_patterns=ImportOptions().ignore_patterns + ("skip/me",)))
    assert names(scan) == ["a/x.safetensors"]
    [group] = scan.groups
    assert group.base == "X" or group.base == "x"
    assert sorted(k for k, _ in group.sidecars) == ["civitai_info", "json"]  # any case pairs with x.safetensors
    assert [m.name for m in group.models] == ["x.safetensors"]
    assert scan.ignored >= 4


def test_symlinked_folder_followed_each_file_once_and_loops_end(lora_tree, tmp_path: Path) -> None:
    t = lora_tree
    t.model("real/a.safetensors")
    os.symlink(t.root / "real", t.root / "alias")  # inside the root: the original wins
    os.symlink(t.root, t.root / "real/loop")  # a loop back to the root
    elsewhere = tmp_path / "other_drive"
    (elsewhere / "wan").mkdir(parents=True)
    (elsewhere / "wan/w.safetensors").write_bytes(b"\x00" * 16)
    os.symlink(elsewhere, t.root / "linked")  # the user's other drive: followed, flagged external
    os.symlink(t.root / "real/a.safetensors", t.root / "a_link.safetensors")  # a file twice
    scan = scan_root(str(t.root))
    assert names(scan) == ["linked/wan/w.safetensors", "real/a.safetensors"]
    assert scan.models[str(t.root / "linked/wan/w.safetensors")].external
    assert not scan.models[str(t.root / "real/a.safetensors")].external
    assert str(t.root / "linked") in scan.external
    assert {Path(p).name for p in scan.skipped_links} >= {"alias", "a_link.safetensors"}
    no_follow = scan_root(str(t.root), ImportOptions(follow_symlinks=False))
    assert names(no_follow) == ["real/a.safetensors"]


def test_deep_tree_without_recursion_limit(lora_tree) -> None:
    rel = "/".join(["d"] * 300)
    lora_tree.model(rel + "/deep.safetensors")
    scan = scan_root(str(lora_tree.root))
    assert names(scan) == [rel + "/deep.safetensors"]


def test_unreadable_entries_are_reported_not_opened(lora_tree) -> None:
    os.mkfifo(lora_tree.root / "pipe.safetensors")
    os.symlink(lora_tree.root / "gone", lora_tree.root / "dangling.safetensors")
    (lora_tree.root / "folder.civitai.info").mkdir()  # a folder named like a sidecar is walked as a folder
    scan = scan_root(str(lora_tree.root))
    assert sorted((Path(i.path).name, i.kind.value) for i in scan.issues) == [
        ("dangling.safetensors", "unreadable"),
        ("pipe.safetensors", "unreadable"),
    ]
    assert "target does not exist" in next(i.message for i in scan.issues if "dangling" in i.path)


def test_walk_results_cross_to_worker_processes_unchanged(lora_tree) -> None:
    """Entries and groups go to worker processes by pickle, through a reduced form (one C call per
    tuple): what arrives must equal what was sent, with its type and defaults."""
    import copy
    import pickle

    from lora_manager_gui.core.discovery import FileEntry, SidecarGroup

    lora_tree.model("a/one.safetensors")
    lora_tree.civitai_model("a/one.json", "One", file_name="one.safetensors")
    lora_tree.model("a/b/two.pt")
    lora_tree.write("a/b/two.civitai.info", {})
    lora_tree.write("a/b/two.json", {"description": "d"})
    scan = scan_root(str(lora_tree.root))
    assert scan.groups and scan.models
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        groups = pickle.loads(pickle.dumps(scan.groups, protocol=proto))
        assert groups == scan.groups
        assert all(type(g) is SidecarGroup for g in groups)
        assert all(type(e) is FileEntry for g in groups for _k, e in g.sidecars)
        models = pickle.loads(pickle.dumps(scan.models, protocol=proto))
        assert models == scan.models and all(type(m) is FileEntry for m in models.values())
    entry = next(iter(scan.models.values()))
    assert copy.copy(entry) == entry and type(copy.deepcopy(entry)) is FileEntry
    group = copy.deepcopy(scan.groups[0])
    group.sidecars.clear()
    assert scan.groups[0].sidecars  # a deep copy shares no lists


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are UTF-16")
def test_names_that_are_not_utf8_are_reported_not_walked(lora_tree) -> None:
    lora_tree.model("ok/fine.safetensors")
    lora_tree.model("mixed/fine.safetensors")
    mixed = os.fsencode(lora_tree.root / "mixed")
    with open(mixed + b"/\xff.safetensors", "wb") as f:
        f.write(b"x")
    os.makedirs(mixed + b"/\xfe")
    with open(mixed + b"/\xfe/inside.json", "w") as f:
        f.write("{}")
    found: list[str] = []
    walk = WalkOptions(on_folder=lambda groups, models: found.extend(sorted(models)))
    scan = scan_root(str(lora_tree.root), ImportOptions(), walk)
    assert sorted(Path(p).name for p in scan.models) == ["fine.safetensors", "fine.safetensors"]
    assert sorted((i.path, i.kind.value) for i in scan.issues) == [
        (str(lora_tree.root / "mixed") + "/\\xfe", "unreadable_name"),
        (str(lora_tree.root / "mixed") + "/\\xff.safetensors", "unreadable_name"),
    ]
    # A folder with such a name in it is walked in full every time: no fingerprint.
    assert str(lora_tree.root / "ok") in scan.prints and str(lora_tree.root / "mixed") not in scan.prints
    assert sorted(found) == sorted(scan.models)
