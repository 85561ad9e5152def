"""Each sidecar format, typed validation with field-level errors, and the merge precedence."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lora_manager_gui.core.files import READ_FLAGS, read_up_to
from lora_manager_gui.core.records import derive_triggers
from lora_manager_gui.core.sidecars import parse_sidecar, sidecar_kind
from lora_manager_gui.core.sidecars.base import (
    InvalidJsonError,
    InvalidMetadataError,
    SidecarContext,
    SidecarFields,
    SidecarUnreadableError,
    TooLargeError,
    read_json_file,
)
from lora_manager_gui.core.sidecars.header import base_model_of, header_fields, suggested_triggers
from lora_manager_gui.core.sidecars.merge import merge, merge_many, merge_one
from lora_manager_gui.core.safetensors import read_header, write_safetensors


def load(fixtures_dir: Path, rel: str) -> object:
    return json.loads((fixtures_dir / rel).read_text("utf-8"))


def test_sidecar_kinds_by_name() -> None:
    assert sidecar_kind("x.metadata.json") == ("lora_manager", "x")
    assert sidecar_kind("X.Civitai.Info") == ("civitai_info", "X")
    assert sidecar_kind("a.b.api_info.json") == ("civitai_api_info", "a.b")
    assert sidecar_kind("m.cm-info.json") == ("stability_matrix", "m")
    assert sidecar_kind("plain.json") == ("json", "plain")
    assert sidecar_kind("uuid.recipe.json") is None
    assert sidecar_kind("x.preview.png") is None
    assert sidecar_kind(".json") is None


def test_civitai_model_json_picks_the_version_of_the_file_beside_it(fixtures_dir: Path) -> None:
    data = load(fixtures_dir, "civitai/model.json")
    first = parse_sidecar("json", "m.json", data, SidecarContext())
    assert (first.format, first.name, first.version, first.civitai_version_id) == ("civitai_model", "Inkwash Style XL", "v2.0", 1336201)
    by_name = parse_sidecar("json", "m.json", data, SidecarContext(frozenset({"inkwashstylexl_v10.safetensors"})))
    assert (by_name.version, by_name.primary_file_name) == ("v1.0", "inkwashStyleXL_v10.safetensors")
    v1_sha = data["modelVersions"][1]["files"][0]["hashes"]["SHA256"]
    # SHA-256 wins over the file name when a sidecar told us the file's hash.
    by_hash = parse_sidecar("json", "m.json", data, SidecarContext(frozenset({"inkwashstylexl_v20.safetensors"}), v1_sha.upper()))
    assert by_hash.version == "v1.0"
    assert first.author_username == "sumi_lab" and "ink" in first.tags and first.base_model == "SDXL 1.0"
    assert first.trained_words == ["inkwash", "sumi-e brushwork"]
    assert first.supports_generation is True and first.nsfw_level == 3 and first.stats["downloadCount"] == 18734
    assert "allowCommercialUse" in first.extra and "modelVersions" not in first.extra and "name" not in first.extra


def test_primary_file_is_flagged_else_largest() -> None:
    data = {"name": "M", "modelVersions": [{"name": "v", "files": [
        {"name": "small.safetensors", "sizeKB": 10}, {"name": "big.safetensors", "sizeKB": 99}, {"name": "mid.pt", "sizeKB": 50}]}]}
    assert parse_sidecar("json", "p", data, SidecarContext()).primary_file_name == "big.safetensors"
    data["modelVersions"][0]["files"][2]["primary"] = True
    assert parse_sidecar("json", "p", data, SidecarContext()).primary_file_name == "mid.pt"


def test_civitai_info_version_object_and_empty_means_not_on_civitai(fixtures_dir: Path) -> None:
    info = parse_sidecar("civitai_info", "x.civitai.info", load(fixtures_dir, "formats/civitai_info.json"), SidecarContext())
    assert (info.name, info.version, info.civitai_model_id, info.base_model) == ("Pixel Art XL", "v1.1", 120096, "SDXL 1.0")
    assert info.primary_file_sha256 == "27B7F2B8A10C095FBA5A025A0DE4F5707EF3327295596BF362E62948B9DA16A7"
    assert "images" in info.extra and not info.not_on_civitai
    empty = parse_sidecar("civitai_info", "y.civitai.info", {}, SidecarContext())
    assert empty.not_on_civitai and empty.name is None


def test_lora_manager_metadata(fixtures_dir: Path) -> None:
    lm = parse_sidecar("lora_manager", "d.metadata.json", load(fixtures_dir, "formats/lora_manager_metadata.json"), SidecarContext())
    assert lm.name == "DetailZ - Wan 2.1 Detail Enhancer" and lm.version == "v2.0 i2v 480p"
    assert lm.base_model == "Wan Video 14B i2v 480p" and lm.author_username == "pixel_forge"
    assert lm.file_sha256 == "199BA7DB5B56D2EB9E6F087D138447A1ED749E997DF0A71B75D393D196687FC0" == lm.primary_file_sha256
    assert lm.weight == 0.65 and lm.notes.startswith("Best with lightx2v")
    assert "file_path" in lm.extra and "favorite" in lm.extra  # unknown keys kept
    assert lm.model_file_names[0] == "detailz-wan-v2"


def test_a1111_user_metadata(fixtures_dir: Path) -> None:
    a = parse_sidecar("json", "p.json", load(fixtures_dir, "formats/a1111_user_metadata.json"), SidecarContext())
    assert (a.format, a.sd_version, a.activation_text, a.weight) == ("a1111", "SDXL", "pixel art, 16-bit", 0.8)
    assert a.extra == {"negative text": "blurry, 3d render, photo"}
    cbp = parse_sidecar("json", "q.json", {"modelId": "Model not found", "modelVersionId": 12, "sha256": "ab" * 32}, SidecarContext())
    assert cbp.civitai_model_id is None and cbp.civitai_version_id == 12 and cbp.file_sha256 == "AB" * 32


def test_stability_matrix_cm_info() -> None:
    data = {"ModelName": "M", "VersionName": "v3", "ModelId": 5, "VersionId": 6, "Tags": ["a"], "TrainedWords": ["tw"],
            "BaseModel": "Pony", "Hashes": {"SHA256": "cd" * 32}, "ImportedAt": "2025-01-01"}
    sm = parse_sidecar("stability_matrix", "m.cm-info.json", data, SidecarContext())
    assert (sm.name, sm.version, sm.civitai_version_id, sm.base_model, sm.file_sha256) == ("M", "v3", 6, "Pony", "CD" * 32)
    assert sm.extra == {"ImportedAt": "2025-01-01"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "M", "tags": "x", "modelVersions": [{"name": "v"}]}, "tags"),
        ({"name": 5, "modelVersions": [{"name": "v"}]}, "name"),
        ({"name": "M", "modelVersions": [{"name": 2}]}, "modelVersions[0].name"),
        ({"name": "M", "modelVersions": "v1"}, "modelVersions"),
        ({"name": "M", "modelVersions": []}, "modelVersions"),
        ({"name": "M", "modelVersions": [{"name": "v", "trainedWords": ["ok", 3]}]}, "modelVersions[0].trainedWords[1]"),
        ({"name": "M", "creator": "me", "modelVersions": [{"name": "v"}]}, "creator"),
        ({"name": "", "modelVersions": [{"name": "v"}]}, "name"),
        ({"modelVersions": [{"name": "v"}]}, "name"),
    ],
)
def test_wrong_field_types_are_invalid_metadata_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidMetadataError) as err:
        parse_sidecar("json", "/lib/m.json", data, SidecarContext())
    assert f"'{field}'" in err.value.message and err.value.path == "/lib/m.json"
    assert err.value.error_class == "invalid_metadata"


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(InvalidMetadataError, match="JSON object, got a list"):
        parse_sidecar("civitai_info", "x", [1, 2], SidecarContext())


def test_read_json_classifies_bad_files(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidJsonError, match="nested too deeply"):
        read_json_file(str(deep))
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"description": "caf\xe9"}')
    with pytest.raises(InvalidJsonError, match="not UTF-8"):
        read_json_file(str(latin))
    truncated = tmp_path / "t.json"
    truncated.write_text('{"name": "x", "modelVers')
    with pytest.raises(InvalidJsonError):
        read_json_file(str(truncated))
    empty = tmp_path / "e.json"
    empty.write_bytes(b"")
    with pytest.raises(InvalidJsonError, match="empty"):
        read_json_file(str(empty))
    big = tmp_path / "big.json"
    big.write_text('{"x": "' + "a" * 5000 + '"}')
    with pytest.raises(TooLargeError, match="limit"):
        read_json_file(str(big), max_bytes=1000)
    with pytest.raises(SidecarUnreadableError, match="not a regular file"):
        read_json_file(str(tmp_path))
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json_file(str(bom)) == {"a": 1}


def test_read_up_to_reads_on_past_a_short_first_read(tmp_path: Path) -> None:
    """The first read is sized by a stat; a file that grew since must still be read to the limit."""
    path = tmp_path / "grown.json"
    path.write_bytes(b"0123456789" * 3)
    fd = os.open(path, READ_FLAGS)
    try:
        assert read_up_to(fd, 25, first=4) == (b"0123456789" * 3)[:25]
        assert read_up_to(fd, 100, first=1) == b"56789"  # the rest, to the end
        assert read_up_to(fd, 8) == b""
    finally:
        os.close(fd)
    fd = os.open(path, READ_FLAGS)
    try:  # the file grew after the stat that saw 12 bytes: the first read fills, so reading goes on
        assert read_up_to(fd, 100, first=13, size=12) == b"0123456789" * 3
    finally:
        os.close(fd)
    fd = os.open(path, READ_FLAGS)
    try:  # as big as the stat saw: the short first read is the whole file
        assert read_up_to(fd, 100, first=31, size=30) == b"0123456789" * 3
    finally:
        os.close(fd)


def test_merge_precedence_and_empty_never_erases_filled() -> None:
    lm = parse_sidecar("lora_manager", "a.metadata.json", {"model_name": "From LM", "notes": "", "tags": []}, SidecarContext())
    info = parse_sidecar("civitai_info", "a.civitai.info", {"name": "v2", "modelId": 1, "model": {"name": "From Info", "tags": ["t"]},
                                                             "trainedWords": ["w"], "baseModel": "SDXL 1.0", "extraKey": 1}, SidecarContext())
    a1111 = parse_sidecar("json", "a.json", {"notes": "user notes", "sd version": "SDXL", "extraKey": 2}, SidecarContext())
    merged = merge([a1111, info, lm])  # order of arguments does not matter
    assert merged.format == "lora_manager" and merged.name == "From LM"
    assert merged.version == "v2" and merged.tags == ["t"] and merged.notes == "user notes"
    assert merged.extra["extraKey"] == 1  # the higher-precedence source wins a clash


def test_merge_of_one_source_is_the_general_merge(fixtures_dir: Path) -> None:
    """merge() takes a shortcut for one source (most groups have one sidecar); it must give exactly what
    the general merge gives: empty values fall back to the default, 0 and False stay, the same objects
    are shared with the source and the same ones are new."""
    model = parse_sidecar("json", "m.json", load(fixtures_dir, "civitai/model.json"), SidecarContext())
    odd = SidecarFields(
        format="a1111", path="a.json", name="", version=" ", description="d", tags=[], trained_words=["w"], stats={},
        nsfw_level=0, supports_generation=False, weight=0.0, civitai_model_id=7, model_file_names=["x", "y", "x"],
        extra={"k": 1}, not_on_civitai=True,
    )
    empty = SidecarFields(format="civitai_info", path="e.civitai.info", not_on_civitai=True)
    for source in (model, odd, empty):
        one, general = merge_one(source), merge_many([source])
        assert merge([source]) == one == general
        for name, value in vars(general).items():
            other = getattr(one, name)
            assert type(other) is type(value), name
            assert (other is getattr(source, name)) == (value is getattr(source, name)), name
    assert (merge_one(odd).name, merge_one(odd).stats, merge_one(odd).tags) == (None, None, [])
    assert merge_one(odd).model_file_names == ["x", "y"]
    # An empty value of the best source never erases another source's filled one.
    filled = SidecarFields(format="safetensors_header", path="m.safetensors", name="N", stats={"s": 1}, tags=["t"])
    both = merge([odd, filled])
    assert (both.format, both.name, both.stats, both.tags, both.nsfw_level) == ("a1111", "N", {"s": 1}, ["t"], 0)


def test_merge_of_one_source_keeps_the_field_order_and_takes_odd_instances() -> None:
    """merge_one builds its result from a copy of the source's attributes: the result must look like
    one made by __init__, and a source with an attribute added or deleted by hand takes the plain way."""
    source = SidecarFields(format="a1111", path="a.json", name="N", description="", tags=[], stats={}, nsfw_level=0)
    one = merge_one(source)
    assert list(vars(one)) == list(vars(SidecarFields(format="x", path="y")))
    assert one == merge_many([source]) and (one.description, one.stats, one.tags, one.nsfw_level) == (None, None, [], 0)
    added = SidecarFields(format="a1111", path="a.json", name="N", notes="")
    added.stray = 1  # type: ignore[attr-defined]
    deleted = SidecarFields(format="a1111", path="a.json", name="N", notes="")
    del deleted.notes
    for odd in (added, deleted):
        assert merge_one(odd) == merge_many([odd])
        assert not hasattr(merge_one(odd), "stray") and merge_one(odd).notes is None


def test_triggers_split_trim_dedupe_keep_order() -> None:
    assert derive_triggers(["a, b", " b ", "C,  ,a", "c"]) == ["a", "b", "C"]


def test_header_fields_for_orphans(tmp_path: Path, fixtures_dir: Path) -> None:
    meta = load(fixtures_dir, "formats/safetensors_header_kohya_lora.json")["__metadata__"]
    path = write_safetensors(tmp_path / "k.safetensors", {"w": b"1234"}, meta)
    header = read_header(path)
    fields = header_fields(str(path), header, full=True)
    assert fields.name == "pixel-art-xl-v1.1" and fields.base_model == "SDXL 1.0" and fields.sd_version == "SDXL"
    # "pixel art" is in every image (118 of the dataset's 118); the generic "1girl" ranks below the specific tags.
    triggers = suggested_triggers(header)
    assert triggers[:2] == ["pixel art", "sprite"] and triggers.index("1girl") > triggers.index("landscape")
    assert base_model_of({"modelspec.architecture": "flux-1-dev/lora"}) == ("Flux.1 D", None)
    assert base_model_of({"ss_v2": "True"}) == ("SD 2.1", "SD2")
    assert base_model_of({}) == (None, None)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_sidecar_replaced_by_a_fifo_after_the_walk_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """With the walk's size, the sidecar is not stat'ed again: a FIFO put in its place since must
    still never block the import (it is opened non-blocking) and is reported on that file."""
    import threading

    from lora_manager_gui.core.errors import FileProblemError

    path = tmp_path / "model.json"
    os.mkfifo(path)
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_json_file(str(path), size=120))
        except FileProblemError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the reader before failing, so the run can end
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    [error] = outcome
    assert isinstance(error, FileProblemError) and error.error_class == "unreadable"
    assert "changed" in error.message


def test_a_sidecar_read_with_the_walks_size_is_read_whole_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b'{"name": "n", "pad": "' + b"x" * 100 + b'"}')
    size = path.stat().st_size
    assert read_json_file(str(path), size=size)["name"] == "n"
    path.write_bytes(b'{"name": "grown", "pad": "' + b"y" * 300 + b'"}')  # grew since the walk
    assert read_json_file(str(path), size=size)["name"] == "grown"
    from lora_manager_gui.core.errors import FileProblemError

    with pytest.raises(FileProblemError) as info:
        read_json_file(str(path), max_bytes=200, size=size)  # the walk saw it under the limit
    assert "grew over the 200-byte limit" in info.value.message


def test_an_id_of_other_digits_is_no_id_not_a_failed_file() -> None:
    """'²' is a digit to str.isdigit but not a number to int(): the group used to fail on it."""
    doc = {"name": "Odd", "id": "²", "modelVersions": [{"name": "v1", "id": " 42 ", "files": []}]}
    fields = parse_sidecar("json", "odd.json", doc, SidecarContext())
    assert (fields.civitai_model_id, fields.civitai_version_id) == (None, 42)
    doc["id"] = "٣"  # an Arabic-Indic three: a decimal digit, which int() reads
    assert parse_sidecar("json", "odd.json", doc, SidecarContext()).civitai_model_id == 3
