"""The importer's chunk write: the groups of a chunk stored in one transaction (adapters, their
model files, the import's bookkeeping), with the values checked at the boundary (db/import_rows).

- `store_items` converts parsed items to the column values stored (pure: it runs where the chunk
  was parsed, a worker process for large imports). A row whose values SQLite cannot hold (a
  number beyond 64 bits, NaN or an infinity, a lone surrogate) is not written: its group is
  stored as failed, with an `invalid_metadata` problem.
- `store_import_chunk` settles duplicates and ids and runs the statements. A chunk whose write
  fails on a row nonetheless is rolled back, split in halves and retried, down to single rows,
  so one row never takes its neighbours with it; the row that still fails becomes a problem.
- Duplicates: a second file claiming a (name, version) is not merged; its `library_file` row is
  linked to the kept adapter. Which file is kept does not depend on the order chunks are stored
  in: see db/import_duplicates.py.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

import orjson
import peewee
from peewee import chunked

from lora_manager_gui.core.records import (
    INVALID_METADATA,
    STATUS_DUPLICATE,
    STATUS_FAILED,
    DuplicateClaim,
    ImportItem,
    coverage_mask,
    reduce_named_tuple,
)
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.db import hash_cache, import_sources, library_files
from lora_manager_gui.db.adapters import CHUNK_ROWS, _UPSERT, _adapter_rows
from lora_manager_gui.db.fields import json_text, to_utc_text, utc_now
from lora_manager_gui.db.import_rows import RowGuard, display_text
from lora_manager_gui.db.models import Adapter

ADAPTER_GUARD = RowGuard(_UPSERT)
FILE_GUARD = RowGuard(library_files._UPSERT_LINK)

# Errors of a statement that come from the values of its rows (split the chunk and retry), as
# opposed to the database itself (locked, full, gone: the run cannot go on).
_ROW_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
    peewee.IntegrityError, peewee.DataError, peewee.InterfaceError, peewee.ProgrammingError,
    OverflowError, UnicodeError,  # an int beyond 64 bits, text that cannot be encoded (at the bind)
)


def is_row_error(exc: BaseException) -> bool:
    if isinstance(exc, _ROW_ERRORS):
        return True
    # json_patch() of a malformed document (an 'extra' holding NaN written by the standard library)
    return isinstance(exc, (sqlite3.OperationalError, peewee.OperationalError)) and "malformed" in str(exc)


@dataclass
class ChunkOutcome:
    imported: int = 0
    updated: int = 0
    duplicates: list[DuplicateClaim] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)  # coverage_mask of each row imported or updated
    problems: list[ItemProblem] = field(default_factory=list)  # rows refused at the boundary
    # Duplicates of a claim made earlier in this run, with the values to write should they win
    # (settle_duplicates, at the end of the run).
    contested: list[StoreItem] = field(default_factory=list)

    def add(self, other: ChunkOutcome) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.duplicates.extend(other.duplicates)
        self.filled.extend(other.filled)
        self.problems.extend(other.problems)
        self.contested.extend(other.contested)


AdapterKeys = dict[tuple[str, str], tuple[int, "str | None"]]


class StoreItem(NamedTuple):
    """One group of sidecars ready to store: its rows already converted to column values. Built
    where the group was parsed (store_items, in a worker process for large imports), so the
    database thread only decides duplicates and ids and runs the statements; a tuple of plain
    values is also far cheaper to send between processes than the records it comes from."""

    key: str
    signature: str
    status: str
    previous_adapter_id: int | None
    model_path: str | None  # the model file of the group, when there is one
    name: str | None  # name, version, file_path, json_file_path: of the adapter row, if any
    version: str | None
    file_path: str | None
    json_file_path: str | None
    adapter_row: list[Any] | None  # values for _UPSERT, or None when nothing could be imported
    file_row: list[Any] | None  # values for library_files' upsert (adapter id set at store time)
    source_row: list[Any]  # values for import_sources' upsert (adapter id and status set at store time)
    filled: int  # coverage_mask of the record
    seed: tuple[str, int, int, str] | None = None  # (path, size, mtime_ns, sha256) a sidecar knows: hash_cache

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_named_tuple(self)


def store_items(items: list[ImportItem], problems: list[ItemProblem] | None = None) -> list[StoreItem]:
    """Convert import items to the values the chunk write stores. Pure: no database access.
    A group whose adapter row holds a NaN or an infinity is stored as failed, its problem added to
    `problems` (and to the group's stored issues)."""
    now = to_utc_text(utc_now())
    records = [i.record for i in items if i.record is not None]
    adapter_rows = _adapter_rows(records, now)  # type: ignore[arg-type]
    files = [i.model_file for i in items if i.model_file is not None]
    file_rows = library_files.file_rows(files, now)  # type: ignore[arg-type]
    if ADAPTER_GUARD.rejects(adapter_rows):  # rare: a NaN or an infinity; those groups fail, the rest are stored
        items = _refuse_rows(items, adapter_rows, problems)
        records = [i.record for i in items if i.record is not None]
        adapter_rows = _adapter_rows(records, now)  # type: ignore[arg-type]
    source_rows = import_sources.source_rows(items, now)
    adapter_iter, file_iter = iter(adapter_rows), iter(file_rows)
    out: list[StoreItem] = []
    for item, source_row in zip(items, source_rows):
        rec = item.record
        out.append(StoreItem(
            key=item.key,
            signature=item.signature,
            status=item.status,
            previous_adapter_id=item.previous_adapter_id,
            model_path=item.model_file.path if item.model_file else None,
            name=rec.name if rec else None,
            version=rec.version if rec else None,
            file_path=rec.file_path if rec else None,
            json_file_path=rec.json_file_path if rec else None,
            adapter_row=next(adapter_iter) if rec else None,
            file_row=next(file_iter) if item.model_file else None,
            source_row=source_row,
            filled=coverage_mask(rec) if rec else 0,
            seed=_seed(item),
        ))
    return out


def _seed(item: ImportItem) -> tuple[str, int, int, str] | None:
    """The hash cache entry a sidecar's SHA-256 gives the group's model file (Stability Matrix,
    Lora Manager): that file is then not hashed to be identified. Only for a group that imported."""
    sha, model = item.file_sha256, item.model_file
    if not sha or model is None or item.status == "failed":
        return None
    return (model.path, model.size_bytes, model.mtime_ns, sha)


def _refuse_rows(items: list[ImportItem], adapter_rows: list[list[Any]],
                 problems: list[ItemProblem] | None) -> list[ImportItem]:
    """The items with those whose adapter row cannot be stored made failed groups (a problem each)."""
    out: list[ImportItem] = []
    adapter_iter = iter(adapter_rows)
    for item in items:
        adapter_row = next(adapter_iter) if item.record is not None else None
        reason = ADAPTER_GUARD.row_problem(adapter_row) if adapter_row is not None else None
        if reason is not None:
            where = item.record.json_file_path or item.key  # type: ignore[union-attr]
            problem = ItemProblem(display_text(where), INVALID_METADATA, f"the metadata cannot be stored: {reason}")
            item = ImportItem(**{**item.__dict__, "record": None, "status": STATUS_FAILED, "issues": [*item.issues, problem]})
            if problems is not None:
                problems.append(problem)
        out.append(item)
    return out


def load_adapter_keys() -> AdapterKeys:
    """(name, version) -> (id, file_path) of every adapter, in one query (the importer's run cache)."""
    # A page of keys is one row (a JSON array): fetching row by row gives up the GIL at each row
    # and waits to get it back (see store_import_chunk). Pages, not one document: decoding 100,000
    # keys at once would hold the GIL (and so the UI) for ~0.1 s.
    db = Adapter._meta.database
    out: AdapterKeys = {}
    last = 0
    while True:
        (page,) = db.execute_sql(
            "SELECT json_group_array(json_array(name, version, id, file_path)) FROM"
            " (SELECT name, version, id, file_path FROM adapter WHERE id > ? ORDER BY id LIMIT ?)",
            (last, KEY_PAGE_ROWS),
        ).fetchone()
        rows = orjson.loads(page)
        for name, version, aid, path in rows:
            out[(name, version)] = (aid, path)
        if len(rows) < KEY_PAGE_ROWS:
            return out
        last = rows[-1][2]


KEY_PAGE_ROWS = 5000


def max_adapter_id() -> int:
    """The highest adapter id now: rows above it are the ones inserted after this call."""
    return int(Adapter._meta.database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM adapter").fetchone()[0])


def store_import_chunk(
    items: list[ImportItem] | list[StoreItem],
    *,
    present: Callable[[str], bool],
    claims: dict[tuple[str, str], str],
    existing: AdapterKeys | None = None,
) -> ChunkOutcome:
    """Write one chunk of import results in ONE transaction: adapters, their files, bookkeeping.

    `present(path)` tells whether a model file exists now (a stored row whose file is gone may be
    taken over by a moved file); `claims` maps (name, version) to the model file that claimed it
    earlier in this run, so a second file claiming the same key is a duplicate, never merged.
    `existing` is the run's cache of stored keys (load_adapter_keys), kept up to date here; without
    it the keys of this chunk are looked up. A write that fails on the values of a row is retried
    in halves; `claims` and `existing` then hold only what was committed.
    """
    problems: list[ItemProblem] = []
    plain = [i for i in items if not isinstance(i, StoreItem)]
    converted = iter(store_items(plain, problems))  # type: ignore[arg-type]
    rows = [i if isinstance(i, StoreItem) else next(converted) for i in items]
    keyed = [r for r in rows if r.adapter_row is not None]
    if existing is None:
        existing = _keys_for_names(sorted({r.name for r in keyed}))  # type: ignore[misc]
    outcome = _store_halves(rows, present, claims, existing)
    outcome.problems[:0] = problems
    return outcome


def _store_halves(rows: list[StoreItem], present: Callable[[str], bool], claims: dict[tuple[str, str], str],
                  existing: AdapterKeys) -> ChunkOutcome:
    claimed_before = len(claims)
    renamed: list[tuple[tuple[str, str], tuple[int, str | None] | None]] = []
    try:
        return _store_rows(rows, present, claims, existing, renamed)
    except Exception as exc:
        if not is_row_error(exc):
            raise
        # Rolled back: forget the claims and renames of the attempt (claims only grow, in order).
        for key in list(islice(reversed(claims), len(claims) - claimed_before)):
            del claims[key]
        for key, old in reversed(renamed):
            if old is None:
                existing.pop(key, None)
            else:
                existing[key] = old
        if len(rows) == 1:
            return _store_refused(rows[0], exc, present, claims, existing)
        middle = len(rows) // 2
        outcome = _store_halves(rows[:middle], present, claims, existing)
        outcome.add(_store_halves(rows[middle:], present, claims, existing))
        return outcome


def _store_refused(row: StoreItem, exc: BaseException, present: Callable[[str], bool],
                   claims: dict[tuple[str, str], str], existing: AdapterKeys) -> ChunkOutcome:
    """The one row of a chunk that SQLite refused: its group stored as failed, with the problem
    (when even that cannot be stored, nothing of it is)."""
    where = row.json_file_path or row.key
    reason = (ADAPTER_GUARD.row_problem(row.adapter_row) if row.adapter_row is not None else None) \
        or (FILE_GUARD.row_problem(row.file_row) if row.file_row is not None else None) or display_text(str(exc))
    problem = ItemProblem(display_text(where), ProblemKind.INVALID_METADATA,
                          f"the metadata cannot be stored in the library: {reason}")
    source_row = list(row.source_row)
    at = import_sources.SourceColumn.issues
    try:  # the standard library reads text with lone surrogates (orjson refuses it)
        issues = [{k: display_text(v) if isinstance(v, str) else v for k, v in i.items()}
                  for i in json.loads(source_row[at] or "[]") if isinstance(i, dict)]
    except ValueError:
        issues = []
    issues.append(problem.to_json())
    source_row[at] = json_text(issues)
    failed = row._replace(status=STATUS_FAILED, adapter_row=None, name=None, version=None, source_row=source_row)
    try:
        outcome = _store_rows([failed], present, claims, existing, [])
    except Exception as again:
        if not is_row_error(again):
            raise
        outcome = ChunkOutcome()
    outcome.problems.append(problem)
    return outcome


def _store_rows(rows: list[StoreItem], present: Callable[[str], bool], claims: dict[tuple[str, str], str],
                existing: AdapterKeys, renamed: list[tuple[tuple[str, str], tuple[int, str | None] | None]]) -> ChunkOutcome:
    db = Adapter._meta.database
    outcome = ChunkOutcome()
    keyed = [r for r in rows if r.adapter_row is not None]
    with db.atomic():
        max_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM adapter").fetchone()[0]
        to_write: list[StoreItem] = []
        final: dict[str, tuple[int | None, str]] = {}
        duplicates: list[StoreItem] = []
        for item in keyed:
            key = (item.name, item.version)
            model_path = item.model_path or item.file_path or ""
            earlier = claims.get(key)  # type: ignore[arg-type]
            stored = existing.get(key)  # type: ignore[arg-type]
            kept = None
            if earlier is not None and earlier != model_path:
                kept = earlier
                outcome.contested.append(item)
            elif stored is not None and stored[1] and stored[1] != model_path and present(stored[1]):
                kept = stored[1]
            if kept is not None:
                outcome.duplicates.append(DuplicateClaim(item.name, item.version, kept, model_path, item.json_file_path))  # type: ignore[arg-type]
                duplicates.append(item)
                continue
            claims[key] = model_path  # type: ignore[index]
            if stored is None and item.previous_adapter_id is not None:
                _rename_previous(item.previous_adapter_id, item.name, item.version, existing, renamed)  # type: ignore[arg-type]
            to_write.append(item)
        if to_write:
            _UPSERT.run([item.adapter_row for item in to_write])  # type: ignore[misc]
        # AUTOINCREMENT ids only grow and this thread is the only writer: new rows are those above max_id.
        # One row (a JSON array) rather than a row per adapter: each row fetched is a step that
        # gives up the GIL, and the walk's thread takes it every time (see db/bulk.py).
        (found,) = db.execute_sql(
            "SELECT json_group_array(json_array(id, name, version)) FROM adapter WHERE id > ?", (max_id,)
        ).fetchone()
        new_ids = {(name, version): aid for aid, name, version in orjson.loads(found)}
        written: AdapterKeys = {}  # into `existing` once every statement of the chunk has run
        for item in to_write:
            key = (item.name, item.version)
            stored = existing.get(key)  # type: ignore[arg-type]
            if stored is not None and key not in new_ids:
                adapter_id = stored[0]
                outcome.updated += 1
            else:
                adapter_id = new_ids.get(key)  # type: ignore[arg-type]
                outcome.imported += 1
            written[key] = (adapter_id or 0, item.file_path)  # type: ignore[index]
            final[item.key] = (adapter_id, item.status)
            outcome.filled.append(item.filled)
        for item in duplicates:  # linked to the kept adapter, stored before or in this very chunk
            key = (item.name, item.version)
            kept_row = written.get(key) or existing.get(key)  # type: ignore[arg-type]
            final[item.key] = (kept_row[0] if kept_row else None, STATUS_DUPLICATE)
        linked, unlinked = [], []
        sources = []
        for item in rows:
            adapter_id, status = final.get(item.key, (None, item.status))
            if item.file_row is not None:
                file_row = list(item.file_row)
                if adapter_id is not None:
                    file_row[library_files.ADAPTER_AT] = adapter_id
                    linked.append(file_row)
                else:
                    unlinked.append(file_row)
            source_row = list(item.source_row)
            source_row[import_sources.ADAPTER_AT] = adapter_id
            source_row[import_sources.STATUS_AT] = status
            sources.append(source_row)
        library_files.upsert_file_rows(linked, link=True)
        library_files.upsert_file_rows(unlinked, link=False)
        import_sources.upsert_source_rows(sources)
        seeds = [item.seed for item in rows if item.seed is not None]
        if seeds:
            hash_cache.seed_from_sidecars(seeds)
    existing.update(written)
    return outcome


def _keys_for_names(names: list[str]) -> AdapterKeys:
    out: AdapterKeys = {}
    for batch in chunked(names, CHUNK_ROWS):
        for aid, name, version, path in (
            Adapter.select(Adapter.id, Adapter.name, Adapter.version, Adapter.file_path)
            .where(Adapter.name.in_(batch))
            .tuples()
        ):
            out[(name, version)] = (aid, path)
    return out


def _rename_previous(previous_id: int, name: str, version: str, existing: AdapterKeys,
                     renamed: list[tuple[tuple[str, str], tuple[int, str | None] | None]]) -> None:
    """The group's sidecars now name another (name, version): rename its row, keeping user state."""
    prev = Adapter.get_or_none(Adapter.id == previous_id)
    if prev is None:
        return
    Adapter.update(name=name, version=version).where(Adapter.id == previous_id).execute()
    renamed.append(((name, version), existing.get((name, version))))
    renamed.append(((prev.name, prev.version), existing.get((prev.name, prev.version))))
    existing[(name, version)] = (previous_id, prev.file_path)
    existing.pop((prev.name, prev.version), None)
