"""Choosing a file, safe names and folders, and sniffing what came."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lora_manager_gui.core.download_files import (
    FileChoiceError, Sniffed, UnsafePathError, choose_file, safe_component, safe_file_name, sniff_model,
    target_folder, version_files,
)

RAW = {"files": [
    {"id": 1, "name": "a_fp32.safetensors", "type": "Model", "sizeKB": 2048.0, "metadata": {"format": "SafeTensor", "fp": "fp32", "size": "full"},
     "hashes": {"SHA256": "ab" * 32}},
    {"id": 2, "name": "a_fp16.safetensors", "type": "Model", "sizeKB": 1024.5, "primary": True,
     "metadata": {"format": "SafeTensor", "fp": "fp16", "size": "pruned"}},
    {"id": 3, "name": "training.zip", "type": "Training Data", "sizeKB": 10},
    {"name": None}, "junk", {"id": True, "name": "x.pt", "sizeKB": "big"},
]}


def test_version_files_reads_format_precision_and_exact_size() -> None:
    files = version_files(RAW)
    assert [f.name for f in files] == ["a_fp32.safetensors", "a_fp16.safetensors", "training.zip", "x.pt"]
    assert files[0].sha256 == "AB" * 32 and files[0].size_bytes == 2048 * 1024 and files[1].size_bytes == 1049088
    assert files[3].id is None and files[3].size_bytes is None
    assert "fp16" in files[1].describe() and "primary" in files[1].describe()


def test_choose_file_primary_name_and_preferences() -> None:
    files = version_files(RAW)
    assert choose_file(files).id == 2
    assert choose_file(files, name="A_FP32.safetensors").id == 1
    assert choose_file(files, fp="fp32").id == 1
    with pytest.raises(FileChoiceError, match="a_fp16"):
        choose_file(files, name="nope.safetensors")
    with pytest.raises(FileChoiceError):
        choose_file(files, file_format="GGUF")
    with pytest.raises(FileChoiceError):
        choose_file(())


@pytest.mark.parametrize("text, expected", [
    ("SDXL 1.0", "SDXL 1.0"), ("Flux.1 D", "Flux.1 D"), ("../..", "_"), ("..", "unknown"), ("", "unknown"),
    ("a/b\\c:d*e?f", "a_b_c_d_e_f"), ("CON", "_CON"), ("nul.txt", "_nul.txt"), ("x\x00y\ny", "x_y_y"), (" .hidden. ", "hidden"),
])
def test_safe_component(text: str, expected: str) -> None:
    assert safe_component(text) == expected


def test_safe_file_name_keeps_a_model_suffix_and_bounds_length() -> None:
    assert safe_file_name("../../etc/passwd", 5) == "passwd.safetensors"
    assert safe_file_name("C:\\x\\y.ckpt", 5) == "y.ckpt"
    long = safe_file_name("a" * 500 + ".safetensors", 5)
    assert len(long) <= 120 and long.endswith(".safetensors")


def test_target_folder_stays_inside_the_root(tmp_path: Path) -> None:
    assert target_folder(tmp_path, "SDXL 1.0") == tmp_path / "SDXL 1.0"
    assert target_folder(tmp_path, "../../x") == tmp_path / "unknown" / "unknown" / "x"
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(UnsafePathError):
        target_folder(tmp_path, "link/etc")


def test_sniff() -> None:
    header = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    assert sniff_model(struct.pack("<Q", len(header)) + header) is Sniffed.SAFETENSORS
    assert sniff_model(b"PK\x03\x04rest") is Sniffed.ZIP_CHECKPOINT
    assert sniff_model(b"\x80\x02}q\x00") is Sniffed.PICKLE
    assert sniff_model(b"GGUF\x03\x00") is Sniffed.GGUF
    assert sniff_model(b"\n  <!DOCTYPE html><html>") is Sniffed.HTML
    assert sniff_model(b'{"error":"Unauthorized"}') is Sniffed.JSON
    assert sniff_model(b"") is Sniffed.EMPTY
    assert sniff_model(b"hello world") is Sniffed.UNKNOWN
    assert not Sniffed.HTML.is_model and Sniffed.SAFETENSORS.is_model
