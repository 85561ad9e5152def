"""A library written by schema version 3 (before folder fingerprints) opens with the current code:
its import bookkeeping gains each group's folder, and the next import is a full comparison that
changes nothing and stores the fingerprints."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from peewee import SqliteDatabase

from lora_manager_gui.db.database import close_database, open_database
from lora_manager_gui.db.migrations import MIGRATIONS
from lora_manager_gui.db.models import ImportFolder, ImportSource
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.importer import run_import


def downgrade_to_v3(path: Path) -> None:
    """Rebuild `path` as version 3 would have left it, keeping the rows of the tables v3 had."""
    conn = sqlite3.connect(path)
    keep = {
        table: (conn.execute(f"SELECT * FROM {table}").fetchall(), [c[1] for c in conn.execute(f"PRAGMA table_info({table})")])
        for table in ("adapter", "library_file", "import_source")
    }
    conn.close()
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = SqliteDatabase(str(path))
    for migration in MIGRATIONS[:3]:
        migration(db)
    db.execute_sql("PRAGMA user_version = 3")
    for table, (rows, columns) in keep.items():
        later = {"import_source": {"folder"}, "adapter": {"preview_images"},  # m0004, m0005
                 "library_file": {"offline", "fingerprint"}}.get(table, set())  # m0009
        old_columns = [c for c in columns if c not in later]
        index = [columns.index(c) for c in old_columns]
        cols = ", ".join(f'"{c}"' for c in old_columns)
        marks = ", ".join("?" for _ in old_columns)
        for row in rows:
            db.execute_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks})", [row[i] for i in index])
    db.close()


def test_v3_library_gains_group_folders_and_fingerprints(db_path: Path, lora_tree) -> None:
    lora_tree.civitai_model("a/m.json", "M")
    lora_tree.model("a/m.safetensors")
    lora_tree.civitai_model("b/c/n.json", "N")
    lora_tree.model("b/c/n.safetensors")
    db = DatabaseExecutor(db_path)
    asyncio.run(run_import(db, [lora_tree.root]))
    db.close()
    downgrade_to_v3(db_path)

    opened = open_database(db_path)
    try:
        folders = {s.key: s.folder for s in ImportSource.select()}
        assert folders == {
            str(lora_tree.root / "a") + "/m": str(lora_tree.root / "a"),
            str(lora_tree.root / "b/c") + "/n": str(lora_tree.root / "b/c"),
        }
        assert ImportFolder.select().count() == 0
    finally:
        close_database(opened)
    assert db_path.with_name(db_path.name + ".v3.bak").exists()

    db = DatabaseExecutor(db_path)
    try:
        report = asyncio.run(run_import(db, [lora_tree.root]))
        assert (report.unchanged, report.imported, report.updated) == (2, 0, 0)
        assert db.call_sync(lambda: ImportFolder.select().count()) == 4  # the root, a, b and b/c
    finally:
        db.close()
