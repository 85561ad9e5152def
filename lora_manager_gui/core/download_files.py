"""The files of a CivitAI version as a download chooses among them, where one goes, and whether the
bytes that came are a model at all. Pure Python.

- `version_files(raw)`: the `files[]` of a version object as `RemoteFile`s (format, precision,
  size, exact byte count, SHA-256), untrusted entries dropped.
- `choose_file`: the primary file by default; a name, or the type/format/size/fp of a download
  URL, narrows the choice.
- `safe_component` / `target_folder`: a base model or file name made into one safe path component
  (no separators, no `..`, no control or reserved characters, bounded length), kept inside the root.
- `sniff_model`: what the first bytes say (a safetensors header, a zip or pickle checkpoint,
  GGUF) and the refusal of an HTML/JSON error page or an empty body.
"""
from __future__ import annotations

import os
import re
import struct
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

MODEL_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".gguf", ".sft")
MAX_COMPONENT_CHARS = 120
MAX_SAFETENSORS_HEADER = 100_000_000
_RESERVED = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_NAMES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a version as CivitAI lists it."""

    id: int | None
    name: str
    type: str  # Model, Pruned Model, VAE, Config, Training Data, ...
    format: str | None  # SafeTensor, PickleTensor, GGUF, ...
    fp: str | None  # fp16, bf16, fp32, ...
    size: str | None  # full, pruned
    size_bytes: int | None  # sizeKB * 1024, exact (CivitAI stores bytes / 1024)
    sha256: str | None  # upper-case hex
    primary: bool
    download_url: str | None

    @property
    def is_model(self) -> bool:
        return self.type in ("Model", "Pruned Model") or self.name.lower().endswith(MODEL_SUFFIXES)

    def describe(self) -> str:
        bits = [b for b in (self.format, self.fp, self.size) if b]
        size = f"{self.size_bytes / 1024 / 1024:,.1f} MiB" if self.size_bytes is not None else "size unknown"
        return f"{self.name} ({', '.join(bits + [size])}{', primary' if self.primary else ''})"


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _hex64(value: Any) -> str | None:
    text = _str(value)
    if text and len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.upper()
    return None


def version_files(raw: Mapping[str, Any]) -> tuple[RemoteFile, ...]:
    """The files of a version object (entries without a usable name are left out)."""
    files = raw.get("files") if isinstance(raw, Mapping) else None
    out: list[RemoteFile] = []
    for item in files if isinstance(files, list) else ():
        if not isinstance(item, dict) or not _str(item.get("name")):
            continue
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        hashes = item.get("hashes") if isinstance(item.get("hashes"), dict) else {}
        size_kb = item.get("sizeKB")
        size_bytes = None
        if type(size_kb) in (int, float) and 0 <= size_kb < 2**44:
            size_bytes = round(size_kb * 1024)
        file_id = item.get("id")
        out.append(RemoteFile(
            id=file_id if type(file_id) is int and file_id > 0 else None,
            name=str(item["name"]).strip(),
            type=_str(item.get("type")) or "Model",
            format=_str(meta.get("format")),
            fp=_str(meta.get("fp")),
            size=_str(meta.get("size")),
            size_bytes=size_bytes,
            sha256=_hex64(hashes.get("SHA256")),
            primary=item.get("primary") is True,
            download_url=_str(item.get("downloadUrl")),
        ))
    return tuple(out)


class FileChoiceError(ValueError):
    """No file of the version fits what was asked."""


def choose_file(files: Sequence[RemoteFile], *, name: str | None = None, file_type: str | None = None,
                file_format: str | None = None, size: str | None = None, fp: str | None = None) -> RemoteFile:
    """The file to download: by `name` when given; else the one matching the download URL's
    preferences; else the primary; else the first model file."""
    if not files:
        raise FileChoiceError("the version lists no files (it may be archived)")
    if name:
        for f in files:
            if f.name.lower() == name.lower() or str(f.id) == name:
                return f
        raise FileChoiceError(f"the version has no file named {name!r}; it has: "
                              + "; ".join(f.describe() for f in files))
    wanted = {"type": file_type, "format": file_format, "size": size, "fp": fp}
    if any(wanted.values()):
        for f in sorted(files, key=lambda f: not f.primary):
            have = {"type": f.type, "format": f.format, "size": f.size, "fp": f.fp}
            if all(v is None or (have[k] or "").lower() == v.lower() for k, v in wanted.items()):
                return f
        raise FileChoiceError("no file of the version has " + ", ".join(f"{k}={v}" for k, v in wanted.items() if v))
    for f in files:
        if f.primary:
            return f
    models = [f for f in files if f.is_model]
    if models:
        return models[0]
    raise FileChoiceError("the version lists no model file")


def safe_component(text: str, *, fallback: str = "unknown") -> str:
    """`text` as one file or folder name that stays where it is put on any system."""
    text = unicodedata.normalize("NFC", str(text))
    text = _RESERVED.sub("_", text).strip().strip(".").strip()
    text = re.sub(r"\s+", " ", text)
    if len(text) > MAX_COMPONENT_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 12:
            text = stem[: MAX_COMPONENT_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:MAX_COMPONENT_CHARS].rstrip()
    if not text or text in (".", "..") or text.split(".")[0].upper() in _WINDOWS_NAMES:
        return fallback if not text or text in (".", "..") else "_" + text
    return text


def safe_file_name(name: str, version_id: int) -> str:
    """A model file name from CivitAI's, with a model suffix (a name without one gets .safetensors)."""
    clean = safe_component(Path(name.replace("\\", "/")).name, fallback=f"civitai_{version_id}.safetensors")
    if not clean.lower().endswith(MODEL_SUFFIXES):
        clean += ".safetensors"
    return clean


