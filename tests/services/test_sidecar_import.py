"""What the sidecar work changes in a real import: preview images stored, one hostile sidecar costs
only itself, and `lora-manager import-headers` makes adapters of orphans from their headers."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lora_manager_gui.cli import run
from lora_manager_gui.core.discovery import ImportOptions
from lora_manager_gui.db import adapters
from lora_manager_gui.db.models import Adapter
from lora_manager_gui.services.header_import import import_headers
from lora_manager_gui.services.importer import run_import
from tests.core.test_sidecar_hostile import deep
from tests.core.test_sidecar_writers import old_kohya_header, stability_matrix_cm_info


def imp(db, root: Path):
    return asyncio.run(run_import(db, [root]))


def test_preview_images_of_every_format_are_stored(dbx, lora_tree, fixtures_dir: Path) -> None:
    info = json.loads((fixtures_dir / "formats/civitai_info.json").read_text("utf-8"))
    info["model"]["name"] = "From the info"  # the model JSON below is the same model: not a duplicate here
    lora_tree.write("a/info.civitai.info", info)
    lora_tree.model("a/info.safetensors")
    lora_tree.fixture("formats/lora_manager_metadata.json", "b/lm.metadata.json")
    lora_tree.model("b/lm.safetensors")
    lora_tree.write("c/sm.cm-info.json", stability_matrix_cm_info() | {"ModelName": "From Stability Matrix"})
    lora_tree.model("c/sm.safetensors")
    lora_tree.fixture("formats/civitai_model_api.json", "d/model.json")
    lora_tree.model("d/model.safetensors")
    report = imp(dbx, lora_tree.root)
    assert report.imported == 4 and report.failed == 0, report.to_json()
    stored = dbx.call_sync(lambda: {Path(a.file_path).stem: a.preview_images for a in Adapter.select()})
    assert stored["info"][0]["type"] == "image" and stored["info"][0]["url"].startswith("https://image.civitai.com/")
    assert stored["lm"][0]["type"] == "video" and stored["lm"][0]["nsfw_level"] == 1
    assert stored["sm"] == [{"url": stability_matrix_cm_info()["ThumbnailImageUrl"], "type": "image",
                             "nsfw_level": None, "width": None, "height": None}]
    assert stored["model"][0]["width"] == 1024
    sm = dbx.call_sync(adapters.find_by_file_path, lora_tree.root / "c/sm.safetensors")
    assert sm.author_username == "nerijs" and sm.primary_file_sha256 == stability_matrix_cm_info()["Hashes"]["SHA256"]
    # An import that learns nothing new never empties the column (an empty value never erases a filled one).
    lora_tree.write("c/sm.cm-info.json", stability_matrix_cm_info() | {"ModelName": "From Stability Matrix",
                                                                       "ThumbnailImageUrl": None, "ModelDescription": "new"})
    imp(dbx, lora_tree.root)
    again = dbx.call_sync(adapters.find_by_file_path, lora_tree.root / "c/sm.safetensors")
    assert again.description == "new" and again.preview_images == stored["sm"]


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def hostile_model_json(name: str) -> str:
    """NaN, Infinity, a lone surrogate, a huge count and 300 levels of nesting, as only the standard
    library's decoder reads them (the bytes are what json.dumps writes with allow_nan)."""
    data = {
        "id": 5, "name": name + "\ud800", "description": "<p>d</p>", "tags": ["ok", "t\udfff"],
        "stats": {"downloadCount": 10**30, "rating": float("nan")}, "deepKey": deep(300), "allowNoCredit": float("inf"),
        "modelVersions": [{"id": 6, "name": "v1", "baseModel": "sd_1.5", "files": [{"name": "hostile.safetensors", "sizeKB": 1.5}]}],
    }
    return json.dumps(data, allow_nan=True)


