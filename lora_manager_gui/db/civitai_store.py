"""What CivitAI answered, kept for good: lookups by SHA-256, version JSON and model JSON by id.

Rules (CIVITAI_API.md §8.3, §8.5): only a complete, parsed answer writes data; a failed, deferred or
not-found answer never replaces a 'found' lookup or its stored JSON; not-found is re-checked only
after a number of days. Run on the database thread.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from peewee import fn

from lora_manager_gui.core.civitai import CivitaiInfo, build_info
from lora_manager_gui.core.civitai_records import CivitaiModel, CivitaiVersion, LookupStatus, MatchedBy
from lora_manager_gui.db.fields import utc_now
from lora_manager_gui.db.models import CivitaiLookup, CivitaiModelRecord, database_proxy
from lora_manager_gui.db.models import CivitaiVersion as CivitaiVersionRecord

FOUND, NOT_FOUND, FAILED, DEFERRED = LookupStatus.FOUND, LookupStatus.NOT_FOUND, LookupStatus.FAILED, LookupStatus.DEFERRED
STATUSES = tuple(LookupStatus)
CHUNK = 400


@dataclass
class LookupState:
    sha256: str
    status: LookupStatus
    version_id: int | None
    model_id: int | None
    fetched_at: datetime
    checked_at: datetime
    error_class: str | None
    error: str | None
    matched_by: str | None


def _key(sha256: str) -> str:
    return sha256.strip().upper()


def _existing(sha256: str) -> CivitaiLookup | None:
    return CivitaiLookup.get_or_none(CivitaiLookup.sha256 == sha256)


def store_version(version: CivitaiVersion, fetched_at: datetime | None = None) -> int:
    """Insert or replace one validated model-version answer (its raw JSON, comfy stripped). Returns its id."""
    CivitaiVersionRecord.insert(
        version_id=version.id, model_id=version.model_id, data=version.raw, fetched_at=fetched_at or utc_now()
    ).on_conflict_replace().execute()
    return version.id


def store_model(model: CivitaiModel, fetched_at: datetime | None = None) -> int:
    CivitaiModelRecord.insert(model_id=model.id, data=model.raw, fetched_at=fetched_at or utc_now()).on_conflict_replace().execute()
    return model.id


def store_models(models: Iterable[CivitaiModel]) -> int:
    now = utc_now()
    count = 0
    with database_proxy.atomic():
        for model in models:
            store_model(model, now)
            count += 1
    return count


def record_found(sha256: str, version: CivitaiVersion, *, matched_by: MatchedBy | str = MatchedBy.SHA256) -> None:
    """A complete answer: store the version JSON and mark the lookup found (replacing anything)."""
    now = utc_now()
    matched_by = MatchedBy(matched_by)
    with database_proxy.atomic():
        version_id = store_version(version, now)
        model_id = version.model_id
        CivitaiLookup.insert(
            sha256=_key(sha256), status=FOUND, version_id=version_id, model_id=model_id, matched_by=matched_by,
            fetched_at=now, checked_at=now, error_class=None, error=None, attempts=1,
        ).on_conflict(
            conflict_target=[CivitaiLookup.sha256],
            update={
                CivitaiLookup.status: FOUND, CivitaiLookup.version_id: version_id, CivitaiLookup.model_id: model_id,
                CivitaiLookup.matched_by: matched_by, CivitaiLookup.fetched_at: now, CivitaiLookup.checked_at: now,
                CivitaiLookup.error_class: None, CivitaiLookup.error: None,
                CivitaiLookup.attempts: CivitaiLookup.attempts + 1,
            },
        ).execute()


def _record_without_data(sha256: str, status: LookupStatus, error_class: str | None, error: str | None) -> bool:
    """not_found / failed / deferred. A 'found' row keeps its status and data: only checked_at and
    the last error move. Returns True when the status was written."""
    key = _key(sha256)
    now = utc_now()
    row = _existing(key)
    if row is None:
        CivitaiLookup.create(
            sha256=key, status=status, fetched_at=now, checked_at=now, error_class=error_class, error=error, attempts=1
        )
        return True
    if row.status == FOUND:
        CivitaiLookup.update(
            checked_at=now, error_class=error_class, error=error, attempts=CivitaiLookup.attempts + 1
        ).where(CivitaiLookup.sha256 == key).execute()
        return False
    if status in (DEFERRED, FAILED) and row.status == NOT_FOUND:
        # a re-check of a known miss that did not get an answer: the miss stays what we know
        CivitaiLookup.update(checked_at=now, error_class=error_class, error=error).where(
            CivitaiLookup.sha256 == key
        ).execute()
        return False
    CivitaiLookup.update(
        status=status, fetched_at=now, checked_at=now, error_class=error_class, error=error,
        version_id=None, model_id=None, matched_by=None, attempts=CivitaiLookup.attempts + 1,
    ).where(CivitaiLookup.sha256 == key).execute()
    return True


def record_not_found(sha256: str) -> bool:
    return _record_without_data(sha256, NOT_FOUND, None, None)


def record_failed(sha256: str, error_class: str, error: str) -> bool:
    return _record_without_data(sha256, FAILED, error_class, error)


def record_deferred(sha256: str, error_class: str = "rate_limited", error: str | None = None) -> bool:
    return _record_without_data(sha256, DEFERRED, error_class, error)


def record_outcomes(
    found: dict[str, tuple[CivitaiVersion, MatchedBy]] | None = None,
    not_found: Iterable[str] = (),
    failed: dict[str, tuple[str, str]] | None = None,
    deferred: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Write the outcome of one batch in one transaction. found: sha -> (version JSON, matched_by)."""
    with database_proxy.atomic():
        for sha, (version, matched_by) in (found or {}).items():
            record_found(sha, version, matched_by=matched_by)
        for sha in not_found:
            record_not_found(sha)
        for sha, (cls, msg) in (failed or {}).items():
            record_failed(sha, cls, msg)
        for sha, (cls, msg) in (deferred or {}).items():
            record_deferred(sha, cls, msg)


