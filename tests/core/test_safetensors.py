from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lora_manager_gui.core.errors import InvalidModelFileError, UnreadableFileError
from lora_manager_gui.core.safetensors import read_header, write_safetensors


def test_reads_the_real_tiny_lora(fixtures_dir: Path) -> None:
    header = read_header(fixtures_dir / "formats" / "tiny_test_lora.safetensors")
    assert header.header_length == 968
    assert header.data_offset == 976
    assert header.file_size == 1106
    assert header.metadata["sshs_model_hash"].startswith("c338953e6f16")
    assert header.tensors


def test_roundtrip_of_written_file(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "a.safetensors", {"w": b"\x01" * 10, "b": b"\x02" * 3}, {"ss_output_name": "a"})
    header = read_header(path)
    assert header.metadata == {"ss_output_name": "a"}
    assert set(header.tensors) == {"w", "b"}
    assert header.data_offset + 13 == path.stat().st_size


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 10**12) + b"{}", "out of range"),
        (struct.pack("<Q", 50) + b"{}", "truncated"),
        (struct.pack("<Q", 4) + b"nope", "not a JSON object"),
        (struct.pack("<Q", 5) + b"{\"a\":", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ],
)
def test_broken_files_are_classified(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(InvalidModelFileError, match=message) as info:
        read_header(path)
    assert info.value.error_class == "invalid_model_file"
    assert str(path) in str(info.value)


def test_truncated_data_buffer(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "t.safetensors", {"w": b"\x01" * 100})
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InvalidModelFileError, match="truncated"):
        read_header(path)


def test_bad_offsets(tmp_path: Path) -> None:
    raw = b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[5,1]}}'
    path = tmp_path / "o.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(InvalidModelFileError, match="data_offsets"):
        read_header(path)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError) as info:
        read_header(tmp_path / "gone.safetensors")
    assert info.value.error_class == "unreadable"
