"""The download queue, kept in the library (migration m0006). Run on the database thread.

A row is one file of one CivitAI version on its way to one folder. The queue is what survives a
restart: a row left `running` by a process that died is `queued` again when the next one starts
(`requeue_interrupted`), and its `.part` file and `bytes_done` let the transfer resume.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from peewee import IntegerField, TextField

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, utc_now
from lora_manager_gui.db.models import BaseModel


class DownloadStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Still to be finished (a new request for the same file joins it)."""
        return self in (DownloadStatus.QUEUED, DownloadStatus.RUNNING, DownloadStatus.PAUSED, DownloadStatus.FAILED)


class DownloadRow(BaseModel):
    ref = TextField()
    model_id = IntegerField(null=True)
    version_id = IntegerField()
    file_id = IntegerField(null=True)
    file_name = TextField()
    model_name = TextField(default="")
    version_name = TextField(default="")
    base_model = TextField(null=True)
    dest_dir = TextField()
    dest_path = TextField(null=True)
    part_path = TextField()
    size_bytes = IntegerField(null=True)
    sha256 = TextField(null=True)
    bytes_done = IntegerField(default=0)
    etag = TextField(null=True)
    last_modified = TextField(null=True)
    status = TextField()
    problem = TextField(null=True)
    message = TextField(null=True)
    attempts = IntegerField(default=0)
    info = JSONField(null=True)  # the version object (with the model's creator, tags, description)
    created_at = UTCDateTimeField(default=utc_now)
    updated_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "download"


@dataclass(frozen=True, slots=True)
class DownloadItem:
    """One queued download as the services and views read it."""

    id: int
    ref: str
    version_id: int
    file_name: str
    dest_dir: str
    part_path: str
    status: DownloadStatus
    model_id: int | None = None
    file_id: int | None = None
    model_name: str = ""
    version_name: str = ""
    base_model: str | None = None
    dest_path: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    bytes_done: int = 0
    etag: str | None = None
    last_modified: str | None = None
    problem: str | None = None
    message: str | None = None
    attempts: int = 0
    info: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "ref": self.ref, "model_id": self.model_id, "version_id": self.version_id,
            "file_id": self.file_id, "file_name": self.file_name, "model_name": self.model_name,
            "version_name": self.version_name, "base_model": self.base_model, "dest_dir": self.dest_dir,
            "dest_path": self.dest_path, "size_bytes": self.size_bytes, "sha256": self.sha256,
            "bytes_done": self.bytes_done, "status": self.status.value, "problem": self.problem,
            "message": self.message, "attempts": self.attempts,
        }


_FIELDS = tuple(f for f in DownloadItem.__dataclass_fields__ if f not in ("id", "status"))


def _item(row: DownloadRow) -> DownloadItem:
    return DownloadItem(id=row.id, status=DownloadStatus(row.status), **{f: getattr(row, f) for f in _FIELDS})


def add(item: DownloadItem) -> DownloadItem:
    """Queue `item` (its id is ignored), unless an unfinished download of the same file to the same
    folder exists: then that one is queued again and returned."""
    existing = (DownloadRow.select()
                .where(DownloadRow.version_id == item.version_id, DownloadRow.file_name == item.file_name,
                       DownloadRow.dest_dir == item.dest_dir,
                       DownloadRow.status.in_([s.value for s in DownloadStatus if s.active]))
                .order_by(DownloadRow.id).first())
    if existing is not None:
        if existing.status != DownloadStatus.RUNNING:
            existing.status = DownloadStatus.QUEUED.value
            existing.updated_at = utc_now()
            existing.save()
        return _item(existing)
    values = {f: getattr(item, f) for f in _FIELDS}
    row = DownloadRow.create(status=DownloadStatus.QUEUED.value, **values)
    return _item(row)


def get(download_id: int) -> DownloadItem | None:
    row = DownloadRow.get_or_none(DownloadRow.id == download_id)
    return _item(row) if row else None


def list_items(statuses: Sequence[DownloadStatus] | None = None) -> list[DownloadItem]:
    query = DownloadRow.select().order_by(DownloadRow.id)
    if statuses:
        query = query.where(DownloadRow.status.in_([s.value for s in statuses]))
    return [_item(r) for r in query]


def update(item: DownloadItem, **changes: Any) -> DownloadItem:
    """Write `changes` to the row of `item`; returns the item as now stored."""
    new = replace(item, **changes)
    values = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in changes.items()}
    DownloadRow.update(updated_at=utc_now(), **values).where(DownloadRow.id == item.id).execute()
    return new


def set_status(download_id: int, status: DownloadStatus, *, only_from: Sequence[DownloadStatus] | None = None) -> bool:
    query = DownloadRow.update(status=status.value, updated_at=utc_now()).where(DownloadRow.id == download_id)
    if only_from:
        query = query.where(DownloadRow.status.in_([s.value for s in only_from]))
    return query.execute() > 0


def requeue_interrupted() -> int:
    """Rows left `running` by a process that ended without finishing them: queued again."""
    return (DownloadRow.update(status=DownloadStatus.QUEUED.value, updated_at=utc_now())
            .where(DownloadRow.status == DownloadStatus.RUNNING.value).execute())


def pending() -> list[DownloadItem]:
    """What a run takes on: queued, in order."""
    return list_items([DownloadStatus.QUEUED])


def library_roots() -> list[str]:
    """The roots the library has imported, oldest first (the first is where downloads go by
    default). A root inside another (a download folder imported on its own) is left out."""
    from lora_manager_gui.db.models import database_proxy

    rows = database_proxy.execute_sql(
        "SELECT root FROM library_file GROUP BY root ORDER BY MIN(first_seen_at), root").fetchall()
    extra = database_proxy.execute_sql("SELECT DISTINCT root FROM import_folder ORDER BY root").fetchall()
    roots = list(dict.fromkeys([r[0] for r in rows] + [r[0] for r in extra]))
    return [r for r in roots if not any(o != r and r.startswith(o.rstrip("/\\") + os.sep) for o in roots)]
