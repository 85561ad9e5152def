"""Read any stack file: sniff what it is, parse it with hard limits, return its enabled entries.

Images (PNG/WEBP/JPEG): the `prompt` chunk (API) wins over `workflow` (UI), which wins over A1111
`parameters`; a Lora Manager recipe in EXIF comes last. JSON: a UI workflow, an API prompt (also
wrapped as `{"prompt": ...}`), or plain stack data. Text: A1111 infotext, or one LoRA name.
"""
from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import orjson

from lora_manager_gui.core.pngtext import PngText
from lora_manager_gui.core.stacks.gcpause import paused_gc
from lora_manager_gui.core.stacks.a1111 import lora_hashes, looks_like_parameters, read_parameters, split_infotext
from lora_manager_gui.core.stacks.comfy_prompt import is_api_prompt, read_api_prompt
from lora_manager_gui.core.stacks.comfy_workflow import is_ui_workflow, read_ui_workflow
from lora_manager_gui.core.stacks.images import is_jpeg, is_webp, read_image_texts
from lora_manager_gui.core.stacks.model import StackReadError, StackReadResult
from lora_manager_gui.core.stacks.names import MODEL_EXTENSIONS
from lora_manager_gui.core.stacks.walk import dedupe_on_reference, walk_stack_data
from lora_manager_gui.core.pngtext import is_png

MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024


def read_stack_file(path: str | os.PathLike[str]) -> StackReadResult:
    with paused_gc():
        return _read_stack_file(path)


def _read_stack_file(path: str | os.PathLike[str]) -> StackReadResult:
    """The enabled LoRAs of the stack file at `path`. Raises StackReadError for anything else.

    Only regular files are read: a FIFO, a device (a link to /dev/zero) or a socket is refused
    before it is opened, and the file is opened non-blocking and checked again on the open
    descriptor, so one swapped in between cannot hang the read. Text is read in bounded chunks up to
    the 64 MB limit, whatever size the file claims.
    """
    path = Path(path)
    source = str(path)
    try:
        _require_regular(os.stat(path), source)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as stream:
            _require_regular(os.fstat(stream.fileno()), source)
            head = stream.read(16)
            if is_png(head) or is_webp(head) or is_jpeg(head):
                stream.seek(0)
                return _from_image(stream, head, source)
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_TEXT_FILE_BYTES:
                raise StackReadError("too_large", source,
                                     f"{size:,} bytes is more than a stack file may hold ({MAX_TEXT_FILE_BYTES:,})")
            data = head + _read_bounded(stream, MAX_TEXT_FILE_BYTES - len(head), source)
    except IsADirectoryError:
        raise StackReadError("unreadable", source, "is a folder, not a file") from None
    except FileNotFoundError:
        raise StackReadError("unreadable", source, "no such file") from None
    except BlockingIOError:
        raise StackReadError("unreadable", source, "is not a regular file (reading it would block)") from None
    except OSError as exc:
        raise StackReadError("unreadable", source, f"cannot be read ({exc.strerror or exc})") from None
    return _from_text_bytes(data, source)


READ_CHUNK = 1024 * 1024


def _require_regular(st: os.stat_result, source: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(source)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "special")
        raise StackReadError("unreadable", source, f"is {kind}, not a regular file")


