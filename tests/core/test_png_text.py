"""PNG text chunks, WEBP/JPEG EXIF and A1111 infotext, on images made by the tests."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from lora_manager_gui.core.pngtext import MAX_TEXT_BYTES, read_png_text_bytes
from lora_manager_gui.core.stacks import StackReadError, read_stack_bytes, read_stack_file
from lora_manager_gui.core.stacks.a1111 import read_parameters

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"
PROMPT = {"1": {"class_type": "LoraLoader", "inputs": {
    "lora_name": "styles\\Ünï_style.safetensors", "strength_model": 0.75, "strength_clip": 0.5}}}


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png(*chunks: bytes, end: bool = True) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + b"".join(chunks) + (chunk(b"IEND", b"") if end else b"")


def ztxt(key: str, text: str) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(text.encode("latin-1")))


def itxt(key: str, text: str, compressed: bool = True) -> bytes:
    payload = zlib.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    flag = b"\x01\x00" if compressed else b"\x00\x00"
    return chunk(b"iTXt", key.encode() + b"\0" + flag + b"en\0" + "Prompt".encode() + b"\0" + payload)


def test_ztxt_and_compressed_itxt_chunks_after_idat_are_read() -> None:
    data = png(ztxt("workflow", json.dumps({"nodes": []})), itxt("prompt", json.dumps(PROMPT, ensure_ascii=False)))
    texts = read_png_text_bytes(data).texts
    assert json.loads(texts["prompt"]) == PROMPT
    result = read_stack_bytes(data, "made.png")
    assert result.format == "comfy_prompt"  # the prompt chunk wins over the workflow
    assert [(e.stem, e.strength, e.clip_strength) for e in result.entries] == [("Ünï_style", 0.75, 0.5)]


def test_workflow_chunk_is_used_when_there_is_no_prompt() -> None:
    workflow = {"nodes": [{"id": 3, "type": "LoraLoader", "mode": 0, "widgets_values": ["w.safetensors", 0.3, 1]}]}
    result = read_stack_bytes(png(itxt("workflow", json.dumps(workflow), compressed=False)), "w.png")
    assert [(e.stem, e.strength) for e in result.entries] == [("w", 0.3)]


def test_decompression_bomb_chunk_is_refused() -> None:
    bomb = zlib.compress(b"\0" * (MAX_TEXT_BYTES + 1024 * 1024), 9)
    assert len(bomb) < 100_000
    data = png(chunk(b"zTXt", b"prompt\0\0" + bomb))
    with pytest.raises(StackReadError) as info:
        read_stack_bytes(data, "bomb.png")
    assert info.value.kind == "too_large"
    assert "decompression bomb" in str(info.value)


def test_truncated_png_is_malformed_unless_text_came_first(tmp_path: Path) -> None:
    whole = png(chunk(b"tEXt", b"prompt\0" + json.dumps(PROMPT).encode()))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[:60])  # inside the IDAT chunk, before any text
    with pytest.raises(StackReadError) as info:
        read_stack_file(cut)
    assert info.value.kind == "malformed" and "truncated" in str(info.value)
    cut_after_text = whole[:-12 + 5]  # IEND cut short: the text is whole
    result = read_stack_bytes(cut_after_text, "late-cut.png")
    assert [e.stem for e in result.entries] == ["Ünï_style"]
    assert any("truncated" in w for w in result.warnings)


def test_bad_crc_and_broken_compressed_text_are_skipped_with_a_warning() -> None:
    bad_crc = chunk(b"tEXt", b"prompt\0{}")[:-4] + b"\0\0\0\0"
    broken = chunk(b"zTXt", b"workflow\0\0not zlib at all")
    good = chunk(b"tEXt", b"parameters\0a cat <lora:cat_style:0.6>\nSteps: 20, Seed: 1")
    result = read_stack_bytes(png(bad_crc, broken, good), "mixed.png")
    assert [(e.stem, e.strength) for e in result.entries] == [("cat_style", 0.6)]
    found = read_png_text_bytes(png(bad_crc, broken, good))
    assert len(found.warnings) == 2


def test_png_without_metadata_and_broken_json_chunk() -> None:
    with pytest.raises(StackReadError) as info:
        read_stack_bytes(png(), "plain.png")
    assert info.value.kind == "no_metadata"
    with pytest.raises(StackReadError) as info:
        read_stack_bytes(png(chunk(b"tEXt", b"prompt\0{\"1\": {")), "broken.png")
    assert info.value.kind == "malformed" and "JSON" in str(info.value)


def test_too_many_text_chunks_is_refused() -> None:
    many = [chunk(b"tEXt", f"k{i}\0v".encode()) for i in range(600)]
    with pytest.raises(StackReadError) as info:
        read_stack_bytes(png(*many), "many.png")
    assert info.value.kind == "too_large"


def test_comfy_and_a1111_fixture_pngs() -> None:
    comfy = read_stack_file(FORMATS / "comfy_output.png")
    assert [e.stem for e in comfy.entries] == ["pixel-art-xl-v1.1", "add-detail-xl", "knight_armor_v3", "ink_wash_v2"]
    a1111 = read_stack_file(FORMATS / "a1111_output.png")
    assert [(e.name, e.strength, e.hashes) for e in a1111.entries] == [
        ("tiny_test_lora", 0.8, {"autov3": "c338953e6f16"}), ("add_detail", 0.6, {"autov3": "7c6bad76eb54"})]


def test_a1111_text_rules() -> None:
    text = ('a <lora:Style A:0.8:0.4> and <lora:plain> again <lora:Style A:0.1>, x\n'
            'Negative prompt: <lora:neg_only:1>\n'
            'Steps: 20, Sampler: Euler, Lora hashes: "Style A: 0123456789ab, plain: ba9876543210", Version: 1')
    result = read_parameters(text, "p.txt")
    # A1111: first number is the text encoder, second the UNet (model); a repeated tag applies once.
    assert [(e.name, e.strength, e.clip_strength, e.hashes) for e in result.entries] == [
        ("Style A", 0.4, 0.8, {"autov3": "0123456789ab"}), ("plain", 1.0, 1.0, {"autov3": "ba9876543210"})]


def test_lora_n_fields_and_hashes_json() -> None:
    text = ('fox\nNegative prompt: 丑\nSteps: 4, Lora_0 Model name: turbo.safetensors, Lora_0 Model hash: '
            'abcdef0123, Lora_0 Strength model: 0.9, Lora_0 Strength clip: 1.0, '
            'Hashes: {"lora:turbo": "abcdef0123", "model": "1234567890"}')
    result = read_parameters(text, "p.txt")
    assert [(e.stem, e.strength, e.clip_strength, e.hashes) for e in result.entries] == [
        ("turbo", 0.9, 1.0, {"autov2": "abcdef0123"})]


def _tiff(entries: list[tuple[int, int, bytes]], exif_ifd: list[tuple[int, int, bytes]] | None = None) -> bytes:
    """A big-endian TIFF with IFD0 `entries` (and an Exif IFD), values stored after the IFDs."""
    ifd0_count = len(entries) + (1 if exif_ifd else 0)
    ifd0_size = 2 + 12 * ifd0_count + 4
    exif_offset = 8 + ifd0_size
    exif_size = (2 + 12 * len(exif_ifd) + 4) if exif_ifd else 0
    data_offset = exif_offset + exif_size
    blobs = b""

    def ifd(items, extra=None):
        nonlocal blobs
        out = struct.pack(">H", len(items) + (1 if extra is not None else 0))
        for tag, ftype, value in items:
            out += struct.pack(">HHII", tag, ftype, len(value), data_offset + len(blobs))
            blobs += value
        if extra is not None:
            out += struct.pack(">HHII", 0x8769, 4, 1, extra)
        return out + b"\0\0\0\0"

    first = ifd(entries, exif_offset if exif_ifd else None)
    second = ifd(exif_ifd) if exif_ifd else b""
    return b"MM\0*" + struct.pack(">I", 8) + first + second + blobs


def _webp(exif: bytes) -> bytes:
    body = b"WEBP" + b"VP8 " + struct.pack("<I", 4) + b"\0\0\0\0" + b"EXIF" + struct.pack("<I", len(exif)) + exif
    if len(exif) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("prefix", [b"", b"Exif\0\0"])
def test_webp_exif_with_and_without_header(prefix: bytes) -> None:
    tiff = _tiff([(0x010F, 2, b"workflow:" + json.dumps({"nodes": []}).encode() + b"\0"),
                  (0x0110, 2, b"prompt:" + json.dumps(PROMPT).encode() + b"\0")])
    result = read_stack_bytes(_webp(prefix + tiff), "anim.webp")
    assert result.format == "comfy_prompt"
    assert [e.stem for e in result.entries] == ["Ünï_style"]


def test_jpeg_user_comment_with_a1111_parameters() -> None:
    comment = b"UNICODE\0" + "cat <lora:jpeg_style:0.5>\nSteps: 20, Seed: 3".encode("utf-16-be")
    exif = b"Exif\0\0" + _tiff([(0x010E, 2, b"desc\0")], exif_ifd=[(0x9286, 7, comment)])
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    data = b"\xff\xd8" + app1 + b"\xff\xda\x00\x02" + b"\0" * 10 + b"\xff\xd9"
    result = read_stack_bytes(data, "photo.jpg")
    assert [(e.name, e.strength) for e in result.entries] == [("jpeg_style", 0.5)]
