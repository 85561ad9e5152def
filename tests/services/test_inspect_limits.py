"""Issue 13: inspect on special files and huge graphs, on real files and a real SQLite library.

A FIFO or a link to /dev/zero is refused before it is opened (never a hang, never an unbounded
read); a 100,000-node prompt (within the 200,000-node limit) resolves in batched queries, so the
number of database statements does not grow with the number of entries.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lora_manager_gui.core.records import LibraryFile
from lora_manager_gui.core.stacks import StackReadError, read_stack_file
from lora_manager_gui.core.stacks import reader as stack_reader
from lora_manager_gui.db import library_files
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import HashService
from lora_manager_gui.services.inspector import inspect_file

unix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@unix_only
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "stack.json"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    with pytest.raises(StackReadError) as caught:
        read_stack_file(fifo)
    assert caught.value.kind == "unreadable"
    assert "FIFO" in caught.value.reason


@unix_only
def test_a_fifo_swapped_in_after_the_check_does_not_hang(tmp_path: Path, monkeypatch) -> None:
    """The race: the path was a regular file when checked, a FIFO when opened (O_NONBLOCK + fstat)."""
    fifo = tmp_path / "stack.json"
    os.mkfifo(fifo)
    regular = tmp_path / "regular.json"
    regular.write_text("{}")
    real_stat = os.stat
    monkeypatch.setattr(stack_reader.os, "stat", lambda p, *a, **k: real_stat(regular) if str(p) == str(fifo)
                        else real_stat(p, *a, **k))
    with pytest.raises(StackReadError) as caught:
        read_stack_file(fifo)
    assert caught.value.kind == "unreadable"
    assert "FIFO" in caught.value.reason


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    link = tmp_path / "workflow.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(StackReadError) as caught:
        read_stack_file(link)
    assert caught.value.kind == "unreadable"
    assert "device" in caught.value.reason


def test_text_is_read_in_bounded_chunks(tmp_path: Path, monkeypatch) -> None:
    """A file that is larger than its size said when opened (it grows) stops at the limit."""
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b" " * 5000 + b"]")
    monkeypatch.setattr(stack_reader, "MAX_TEXT_FILE_BYTES", 10_000)
    monkeypatch.setattr(stack_reader, "READ_CHUNK", 1024)
    real_fstat = os.fstat

    class Shrunk:  # what fstat said before the file grew
        def __init__(self, st):
            self._st = st
            self.st_size = 10

        def __getattr__(self, name):
            return getattr(self._st, name)

    monkeypatch.setattr(stack_reader.os, "fstat", lambda fd: Shrunk(real_fstat(fd)))
    assert read_stack_file(big).entries == []
    big.write_bytes(b"[" + b" " * 20_000 + b"]")
    with pytest.raises(StackReadError) as caught:
        read_stack_file(big)
    assert caught.value.kind == "too_large"


@unix_only
def test_cli_inspect_of_a_fifo_exits_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "stack.json"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(tmp_path / "l.sqlite3"),
                           "inspect", str(fifo)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a regular file" in proc.stderr


def big_prompt(count: int, names: int) -> dict:
    """`count` chained LoraLoaderModelOnly nodes (of `names` distinct files) ending at a SaveImage."""
    prompt: dict = {"0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}}}
    for i in range(1, count + 1):
        prompt[str(i)] = {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": [str(i - 1), 0], "lora_name": f"set/lora_{i % names}.safetensors", "strength_model": 0.5}}
    prompt["out"] = {"class_type": "SaveImage", "inputs": {"images": [str(count), 0]}}
    return prompt


def test_a_huge_prompt_resolves_with_batched_queries(tmp_path: Path) -> None:
    root = tmp_path / "loras"
    (root / "set").mkdir(parents=True)
    db = DatabaseExecutor(tmp_path / "library.sqlite3")
    hasher = HashService(db, workers=2)
    try:
        records = []
        for i in range(50):
            path = root / "set" / f"lora_{i}.safetensors"
            path.write_bytes(b"x" * (100 + i))
            st = path.stat()
            records.append(LibraryFile(path=str(path), root=str(root), rel_path=f"set/lora_{i}.safetensors",
                                       size_bytes=st.st_size, mtime_ns=st.st_mtime_ns))
        db.call_sync(library_files.upsert_files, records, link=True)

        def statements_for(count: int) -> tuple[int, object]:
            source = tmp_path / f"prompt_{count}.json"
            source.write_text(json.dumps(big_prompt(count, 60)))
            statements = []
            database = db.call_sync(lambda: library_files.LibraryFileRow._meta.database.obj)
            real_execute = database.execute_sql

            def counting(sql, params=None, *args, **kwargs):
                statements.append(sql)
                return real_execute(sql, params, *args, **kwargs)

            db.call_sync(lambda: setattr(database, "execute_sql", counting))
            try:
                inspection = asyncio.run(inspect_file(db, hasher, source))
            finally:
                db.call_sync(lambda: setattr(database, "execute_sql", real_execute))
            return len([s for s in statements if s.lstrip().upper().startswith("SELECT")]), inspection

        small_count, _ = statements_for(200)
        large_count, inspection = statements_for(20_000)
        assert len(inspection.entries) == 20_000
        found = {item.entry.stem for item in inspection.entries if item.exists}
        assert found == {f"lora_{i}" for i in range(50)}
        assert large_count <= small_count + 10, (small_count, large_count)  # not one query per entry
    finally:
        hasher.close()
        db.close()
