"""Repository of `import_folder` (m0004): the fingerprints that let a re-import skip unchanged
folders whole, and the queries that give such a folder's share of the report.

A folder whose fingerprint still matches was walked and stored completely by an earlier run, so
what the report says of it follows from its stored rows: its groups in `import_source` (status,
issues) and its model files in `library_file` (orphans, broken files). Those are read here in a few
aggregate queries instead of being rebuilt, file by file, in Python. Folder lists travel as one JSON
parameter (`json_each`), which has no limit on the number of folders.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from peewee import chunked

from lora_manager_gui.core.discovery import FolderPrint
from lora_manager_gui.core.records import STATUS_NOT_A_SIDECAR, STATUS_NOT_ON_CIVITAI
from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.db.fields import to_utc_text, utc_now
from lora_manager_gui.db.models import ImportFolder

CHUNK_ROWS = 400

# The message store_orphans gives a model file found broken before and unchanged since.
BROKEN_BEFORE = "the model file was found broken by an earlier import and has not changed since"


def root_and_folders(sql: str, root: str, folders: list[str] | None, column: str = "folder") -> tuple[str, tuple[str, ...]] | None:
    """`sql` (ending in a WHERE on root) narrowed to `folders` when given: the statement and its
    parameters, or None when the list is empty (nothing to read)."""
    if folders is None:
        return sql, (root,)
    if not folders:
        return None
    return f"{sql} AND {column} IN (SELECT value FROM json_each(?))", (root, json.dumps(folders))


class StoredFolder(NamedTuple):
    fingerprint: str
    files: int
    models: int


def _db():  # noqa: ANN202 (peewee's database behind the proxy)
    return ImportFolder._meta.database


def load_folders(root: str) -> dict[str, StoredFolder]:
    """Every fingerprinted folder of `root`, by absolute path."""
    cursor = _db().execute_sql("SELECT path, fingerprint, files, models FROM import_folder WHERE root = ?", (root,))
    return {path: StoredFolder(fp, files, models) for path, fp, files, models in cursor}


def save_folders(root: str, prints: Iterable[FolderPrint], forget: Iterable[str]) -> None:
    """Store the fingerprints of the folders a completed run found self-contained and drop those of
    `forget` (changed so they no longer qualify, or gone). Call inside the caller's transaction."""
    now = to_utc_text(utc_now())
    db = _db()
    db.cursor().executemany(
        "INSERT INTO import_folder (path, root, rel_path, fingerprint, files, models, checked_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET root = excluded.root,"
        " rel_path = excluded.rel_path, fingerprint = excluded.fingerprint, files = excluded.files,"
        " models = excluded.models, checked_at = excluded.checked_at",
        [(p.path, root, p.rel_path, p.fingerprint, p.files, p.models, now) for p in prints],
    )
    for batch in chunked(list(forget), CHUNK_ROWS):
        ImportFolder.delete().where(ImportFolder.path.in_(batch)).execute()


def forget_root(root: str) -> None:
    """Drop every fingerprint of `root` (a run that re-reads everything)."""
    ImportFolder.delete().where(ImportFolder.root == root).execute()


@dataclass
class FolderShare:
    """What the skipped folders add to a run's report, as read back from the database."""

    unchanged: int = 0
    sidecar_groups: int = 0
    not_sidecars: int = 0
    not_on_civitai: int = 0
    errors: list[ItemProblem] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)


def _issues(text: str | None) -> list[ItemProblem]:
    if not text or text == "[]":
        return []
    return [
        ItemProblem(i.get("path", ""), ProblemKind.parse(i.get("class", "unreadable")), i.get("message", ""))
        for i in json.loads(text)
        if isinstance(i, dict)
    ]


