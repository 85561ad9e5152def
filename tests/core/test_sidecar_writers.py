"""Nothing lost from the sidecars other tools write: one file of each writer's exact shape.

Shapes, from the writers' own code:
- Stability Matrix `ConnectedModelInfo` (LykosAI/StabilityMatrix StabilityMatrix.Core/Models/ConnectedModelInfo.cs):
  System.Text.Json with default (PascalCase) names, nulls written, nested CivitFileHashes {SHA256, CRC32,
  BLAKE3}, CivitFileMetadata {fp, size, format}, CivitModelStats (camelCase JsonPropertyName).
- Lora Manager `LoraMetadata.to_dict()` (willmiao/ComfyUI-Lora-Manager py/utils/models.py): the
  BaseModelMetadata fields plus usage_tips, `civitai` = the enriched by-hash version object.
- A1111 `LoraUserMetadataEditor.save_lora_user_metadata` (extensions-builtin/Lora/ui_edit_user_metadata.py):
  description, sd version, activation text, preferred weight, negative text, notes.
- kohya `train_network.py` metadata: every value str(v); `ss_tag_frequency`/`ss_dataset_dirs` JSON strings.
"""
from __future__ import annotations

import json
from pathlib import Path

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, SidecarGroup
from lora_manager_gui.core.safetensors import read_header, write_safetensors
from lora_manager_gui.core.sidecars import parse_sidecar
from lora_manager_gui.core.sidecars.base import SidecarContext
from lora_manager_gui.core.sidecars.base_models import normalize_base_model
from lora_manager_gui.core.sidecars.group import build_record, folder_index, parse_group
from lora_manager_gui.core.sidecars.header import base_model_of, header_fields, suggested_triggers
from lora_manager_gui.core.sidecars.training_tags import rank_training_tags

SHA = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


def stability_matrix_cm_info() -> dict:
    """`JsonSerializer.Serialize(connectedModelInfo)` of a CivitAI download, every property present."""
    return {
        "ModelId": 120096,
        "ModelName": "Pixel Art XL",
        "ModelDescription": "<p>Pixel-art sprites for SDXL.</p>",
        "Nsfw": False,
        "Tags": ["style", "pixel art"],
        "ModelType": "LORA",
        "VersionId": 135931,
        "VersionName": "v1.1",
        "VersionDescription": "<p>v1.1: cleaner outlines.</p>",
        "AuthorUsername": "nerijs",
        "BaseModel": "SDXL 1.0",
        "RemoteFileName": "pixel-art-xl.safetensors",
        "RemoteFileId": 150000,
        "FileMetadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
        "ImportedAt": "2025-02-11T10:21:33.5120000+00:00",
        "Hashes": {"SHA256": SHA, "CRC32": "0C1B2A3D", "BLAKE3": "9F" * 32},
        "TrainedWords": ["pixel art"],
        "Stats": {"downloadCount": 181234, "ratingCount": 0, "rating": 0, "favoriteCount": 0, "commentCount": 77, "thumbsUpCount": 9120},
        "UserTitle": None,
        "ThumbnailImageUrl": "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/1b2c/width=450/2208781.jpeg",
        "InferenceDefaults": None,
        "Source": "Civitai",
    }


def test_stability_matrix_keeps_author_hash_file_name_thumbnail_and_version_description() -> None:
    sm = parse_sidecar("stability_matrix", "x.cm-info.json", stability_matrix_cm_info(), SidecarContext())
    assert (sm.name, sm.version, sm.author_username, sm.model_type) == ("Pixel Art XL", "v1.1", "nerijs", "LORA")
    assert sm.file_sha256 == sm.primary_file_sha256 == SHA
    assert sm.primary_file_name == "pixel-art-xl.safetensors" and sm.model_file_names == ["pixel-art-xl.safetensors"]
    assert sm.description == "<p>Pixel-art sprites for SDXL.</p>"
    assert sm.extra["VersionDescription"] == "<p>v1.1: cleaner outlines.</p>"
    assert sm.stats["downloadCount"] == 181234
    assert sm.preview_images == [{"url": stability_matrix_cm_info()["ThumbnailImageUrl"], "type": "image",
                                  "nsfw_level": None, "width": None, "height": None}]
    for kept in ("RemoteFileId", "FileMetadata", "ImportedAt", "Source", "UserTitle", "InferenceDefaults"):
        assert kept in sm.extra
    for mapped in ("AuthorUsername", "Hashes", "RemoteFileName", "ThumbnailImageUrl", "Stats"):
        assert mapped not in sm.extra
    # An enum written as a number (CivitModelType order) and a version description as the only one.
    data = stability_matrix_cm_info() | {"ModelType": 5, "ModelDescription": None}
    numeric = parse_sidecar("stability_matrix", "x.cm-info.json", data, SidecarContext())
    assert numeric.model_type == "LORA" and numeric.description == "<p>v1.1: cleaner outlines.</p>"
    assert "VersionDescription" not in numeric.extra


