from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lora_manager_gui.core.errors import UnreadableFileError
from lora_manager_gui.core.hashing import (
    HashingCancelledError,
    autov2,
    autov3_file,
    model_files_under,
    normalise_sha256,
    sha256_file,
)
from lora_manager_gui.core.safetensors import write_safetensors

TINY_SHA256 = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


def test_tiny_lora_test_vector(fixtures_dir: Path) -> None:
    path = fixtures_dir / "formats" / "tiny_test_lora.safetensors"
    assert sha256_file(path) == TINY_SHA256
    assert autov2(TINY_SHA256) == "4802E5DDCA"
    assert autov3_file(path) == "C338953E6F16"


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 4096 + 7])
def test_sha256_matches_hashlib_across_buffer_boundaries(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    path = tmp_path / "f.bin"
    path.write_bytes(data[:size])
    assert sha256_file(path, buffer_size=1024) == hashlib.sha256(data[:size]).hexdigest().upper()


def test_autov3_hashes_only_the_tensor_bytes(tmp_path: Path) -> None:
    a = write_safetensors(tmp_path / "a.safetensors", {"w": b"\x05" * 100}, {"ss_output_name": "a"})
    b = write_safetensors(tmp_path / "b.safetensors", {"w": b"\x05" * 100}, {"ss_output_name": "a much longer name"})
    assert sha256_file(a) != sha256_file(b)
    assert autov3_file(a) == autov3_file(b) == hashlib.sha256(b"\x05" * 100).hexdigest().upper()[:12]


def test_autov3_is_none_for_other_formats(tmp_path: Path) -> None:
    pt = tmp_path / "x.pt"
    pt.write_bytes(b"PK\x03\x04 pickle zip")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file at all")
    assert autov3_file(pt) is None
    assert autov3_file(broken) is None


def test_missing_file_is_an_unreadable_error(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError) as info:
        sha256_file(tmp_path / "gone.safetensors")
    assert "gone.safetensors" in str(info.value)


def test_cancel_stops_between_buffers(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * 10_000)
    reads: list[int] = []
    with pytest.raises(HashingCancelledError):
        sha256_file(path, buffer_size=1000, progress=reads.append, cancel=lambda: len(reads) >= 3)
    assert len(reads) == 3


def test_normalise_sha256() -> None:
    assert normalise_sha256(TINY_SHA256.lower()) == TINY_SHA256
    assert normalise_sha256("abc") is None
    assert normalise_sha256(None) is None
    assert normalise_sha256("Z" * 64) is None


def test_model_files_under_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.safetensors").write_bytes(b"1")
    (tmp_path / "a" / "y.PT").write_bytes(b"1")
    (tmp_path / "a" / "y.png").write_bytes(b"1")
    found = model_files_under(tmp_path)
    assert [Path(p).name for p in found] == ["x.safetensors", "y.PT"]