def folder_share(root: str, folders: dict[str, str], whole_root: bool = False, orphans: bool = True) -> FolderShare:
    """The report's share of `folders` (absolute path -> path relative to root), exactly as a walk
    and comparison of every file would give it for folders that did not change:

    - each stored group counts as unchanged, with the issues stored for it;
    - a model file of a group not on CivitAI is an orphan;
    - a model file no group claims is an orphan, or an error if it was found broken.

    `whole_root`: these are all the folders of the root that have rows (no folder filter needed).
    Without `orphans`, only the broken files are read of the model files (the caller reads the
    orphans of the whole run at its end: library_files.orphan_paths). One aggregate pass over the groups; the rows behind a non-zero count are fetched only then."""
    share = FolderShare()
    if not folders:
        return share
    db = _db()
    if whole_root:
        src_where, file_where = "root = ?", "f.root = ?"
        src_params: tuple[str, ...] = (root,)
        file_params: tuple[str, ...] = (root,)
    else:
        src_where = "root = ? AND folder IN (SELECT value FROM json_each(?))"
        file_where = "f.root = ? AND f.folder IN (SELECT value FROM json_each(?))"
        src_params = (root, json.dumps(sorted(folders)))
        file_params = (root, json.dumps(sorted(set(folders.values()))))
    with_issues = no_civitai_models = 0
    for status, count, with_model, issued in db.execute_sql(
        f"SELECT status, COUNT(*), COUNT(model_path), TOTAL(issues <> '[]') FROM import_source WHERE {src_where}"
        " GROUP BY status",
        src_params,
    ):
        share.unchanged += count
        with_issues += int(issued)
        if status == STATUS_NOT_A_SIDECAR:
            share.not_sidecars += count
        else:
            share.sidecar_groups += count
        if status == STATUS_NOT_ON_CIVITAI:
            no_civitai_models += with_model
    share.not_on_civitai = no_civitai_models
    if with_issues:
        for (issues,) in db.execute_sql(
            f"SELECT issues FROM import_source WHERE {src_where} AND issues <> '[]' ORDER BY key", src_params
        ):
            share.errors.extend(_issues(issues))
    if no_civitai_models and orphans:
        for (path,) in db.execute_sql(
            f"SELECT model_path FROM import_source WHERE {src_where} AND status = ? AND model_path IS NOT NULL",
            (*src_params, STATUS_NOT_ON_CIVITAI),
        ):
            share.orphans.append(path)
    for path, problem in db.execute_sql(
        f"SELECT f.path, f.problem FROM library_file AS f WHERE {file_where} AND f.missing = 0"
        + (" AND (f.problem IS NOT NULL OR f.adapter_id IS NULL)" if orphans else " AND f.problem IS NOT NULL") +
        " AND NOT EXISTS (SELECT 1 FROM import_source AS s WHERE s.model_path = f.path) ORDER BY f.path",
        file_params,
    ):
        if problem:
            share.errors.append(ItemProblem(path, ProblemKind.parse(problem), BROKEN_BEFORE))
        else:
            share.orphans.append(path)
    return share


def move_folders(root: str, folders: list[tuple[str, str]]) -> None:
    """The groups of whole folders (old, new) moved outside the app that no model file moved with
    (failed groups, metadata without a model): their keys and folder follow, through a temporary
    table of the pairs. Groups keyed by their model file were re-keyed with it
    (file_rows.apply_moves). Call inside a transaction."""
    db = _db()
    db.execute_sql("CREATE TEMP TABLE IF NOT EXISTS moved_folders (old TEXT PRIMARY KEY, new TEXT NOT NULL)")
    db.execute_sql("DELETE FROM moved_folders")
    for batch in chunked(folders, 400):
        db.execute_sql("INSERT INTO moved_folders VALUES " + ",".join(["(?,?)"] * len(batch)), [v for pair in batch for v in pair])
    db.execute_sql("DELETE FROM import_source WHERE key IN (SELECT m.new || substr(s.key, length(m.old) + 1) "
                   "FROM import_source s JOIN moved_folders m ON s.folder = m.old WHERE s.root = ?)", (root,))
    db.execute_sql("UPDATE import_source SET key = m.new || substr(import_source.key, length(m.old) + 1), folder = m.new "
                   "FROM moved_folders m WHERE import_source.root = ? AND import_source.folder = m.old", (root,))
    db.execute_sql("DELETE FROM moved_folders")
