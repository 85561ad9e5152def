"""A library written by the first schema version opens with the current code, rows intact."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from lora_manager_gui.db.database import close_database, open_database, schema_version
from lora_manager_gui.db.migrations import LATEST_VERSION, m0001_initial
from lora_manager_gui.db import adapters, library_files


def build_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    for statement in m0001_initial.STATEMENTS:
        conn.execute(statement)
    now = "2025-01-01T00:00:00.000000Z"
    conn.execute(
        "INSERT INTO adapter (name, version, tags, trained_words, triggers, weight, active, file_path, extra, created_at, updated_at,"
        " primary_file_sha256, base_model) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ("Old", "v1", '["a"]', '["w"]', '["w"]', 0.6, 1, "/lib/old.safetensors", '{"k": 1}', now, now, "AB" * 32, "SD 1.5"),
    )
    conn.execute(
        "INSERT INTO library_file (path, root, rel_path, rel_path_lower, stem_lower, folder, size_bytes, mtime_ns, adapter_id,"
        " first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        ("/lib/old.safetensors", "/lib", "old.safetensors", "old.safetensors", "old", "", 10, 5, 1, now, now),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_v1_file_migrates_without_losing_rows(db_path: Path) -> None:
    build_v1(db_path)
    db = open_database(db_path)
    try:
        assert schema_version(db) == LATEST_VERSION
        old = adapters.find_by_sha256("ab" * 32)
        assert (old.name, old.version, old.tags, old.weight, old.active, old.extra) == ("Old", "v1", ["a"], 0.6, True, {"k": 1})
        assert library_files.find_by_rel_path("OLD.safetensors")[0].adapter_id == old.id
    finally:
        close_database(db)
    if LATEST_VERSION > 1:
        assert db_path.with_name(db_path.name + ".v1.bak").exists()