class UnsafePathError(ValueError):
    """A target folder that would leave the library root."""


def target_folder(root: str | os.PathLike[str], subfolder: str | None) -> Path:
    """`root/<subfolder>`, every component made safe, and refused if it resolves outside `root`."""
    base = Path(os.path.abspath(root))
    target = base
    for part in (subfolder or "").replace("\\", "/").split("/"):
        if part.strip():
            target = target / safe_component(part)
    real_base = Path(os.path.realpath(base))
    real_target = Path(os.path.realpath(target))
    if real_target != real_base and real_base not in real_target.parents:
        raise UnsafePathError(f"{target} is outside the library root {base}")
    return target


class Sniffed(StrEnum):
    SAFETENSORS = "safetensors"
    ZIP_CHECKPOINT = "zip"  # torch.save since 1.6
    PICKLE = "pickle"
    GGUF = "gguf"
    HTML = "html"
    JSON = "json"
    EMPTY = "empty"
    UNKNOWN = "unknown"

    @property
    def is_model(self) -> bool:
        return self in (Sniffed.SAFETENSORS, Sniffed.ZIP_CHECKPOINT, Sniffed.PICKLE, Sniffed.GGUF)


def sniff_model(head: bytes) -> Sniffed:
    """What the first bytes of a file are (a few hundred bytes are enough)."""
    if not head:
        return Sniffed.EMPTY
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= MAX_SAFETENSORS_HEADER and head[8:9] in (b"{", b" "):
            return Sniffed.SAFETENSORS
    if head.startswith(b"PK\x03\x04"):
        return Sniffed.ZIP_CHECKPOINT
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return Sniffed.PICKLE
    if head.startswith(b"GGUF"):
        return Sniffed.GGUF
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<")):
        return Sniffed.HTML
    if text.startswith((b"{", b"[")):
        return Sniffed.JSON
    return Sniffed.UNKNOWN


def expected_kind(file_name: str) -> tuple[Sniffed, ...]:
    """What a file of this name must sniff as."""
    lower = file_name.lower()
    if lower.endswith((".safetensors", ".sft")):
        return (Sniffed.SAFETENSORS,)
    if lower.endswith(".gguf"):
        return (Sniffed.GGUF,)
    return (Sniffed.ZIP_CHECKPOINT, Sniffed.PICKLE, Sniffed.SAFETENSORS)