def test_one_hostile_sidecar_costs_only_its_own_fields(dbx, lora_tree) -> None:
    for i in range(3):
        lora_tree.civitai_model(f"lib/good{i}.json", f"Good {i}")
        lora_tree.model(f"lib/good{i}.safetensors")
    lora_tree.write("lib/hostile.json", hostile_model_json("Hostile"))
    lora_tree.model("lib/hostile.safetensors")
    lora_tree.write("lib/huge.json", '{"name": "Huge", "id": 1' + "0" * 40 + ', "modelVersions": [{"name": "v"}]}')
    lora_tree.model("lib/huge.safetensors")
    report = imp(dbx, lora_tree.root)
    names = dbx.call_sync(lambda: sorted(a.name for a in Adapter.select()))
    assert names == ["Good 0", "Good 1", "Good 2", "Hostile\ufffd"]  # the hostile file's good fields are kept
    hostile = dbx.call_sync(adapters.find_by_name, "Hostile\ufffd")
    assert hostile.base_model == "SD 1.5" and hostile.tags == ["ok", "t\ufffd"] and not hostile.stats
    assert depth(hostile.extra["deepKey"]) <= 128 and "allowNoCredit" not in hostile.extra  # cut where too deep
    errors = report.to_json()["errors"]
    by_file = {(Path(e["path"]).name, e["class"]) for e in errors}
    assert by_file == {("hostile.json", "invalid_metadata"), ("huge.json", "invalid_metadata")}
    messages = " ".join(e["message"] for e in errors if e["path"].endswith("hostile.json"))
    for field in ("stats.downloadCount", "stats.rating", "deepKey", "allowNoCredit", "name"):
        assert field in messages, field
    assert "within 64 bits" in next(e["message"] for e in errors if e["path"].endswith("huge.json"))
    assert imp(dbx, lora_tree.root).unchanged == 5  # and it is not read again while unchanged


