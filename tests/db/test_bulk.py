"""Multi-row bulk upserts (db/bulk.py) on a real library file."""
from __future__ import annotations

from lora_manager_gui.db import bulk
from lora_manager_gui.db.library_files import ADAPTER_AT, file_rows, upsert_file_rows
from lora_manager_gui.db.models import LibraryFile as LibraryFileRow
from lora_manager_gui.core.records import LibraryFile


def _file(i: int, size: int = 10) -> LibraryFile:
    return LibraryFile(path=f"/lib/f{i:05d}.safetensors", root="/lib", rel_path=f"f{i:05d}.safetensors",
                       size_bytes=size, mtime_ns=i, folder="", problem=None, external=False)


def test_rows_beyond_one_statement_are_all_stored_once(library_db, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "ROWS_PER_STATEMENT", 7)
    statements: list[str] = []
    library_db.connection().set_trace_callback(statements.append)
    rows = file_rows([_file(i) for i in range(23)])
    with library_db.atomic():
        upsert_file_rows(rows, link=True)
    library_db.connection().set_trace_callback(None)
    inserts = [s for s in statements if s.startswith('INSERT INTO "library_file"')]
    assert len(inserts) == 4  # 7 + 7 + 7 + 2 rows: one statement each, not one per row
    assert LibraryFileRow.select().count() == 23
    assert [f.path for f in LibraryFileRow.select().order_by(LibraryFileRow.id)] == [f"/lib/f{i:05d}.safetensors" for i in range(23)]


def test_conflicts_update_stored_rows_and_earlier_rows_of_the_same_call(library_db, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "ROWS_PER_STATEMENT", 4)
    with library_db.atomic():
        upsert_file_rows(file_rows([_file(i) for i in range(3)]), link=True)
    again = file_rows([_file(1, size=111), _file(5), _file(5, size=555), _file(2, size=222)])
    with library_db.atomic():
        upsert_file_rows(again, link=True)
    sizes = {f.path: f.size_bytes for f in LibraryFileRow.select()}
    assert sizes == {
        "/lib/f00000.safetensors": 10, "/lib/f00001.safetensors": 111, "/lib/f00002.safetensors": 222,
        "/lib/f00005.safetensors": 555,
    }


def test_the_statement_never_binds_more_variables_than_sqlite_allows(library_db) -> None:
    import sqlite3

    conn = library_db.connection()
    old = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # an SQLite older than 3.32
    try:
        rows = file_rows([_file(i) for i in range(300)])
        assert bulk.rows_per_statement(library_db, len(rows[0])) == 999 // len(rows[0])
        with library_db.atomic():
            upsert_file_rows(rows, link=False)
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, old)
    assert LibraryFileRow.select().count() == 300


def test_a_failing_row_leaves_nothing_of_its_transaction(library_db) -> None:
    import sqlite3

    import pytest

    rows = file_rows([_file(i) for i in range(10)])
    rows[6][ADAPTER_AT] = 424242  # no such adapter: the foreign key refuses the row
    with pytest.raises(sqlite3.IntegrityError):
        with library_db.atomic():
            upsert_file_rows(rows, link=True)
    assert LibraryFileRow.select().count() == 0
