"""Update checks kept in the library (migration m0006): per CivitAI model, when it was last checked,
the newest version then, and whether that is an update; the versions the user ignores. Run on
the database thread.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from peewee import BooleanField, IntegerField, TextField

from lora_manager_gui.db.fields import UTCDateTimeField, utc_now
from lora_manager_gui.db.models import BaseModel, database_proxy

CHUNK = 400


class UpdateStatus(StrEnum):
    UP_TO_DATE = "up_to_date"
    UPDATE_AVAILABLE = "update_available"
    NOT_FOUND = "not_found"  # no configured host shows the model
    FAILED = "failed"


class UpdateRow(BaseModel):
    model_id = IntegerField(primary_key=True)
    status = TextField()
    checked_at = UTCDateTimeField(default=utc_now)
    host = TextField(null=True)
    owned_version_ids = TextField(default="[]")
    latest_version_id = IntegerField(null=True)
    latest_version_name = TextField(null=True)
    latest_published_at = TextField(null=True)
    early_access = BooleanField(default=False)
    error = TextField(null=True)

    class Meta:
        table_name = "civitai_update"


class IgnoredVersion(BaseModel):
    version_id = IntegerField(primary_key=True)
    model_id = IntegerField(null=True)
    ignored_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "ignored_version"


@dataclass(frozen=True, slots=True)
class UpdateState:
    model_id: int
    status: UpdateStatus
    checked_at: datetime
    owned_version_ids: tuple[int, ...] = ()
    latest_version_id: int | None = None
    latest_version_name: str | None = None
    latest_published_at: str | None = None
    early_access: bool = False
    host: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"model_id": self.model_id, "status": self.status.value, "checked_at": self.checked_at.isoformat(),
                "owned_version_ids": list(self.owned_version_ids), "latest_version_id": self.latest_version_id,
                "latest_version_name": self.latest_version_name, "latest_published_at": self.latest_published_at,
                "early_access": self.early_access, "host": self.host, "error": self.error}


def _state(row: UpdateRow) -> UpdateState:
    return UpdateState(row.model_id, UpdateStatus(row.status), row.checked_at, tuple(json.loads(row.owned_version_ids or "[]")),
                       row.latest_version_id, row.latest_version_name, row.latest_published_at, bool(row.early_access),
                       row.host, row.error)


def identified_models() -> dict[int, set[int]]:
    """Every CivitAI model the library holds a version of -> the version ids it holds (adapters
    with CivitAI ids, and files identified by hash)."""
    owned: dict[int, set[int]] = {}
    rows = database_proxy.execute_sql(
        "SELECT civitai_model_id, civitai_version_id FROM adapter WHERE civitai_model_id IS NOT NULL "
        "UNION SELECT model_id, version_id FROM civitai_lookup WHERE status = 'found' AND model_id IS NOT NULL")
    for model_id, version_id in rows.fetchall():
        if version_id is not None:
            owned.setdefault(int(model_id), set()).add(int(version_id))
    return owned  # a model known without a version: nothing to compare a newer version with


def checked_since(model_ids: Iterable[int], since: datetime) -> set[int]:
    """The models whose last check (any outcome but failed) is newer than `since`."""
    ids = list(model_ids)
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        query = UpdateRow.select(UpdateRow.model_id).where(
            UpdateRow.model_id.in_(ids[start:start + CHUNK]), UpdateRow.checked_at >= since,
            UpdateRow.status != UpdateStatus.FAILED.value)
        found.update(r.model_id for r in query)
    return found


def save(states: Sequence[UpdateState]) -> None:
    rows = [{"model_id": s.model_id, "status": s.status.value, "checked_at": s.checked_at, "host": s.host,
             "owned_version_ids": json.dumps(sorted(s.owned_version_ids)), "latest_version_id": s.latest_version_id,
             "latest_version_name": s.latest_version_name, "latest_published_at": s.latest_published_at,
             "early_access": s.early_access, "error": s.error} for s in states]
    with database_proxy.atomic():
        for start in range(0, len(rows), 50):
            UpdateRow.insert_many(rows[start:start + 50]).on_conflict_replace().execute()


def record_failed(model_ids: Iterable[int], error: str, owned: dict[int, set[int]]) -> None:
    """A failed check keeps what an earlier check learnt (only the error and time move)."""
    now = utc_now()
    with database_proxy.atomic():
        for model_id in model_ids:
            updated = UpdateRow.update(error=error[:500], checked_at=now).where(
                UpdateRow.model_id == model_id).execute()
            if not updated:
                UpdateRow.insert(model_id=model_id, status=UpdateStatus.FAILED.value, checked_at=now, error=error[:500],
                                 owned_version_ids=json.dumps(sorted(owned.get(model_id, ())))).execute()


def get(model_id: int) -> UpdateState | None:
    row = UpdateRow.get_or_none(UpdateRow.model_id == model_id)
    return _state(row) if row else None


def available_updates(*, include_early_access: bool = True) -> list[UpdateState]:
    """What the views show: every model with an update, newest first."""
    query = UpdateRow.select().where(UpdateRow.status == UpdateStatus.UPDATE_AVAILABLE.value)
    if not include_early_access:
        query = query.where(UpdateRow.early_access == False)  # noqa: E712 (peewee expression)
    return [_state(r) for r in query.order_by(UpdateRow.latest_published_at.desc(), UpdateRow.model_id)]


def ignore_version(version_id: int, model_id: int | None = None) -> None:
    """Never offer this version as an update; the model's stored state drops it at once."""
    IgnoredVersion.insert(version_id=version_id, model_id=model_id, ignored_at=utc_now()).on_conflict_replace().execute()
    # The model's state is worked out again by the next check, which is not held back by the interval.
    UpdateRow.update(status=UpdateStatus.UP_TO_DATE.value, checked_at=datetime(1970, 1, 1, tzinfo=timezone.utc)).where(
        UpdateRow.latest_version_id == version_id).execute()


def ignored_versions() -> set[int]:
    return {r.version_id for r in IgnoredVersion.select(IgnoredVersion.version_id)}


def stale_before(hours: float) -> datetime:
    return utc_now() - timedelta(hours=hours)