def test_import_headers_command(lora_tree, db_path: Path, capsys) -> None:
    lora_tree.model("orphans/mychar.safetensors", metadata=old_kohya_header())
    lora_tree.model("orphans/deeper/plain.safetensors", metadata={"modelspec.title": "Plain", "modelspec.architecture": "flux-1-dev/lora"})
    lora_tree.write("orphans/old.pt", b"\x80\x02not really a pickle")
    lora_tree.write("orphans/broken.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    lora_tree.civitai_model("known/k.json", "Known")
    lora_tree.model("known/k.safetensors")
    assert run(["--db", str(db_path), "import", str(lora_tree.root)]) == 0
    capsys.readouterr()
    assert run(["--db", str(db_path), "import-headers", str(lora_tree.root / "orphans"), str(lora_tree.root / "known"),
                str(lora_tree.root / "nope.safetensors"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"imported", "skipped", "errors", "counts", "outcome"}
    imported = {Path(i["path"]).name: i for i in out["imported"]}
    assert set(imported) == {"mychar.safetensors", "plain.safetensors"}
    assert imported["mychar.safetensors"]["base_model"] == "SD 1.5" and imported["mychar.safetensors"]["trained_words"][0] == "mychar"
    assert imported["plain.safetensors"]["name"] == "Plain" and imported["plain.safetensors"]["base_model"] == "Flux.1 D"
    assert {(Path(s["path"]).name, s["reason"]) for s in out["skipped"]} == {("old.pt", "not_safetensors"), ("k.safetensors", "has_adapter")}
    assert {(Path(e["path"]).name, e["class"]) for e in out["errors"]} == {("broken.safetensors", "invalid_model_file"), ("nope.safetensors", "unreadable")}
    assert out["counts"] == {"imported": 2, "skipped": 2, "errors": 2} and out["outcome"] == "done_with_problems"
    # Again: both now have an adapter, nothing is made twice; the text form says so.
    assert run(["--db", str(db_path), "import-headers", str(lora_tree.root / "orphans")]) == 0
    text = capsys.readouterr().out
    assert "0 imported, 3 skipped, 1 error(s)" in text and "has_adapter" in text


def test_import_headers_service_reports_progress_and_outcome(dbx, lora_tree) -> None:
    lora_tree.model("o/a.safetensors", metadata={"ss_output_name": "Alpha", "ss_base_model_version": "sdxl_base_v1-0"})
    seen = []
    report = asyncio.run(import_headers(dbx, [str(lora_tree.root / "o")], progress=seen.append))
    assert [r.name for r in report.imported] == ["Alpha"] and report.imported[0].base_model == "SDXL 1.0"
    assert report.outcome().status == "done" and report.outcome().changes.adapters
    assert seen[0].done == 0 and seen[-1].stage == "done" and seen[-1].done == 1


def test_a_sidecar_sha256_seeds_the_hash_cache_so_the_file_is_not_hashed(dbx, lora_tree) -> None:
    """What the import hands the store (ImportItem.file_sha256) and hash_cache.seed_from_sidecars:
    the hasher then answers from the cache. A valid computed entry is never replaced by a seed."""
    from lora_manager_gui.core.discovery import scan_root
    from lora_manager_gui.core.hashing import CachedHash
    from lora_manager_gui.core.sidecars.group import folder_index
    from lora_manager_gui.db import hash_cache
    from lora_manager_gui.services.hasher import HashService
    from lora_manager_gui.services.import_parse import prepare_chunk

    sha = stability_matrix_cm_info()["Hashes"]["SHA256"]
    lora_tree.write("s/m.cm-info.json", stability_matrix_cm_info())
    model = lora_tree.model("s/m.safetensors")
    lora_tree.civitai_model("s/n.json", "No hash")
    lora_tree.model("s/n.safetensors")
    scan = scan_root(str(lora_tree.root))
    items = prepare_chunk(str(lora_tree.root), scan.groups, scan.models, folder_index(scan.models), {}, ImportOptions()).items
    known = {Path(i.key).name: i.file_sha256 for i in items}
    assert known == {"m": sha, "n": None}
    seeds = [(i.model_file.path, i.model_file.size_bytes, i.model_file.mtime_ns, i.file_sha256) for i in items if i.file_sha256]
    assert dbx.call_sync(hash_cache.seed_from_sidecars, seeds) == 1
    results = asyncio.run(HashService(dbx).hash_paths([str(model)]))
    assert results[0].cached and results[0].sha256 == sha  # not read: the true hash of these bytes differs
    # A computed entry for the file as it is now wins over any later seed.
    st = model.stat()
    dbx.call_sync(hash_cache.put, CachedHash(str(model), st.st_size, st.st_mtime_ns, "C" * 64, None, None))
    dbx.call_sync(hash_cache.seed_from_sidecars, seeds)
    assert dbx.call_sync(hash_cache.get_any, str(model)).sha256 == "C" * 64


def test_an_import_seeds_the_hash_cache_from_a_sidecar_sha256(dbx, lora_tree) -> None:
    """The whole import path: the store writes the sidecar's SHA-256 into the hash cache beside
    the adapter, so `hash` answers from the cache and reads nothing; a group without one seeds nothing."""
    from lora_manager_gui.db import hash_cache
    from lora_manager_gui.services.hasher import HashService
    from lora_manager_gui.services.importer import run_import

    sha = stability_matrix_cm_info()["Hashes"]["SHA256"]
    lora_tree.write("s/m.cm-info.json", stability_matrix_cm_info())
    model = lora_tree.model("s/m.safetensors")
    lora_tree.civitai_model("s/n.json", "No hash")
    other = lora_tree.model("s/n.safetensors")
    report = asyncio.run(run_import(dbx, [lora_tree.root]))
    assert report.imported == 2
    assert dbx.call_sync(hash_cache.get_any, str(model)).sha256 == sha
    assert dbx.call_sync(hash_cache.get_any, str(other)) is None
    results = asyncio.run(HashService(dbx).hash_paths([str(model)]))
    assert results[0].cached and results[0].sha256 == sha  # not read: the true hash of these bytes differs