def _group(folder: Path, base: str, *sidecars: tuple[str, str]) -> tuple[SidecarGroup, dict[str, FileEntry]]:
    def entry(name: str) -> FileEntry:
        st = (folder / name).stat()
        return FileEntry(str(folder / name), name, name, st.st_size, st.st_mtime_ns)

    model = entry(base + ".safetensors")
    group = SidecarGroup(str(folder / base), str(folder), str(folder), base, [(k, entry(n)) for k, n in sidecars], [model])
    return group, {model.path: model}


def test_stability_matrix_hash_reaches_the_record_and_picks_the_model_json_version(tmp_path: Path, fixtures_dir: Path) -> None:
    write_safetensors(tmp_path / "p.safetensors", {"w": b"1234"})
    model_json = json.loads((fixtures_dir / "civitai/model.json").read_text("utf-8"))
    v1 = model_json["modelVersions"][1]
    sha = v1["files"][0]["hashes"]["SHA256"].upper()
    (tmp_path / "p.json").write_text(json.dumps(model_json), "utf-8")
    (tmp_path / "p.cm-info.json").write_text(json.dumps(stability_matrix_cm_info() | {"Hashes": {"SHA256": sha}}), "utf-8")
    group, models = _group(tmp_path, "p", ("json", "p.json"), ("stability_matrix", "p.cm-info.json"))
    parsed = parse_group(group, models, folder_index(models), ImportOptions())
    assert parsed.status == "imported" and parsed.issues == []
    assert parsed.record.version == v1["name"]  # chosen by the Stability Matrix hash, not the first version
    assert parsed.file_sha256 == sha  # for the hash cache: the file need not be hashed again
    assert parsed.record.primary_file_sha256 == sha
    assert parsed.record.author_username  # the model JSON's creator, or Stability Matrix's AuthorUsername


def test_lora_manager_previews_from_civitai_images_and_custom_images(fixtures_dir: Path) -> None:
    data = json.loads((fixtures_dir / "formats/lora_manager_metadata.json").read_text("utf-8"))
    data["civitai"]["customImages"] = [
        {"url": "https://example.invalid/custom/1.png", "nsfwLevel": 2, "width": 512, "height": 768, "type": "image"},
        {"url": "custom_2.png", "nsfwLevel": 1},  # a file Lora Manager keeps locally: no URL to fetch
    ]
    lm = parse_sidecar("lora_manager", "d.metadata.json", data, SidecarContext())
    video = data["civitai"]["images"][0]
    assert lm.preview_images[0] == {"url": video["url"], "type": "video", "nsfw_level": 1, "width": 480, "height": 832}
    assert lm.preview_images[1]["url"] == "https://example.invalid/custom/1.png" and lm.preview_images[1]["nsfw_level"] == 2
    assert len(lm.preview_images) == 2 and lm.problems == []  # the local preview_url and custom file are not URLs


def test_civitai_model_json_and_civitai_info_previews(fixtures_dir: Path) -> None:
    model = json.loads((fixtures_dir / "formats/civitai_model_api.json").read_text("utf-8"))
    parsed = parse_sidecar("json", "m.json", model, SidecarContext())
    image = model["modelVersions"][0]["images"][0]
    assert parsed.preview_images == [{"url": image["url"], "type": "image", "nsfw_level": 1, "width": 1024, "height": 1024}]
    info = json.loads((fixtures_dir / "formats/civitai_info.json").read_text("utf-8"))
    info["images"].append({"url": "https://example.invalid/old.jpeg", "nsfw": "Mature"})  # before the nsfwLevel bitmask
    info["images"].append("not an image")
    version = parse_sidecar("civitai_info", "m.civitai.info", info, SidecarContext())
    assert [i["nsfw_level"] for i in version.preview_images] == [1, 4]
    assert version.problems == ["field 'images[2]' is not an image with a URL: left out"]


def test_a1111_activation_text_becomes_trigger_words(fixtures_dir: Path, tmp_path: Path) -> None:
    data = json.loads((fixtures_dir / "formats/a1111_user_metadata.json").read_text("utf-8"))
    a = parse_sidecar("json", "p.json", data, SidecarContext())
    assert a.activation_text == "pixel art, 16-bit" and a.trained_words == ["pixel art", "16-bit"]
    write_safetensors(tmp_path / "p.safetensors", {"w": b"1234"})
    entry = FileEntry(str(tmp_path / "p.safetensors"), "p.safetensors", "p.safetensors", 1, 1)
    record = build_record(a, entry, entry, ["a1111"])
    assert record.trained_words == ["pixel art", "16-bit"] and record.triggers == ["pixel art", "16-bit"]
    assert parse_sidecar("json", "q.json", {"activation text": " ,  , "}, SidecarContext()).trained_words == []