def _state(row: CivitaiLookup) -> LookupState:
    return LookupState(
        row.sha256, LookupStatus(row.status), row.version_id, row.model_id, row.fetched_at, row.checked_at,
        row.error_class, row.error, row.matched_by,
    )


def lookup_state(sha256: str) -> LookupState | None:
    row = _existing(_key(sha256))
    return None if row is None else _state(row)


def status_for_sha256(sha256: str) -> LookupStatus | None:
    """'found', 'not_found', 'failed', 'deferred', or None when CivitAI was never asked."""
    row = _existing(_key(sha256))
    return None if row is None else LookupStatus(row.status)


def states_for(sha256s: Sequence[str]) -> dict[str, LookupState]:
    keys = sorted({_key(s) for s in sha256s})
    out: dict[str, LookupState] = {}
    for start in range(0, len(keys), CHUNK):
        for row in CivitaiLookup.select().where(CivitaiLookup.sha256.in_(keys[start : start + CHUNK])):
            out[row.sha256] = _state(row)
    return out


def needs_lookup(state: LookupState | None, *, recheck_not_found_days: float, now: datetime | None = None) -> bool:
    """Never asked, failed or deferred: yes. Found: no. Not found: only after the re-check delay."""
    if state is None or state.status in (FAILED, DEFERRED):
        return True
    if state.status == NOT_FOUND:
        return (now or utc_now()) - state.fetched_at >= timedelta(days=recheck_not_found_days)
    return False


def version_json(version_id: int) -> dict[str, Any] | None:
    row = CivitaiVersionRecord.get_or_none(CivitaiVersionRecord.version_id == version_id)
    return None if row is None else row.data


def model_json(model_id: int) -> dict[str, Any] | None:
    row = CivitaiModelRecord.get_or_none(CivitaiModelRecord.model_id == model_id)
    return None if row is None else row.data


def known_model_ids(model_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(model_ids))
    known: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        query = CivitaiModelRecord.select(CivitaiModelRecord.model_id).where(
            CivitaiModelRecord.model_id.in_(ids[start : start + CHUNK])
        )
        known.update(r.model_id for r in query)
    return known


def info_for_sha256(sha256: str, *, max_nsfw_level: int | None = None) -> CivitaiInfo | None:
    """Everything the library shows for a file identified on CivitAI, from the database alone."""
    row = _existing(_key(sha256))
    if row is None or row.status != FOUND or row.version_id is None:
        return None
    version = version_json(row.version_id)
    if version is None:
        return None
    model_id = row.model_id or version.get("modelId")
    model = model_json(int(model_id)) if model_id else None
    return build_info(
        version, model, row.fetched_at, sha256=row.sha256, matched_by=row.matched_by, max_nsfw_level=max_nsfw_level
    )


def counts() -> dict[str, int]:
    out = {status.value: 0 for status in STATUSES}
    for status, n in CivitaiLookup.select(CivitaiLookup.status, fn.COUNT(CivitaiLookup.sha256)).group_by(
        CivitaiLookup.status
    ).tuples():
        out[status] = n
    return out


def forget(sha256: str) -> None:
    """Drop what is known about one hash (the version/model JSON stays for other files)."""
    CivitaiLookup.delete().where(CivitaiLookup.sha256 == _key(sha256)).execute()