def _read_bounded(stream: Any, limit: int, source: str) -> bytes:
    """At most `limit` bytes, read in chunks; one byte more is `too_large` (a file that grows)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise StackReadError("too_large", source,
                                 f"is more than a stack file may hold ({MAX_TEXT_FILE_BYTES:,} bytes)")


def read_stack_bytes(data: bytes, filename: str = "<dropped data>") -> StackReadResult:
    """The same as read_stack_file, for bytes already in memory (drops, pasted data)."""
    with paused_gc():
        return _read_stack_bytes(data, filename)


def _read_stack_bytes(data: bytes, filename: str) -> StackReadResult:
    head = bytes(data[:16])
    if is_png(head) or is_webp(head) or is_jpeg(head):
        return _from_image(io.BytesIO(data), head, filename)
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise StackReadError("too_large", filename, f"{len(data):,} bytes is more than a stack file may hold")
    return _from_text_bytes(bytes(data), filename)


def read_stack_data(data: Any, source: str = "<stack>") -> StackReadResult:
    """Stack data already parsed (a WANVIDLORA list, a LORA_STACK, a workflow dict...)."""
    if is_ui_workflow(data):
        return read_ui_workflow(data, source)
    if isinstance(data, dict) and is_api_prompt(data.get("prompt")):
        return read_api_prompt(data["prompt"], source)
    if is_api_prompt(data):
        return read_api_prompt(data, source)
    if isinstance(data, dict) and is_ui_workflow(data.get("workflow")):
        return read_ui_workflow(data["workflow"], source)
    outcome = walk_stack_data(data, source)
    if not outcome.entries and (outcome.unrecognized or not outcome.containers):
        if isinstance(data, (list, tuple)) and not data:
            return StackReadResult(source=source, format="stack")
        raise StackReadError("not_a_stack", source, "names no LoRA: it is not a workflow, prompt or LoRA stack")
    return StackReadResult(source=source, format="stack", entries=dedupe_on_reference(outcome.entries))


def parse_json_text(text: str, source: str) -> Any:
    try:  # orjson first: a 100,000-node prompt (18 MB) reads in a quarter of json's time
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # NaN, Infinity, deep nesting: the standard library says which, as before
    try:
        return json.loads(text)
    except RecursionError:
        raise StackReadError("too_deep", source, "the JSON is nested too deeply to read") from None
    except ValueError as exc:
        raise StackReadError("malformed", source, f"is not valid JSON ({exc})") from None


def _from_text_bytes(data: bytes, source: str) -> StackReadResult:
    if len(data) >= 9 and data[8:9] == b"{" and source.lower().endswith(MODEL_EXTENSIONS):
        raise StackReadError("not_a_stack", source, "is a model file, not a stack")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StackReadError("malformed", source,
                             f"is neither an image nor UTF-8 text (bad byte at offset {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise StackReadError("not_a_stack", source, "is empty")
    if stripped[0] in "[{\"":
        return read_stack_data(parse_json_text(stripped, source), source)
    if looks_like_parameters(stripped):
        return read_parameters(stripped, source)
    if "\n" not in stripped and stripped.lower().endswith(MODEL_EXTENSIONS):
        return read_stack_data(stripped, source)
    raise StackReadError("not_a_stack", source, "is text with no LoRA tags or generation parameters")


def _from_image(stream: Any, head: bytes, source: str) -> StackReadResult:
    found: PngText = read_image_texts(stream, head, source)
    texts = found.texts
    result: StackReadResult | None = None
    problems: list[str] = []
    for key in ("prompt", "workflow"):
        if key in texts:
            try:
                data = parse_json_text(texts[key], f"{source} [{key}]")
                if key == "prompt" and is_api_prompt(data):
                    result = read_api_prompt(data, source)
                elif key == "workflow" and is_ui_workflow(data):
                    result = read_ui_workflow(data, source)
                else:
                    problems.append(f"the {key} text is not a ComfyUI {key}")
            except StackReadError as exc:
                if exc.kind in ("too_deep", "too_large"):
                    raise
                problems.append(exc.reason if key in exc.source else str(exc))
            if result is not None:
                break
    if result is None and "parameters" in texts:
        result = read_parameters(texts["parameters"], source)
    if result is None and "recipe" in texts:
        result = read_stack_data(parse_json_text(texts["recipe"], f"{source} [recipe]"), source)
    if result is None:
        if problems:
            raise StackReadError("malformed", source, "; ".join(problems))
        kind = "PNG" if is_png(head) else "WEBP" if is_webp(head) else "JPEG"
        raise StackReadError("no_metadata", source,
                             f"the {kind} image carries no ComfyUI or A1111 generation metadata")
    result.warnings = found.warnings + problems + result.warnings
    if "parameters" in texts and result.format != "a1111_parameters":
        _add_parameter_hashes(result, texts["parameters"])
    return result


def _add_parameter_hashes(result: StackReadResult, parameters: str) -> None:
    """Hashes from A1111-style text beside a ComfyUI prompt give the resolver more to match on."""
    hashes = lora_hashes(split_infotext(parameters)[2])
    for entry in result.entries:
        hint = hashes.get(entry.stem.lower())
        if hint and not entry.hashes:
            entry.hashes = dict(hint)