def old_kohya_header() -> dict[str, str]:
    """train_network.py before ss_base_model_version (2023): SD 1.x, one DreamBooth-style dataset folder."""
    return {
        "ss_session_id": "1234567", "ss_training_started_at": "1680000000.0", "ss_output_name": "mychar",
        "ss_learning_rate": "0.0001", "ss_num_train_images": "40", "ss_network_module": "networks.lora",
        "ss_network_dim": "32", "ss_network_alpha": "16.0", "ss_v2": "False", "ss_mixed_precision": "fp16",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors", "ss_resolution": "(512, 512)", "ss_clip_skip": "None",
        "ss_dataset_dirs": json.dumps({"10_mychar": {"n_repeats": 10, "img_count": 40}}),
        "ss_tag_frequency": json.dumps({"10_mychar": {"1girl": 40, "solo": 39, "mychar": 38, "long hair": 30,
                                                      "red scarf": 37, "smile": 20, "outdoors": 8}}),
    }


def test_an_old_kohya_header_is_sd15_and_its_trigger_comes_first(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "mychar.safetensors", {"w": b"1234"}, old_kohya_header())
    header = read_header(path)
    fields = header_fields(str(path), header, full=True)
    assert (fields.base_model, fields.sd_version) == ("SD 1.5", "SD1")
    triggers = suggested_triggers(header)
    assert triggers[:2] == ["mychar", "red scarf"]  # the folder's token, then a specific tag of nearly every image
    assert triggers.index("1girl") > triggers.index("red scarf") and triggers.index("solo") > triggers.index("red scarf")
    # A minimal --no_metadata header says nothing about the base model.
    assert base_model_of({"ss_network_module": "networks.lora", "ss_network_dim": "4"}) == (None, None)
    assert base_model_of({"ss_v2": "True", "ss_v_parameterization": "True"}) == ("SD 2.1 768", "SD2")
    assert base_model_of({"ss_base_model_version": "sd_1.5"}) == ("SD 1.5", None)
    assert base_model_of({"ss_base_model_version": "sdxl_base_v1-0"}) == ("SDXL 1.0", "SDXL")


def test_training_tags_without_captions_and_with_spam() -> None:
    # No captions at all: the folder's token is all the LoRA learnt.
    assert rank_training_tags({"5_zkw style": {}}, {"5_zkw style": {"n_repeats": 5, "img_count": 12}}) == ["zkw style"]
    # Thousands of spammed tags: the limit holds, the generic ones last.
    spam = {f"tag{i}": 1 for i in range(5000)} | {"1girl": 90, "looking_at_viewer": 80, "sks": 99}
    ranked = rank_training_tags({"img": spam}, None, limit=10)
    assert ranked[0] == "sks" and len(ranked) == 10 and "1girl" not in ranked
    assert rank_training_tags("not json", None) == [] and rank_training_tags({"d": {"a": float("nan"), "b": 10**30}}) == []


def test_base_model_names_are_civitais() -> None:
    for raw, name in [("sd_1.5", "SD 1.5"), ("SD15", "SD 1.5"), ("sd1.5", "SD 1.5"), ("SD 1.5", "SD 1.5"),
                      ("sdxl", "SDXL 1.0"), ("SDXL_1.0", "SDXL 1.0"), ("pony", "Pony"), ("Illustrious XL", "Illustrious"),
                      ("flux1", "Flux.1 D"), ("Flux.1 S", "Flux.1 S"), ("flux-1-schnell", "Flux.1 S"),
                      ("Wan Video 14B i2v 480p", "Wan Video 14B i2v 480p"), ("  A  New   Base ", "A New Base")]:
        assert normalize_base_model(raw) == name, raw
    assert normalize_base_model("None") is None and normalize_base_model("Unknown") is None and normalize_base_model(None) is None


def test_base_models_from_sidecars_are_normalized_in_the_record(tmp_path: Path) -> None:
    lm = parse_sidecar("lora_manager", "x.metadata.json", {"model_name": "X", "base_model": "SDXL"}, SidecarContext())
    entry = FileEntry(str(tmp_path / "x.safetensors"), "x.safetensors", "x.safetensors", 1, 1)
    assert build_record(lm, entry, entry, ["lora_manager"]).base_model == "SDXL 1.0"


def test_sentence_captions_are_counted_by_word() -> None:
    captions = {
        "a photo of zxq woman standing in a park with trees": 1,
        "zxq woman sitting on a bench, smiling at the camera": 1,
        "close-up portrait of zxq woman with red hair and freckles": 1,
    }
    ranked = rank_training_tags({"img": captions}, {"img": {"n_repeats": 1, "img_count": 3}})
    assert ranked[0] == "zxq" and ranked[-1] == "woman"  # in every caption; "woman" is generic: last
    assert all(len(word) >= 3 and " " not in word for word in ranked)
