"""Identify library files on CivitAI: hash, batch lookup by SHA-256, AutoV3 retry, model data.

Pipeline (CIVITAI_API.md §8): hash every file through the cache; skip hashes already answered
(found, or not found less than `recheck_not_found_days` ago); POST by-hash in batches of 100; the
misses of a successful batch are retried once by AutoV3 (computed only then); then /models?ids= in
batches of 100 for the distinct models found, for creator, tags, description and licence.
Every outcome is stored per SHA-256 as it arrives. A batch that still gets 429 after its retries is
deferred, and so is everything not yet asked: a 429 storm ends the run early, politely, and the
next run picks the deferred items up. Other errors fail only the items of that call.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from lora_manager_gui.core.civitai import CivitaiError, CivitaiNotFoundError, CivitaiRateLimitedError
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.services.civitai import BATCH_HASHES, BATCH_MODELS, CivitaiClient
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import CancelFlag, HashProgress, HashService

log = logging.getLogger(__name__)

DEFAULT_RECHECK_NOT_FOUND_DAYS = 30.0


@dataclass
class IdentifyProgress:
    stage: str  # hashing, looking_up, autov3, models, done
    done: int
    total: int
    hashing: HashProgress | None = None


@dataclass
class IdentifyItem:
    path: str
    sha256: str | None
    status: str  # found, not_found, failed, deferred, known, hash_failed, cancelled
    error_class: str | None = None
    error: str | None = None
    version_id: int | None = None
    model_id: int | None = None
    matched_by: str | None = None


@dataclass
class IdentifyReport:
    files: int = 0
    looked_up: int = 0  # files whose hash was asked about in this run
    found: int = 0
    not_found: int = 0
    failed: int = 0
    deferred: int = 0
    already_known: int = 0  # answered by an earlier run, not asked again
    hash_failed: int = 0
    cancelled: int = 0
    requests: int = 0  # HTTP requests made, retries included
    rate_limited_responses: int = 0
    models_fetched: int = 0
    models_failed: int = 0
    autov3_lookups: int = 0
    seconds: float = 0.0
    items: list[IdentifyItem] = field(default_factory=list)

    def to_json(self, *, with_items: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_items:
            data.pop("items")
        return data


ProgressCallback = Callable[[IdentifyProgress], None]


def library_paths() -> list[str]:
    """Every present model file of the library (imported or orphan). Run on the database thread."""
    from lora_manager_gui.db import library_files

    return [f.path for f in library_files.all_files() if not f.missing]


async def identify(
    db: DatabaseExecutor,
    client: CivitaiClient,
    hasher: HashService,
    paths: Iterable[str | os.PathLike[str]] | None = None,
    *,
    recheck_not_found_days: float = DEFAULT_RECHECK_NOT_FOUND_DAYS,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    autov3_fallback: bool = True,
    refresh_found: bool = False,
) -> IdentifyReport:
    """Identify `paths` (None: every present library file). With `refresh_found`, hashes already
    found are asked again (fresh stats, new images); a failed refresh keeps what is stored."""
    started = time.monotonic()
    requests_before = client.requests_made
    limited_before = client.rate_limited_responses
    if paths is None:
        path_list = await db.call(library_paths)
    else:
        path_list = [os.fspath(p) for p in paths]
    report = IdentifyReport(files=len(path_list))

    def emit(stage: str, done: int, total: int, hashing: HashProgress | None = None) -> None:
        if progress is not None:
            progress(IdentifyProgress(stage, done, total, hashing))

    hashed = await hasher.hash_paths(
        path_list, cancel=cancel, progress=(lambda p: emit("hashing", p.files_done, p.files_total, p)) if progress else None
    )
    by_sha: dict[str, list[str]] = {}
    for result in hashed:
        if result.sha256 is None:
            status = "cancelled" if result.error_class == "cancelled" else "hash_failed"
            report.items.append(IdentifyItem(result.path, None, status, result.error_class, result.error))
            continue
        by_sha.setdefault(result.sha256, []).append(result.path)
    states = await db.call(store.states_for, list(by_sha))
    pending: list[str] = []
    for sha, files in by_sha.items():
        state = states.get(sha)
        if store.needs_lookup(state, recheck_not_found_days=recheck_not_found_days) or (
            refresh_found and state is not None and state.status == store.FOUND
        ):
            pending.append(sha)
        else:
            assert state is not None
            for path in files:
                report.items.append(IdentifyItem(path, sha, "known", version_id=state.version_id,
                                                 model_id=state.model_id, matched_by=state.matched_by))
    outcome: dict[str, IdentifyItem] = {}  # sha -> outcome template
    found_versions: dict[str, dict[str, Any]] = {}
    storm = False

    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    # 1. batch lookups by SHA-256
    misses: list[str] = []
    for start in range(0, len(pending), BATCH_HASHES):
        batch = pending[start : start + BATCH_HASHES]
        if storm or stopped():
            await _defer(db, batch, outcome, storm)
            continue
        emit("looking_up", start, len(pending))
        try:
            hits = await client.versions_by_hashes(batch)
        except CivitaiRateLimitedError as exc:
            storm = True
            await _defer(db, batch, outcome, True, str(exc))
            continue
        except CivitaiError as exc:
            await _fail(db, batch, outcome, exc)
            continue
        found = {sha: (version, "sha256") for sha, version in hits.items()}
        await db.call(store.record_outcomes, found=found)
        for sha, version in hits.items():
            found_versions[sha] = version
            outcome[sha] = IdentifyItem("", sha, "found", version_id=version["id"], model_id=version.get("modelId"),
                                        matched_by="sha256")
        misses.extend(sha for sha in batch if sha not in hits)

    # 2. one retry by AutoV3 for what SHA-256 did not find
    for index, sha in enumerate(misses):
        if storm or stopped():
            await _defer(db, [sha], outcome, storm)
            continue
        emit("autov3", index, len(misses))
        autov3 = None
        if autov3_fallback:
            try:
                autov3 = await hasher.autov3(by_sha[sha][0])
            except Exception as exc:  # unreadable now: the SHA-256 miss is still a real answer
                log.warning("AutoV3 of %s failed: %s", by_sha[sha][0], exc)
        if autov3 is None:
            await db.call(store.record_not_found, sha)
            outcome[sha] = IdentifyItem("", sha, "not_found")
            continue
        report.autov3_lookups += 1
        try:
            version = await client.version_by_hash(autov3)
        except CivitaiNotFoundError:
            await db.call(store.record_not_found, sha)
            outcome[sha] = IdentifyItem("", sha, "not_found")
            continue
        except CivitaiRateLimitedError as exc:
            storm = True
            await _defer(db, [sha], outcome, True, str(exc))
            continue
        except CivitaiError as exc:
            await _fail(db, [sha], outcome, exc)
            continue
        await db.call(store.record_found, sha, version, matched_by="autov3")
        found_versions[sha] = version
        outcome[sha] = IdentifyItem("", sha, "found", version_id=version["id"], model_id=version.get("modelId"),
                                    matched_by="autov3")

    # 3. model data (creator, tags, description, licence) for the distinct models, once each
    wanted = {int(v["modelId"]) for v in found_versions.values() if isinstance(v.get("modelId"), int)}
    for state in states.values():  # found earlier but the model call failed then: try again now
        if state.status == store.FOUND and state.model_id and state.sha256 in by_sha:
            wanted.add(int(state.model_id))
    known = set() if refresh_found else await db.call(store.known_model_ids, wanted)
    missing_models = sorted(wanted - known)
    for start in range(0, len(missing_models), BATCH_MODELS):
        batch_ids = missing_models[start : start + BATCH_MODELS]
        if storm or stopped():
            report.models_failed += len(batch_ids)
            continue
        emit("models", start, len(missing_models))
        try:
            models = await client.models_by_ids(batch_ids)
        except CivitaiRateLimitedError:
            storm = True
            report.models_failed += len(batch_ids)
            continue
        except CivitaiError as exc:
            log.warning("model data for %d models could not be fetched: %s", len(batch_ids), exc)
            report.models_failed += len(batch_ids)
            continue
        report.models_fetched += await db.call(store.store_models, list(models.values()))
        report.models_failed += len(batch_ids) - len(models)

    for sha, item in outcome.items():
        for path in by_sha[sha]:
            report.items.append(IdentifyItem(path, sha, item.status, item.error_class, item.error,
                                             item.version_id, item.model_id, item.matched_by))
    for item in report.items:
        if item.status in ("found", "not_found", "failed", "deferred"):
            report.looked_up += 1
            setattr(report, item.status, getattr(report, item.status) + 1)
        elif item.status == "known":
            report.already_known += 1
        elif item.status == "hash_failed":
            report.hash_failed += 1
        elif item.status == "cancelled":
            report.cancelled += 1
    report.requests = client.requests_made - requests_before
    report.rate_limited_responses = client.rate_limited_responses - limited_before
    report.seconds = round(time.monotonic() - started, 3)
    emit("done", report.files, report.files)
    return report


async def _defer(db: DatabaseExecutor, shas: list[str], outcome: dict[str, IdentifyItem], storm: bool,
                 message: str | None = None) -> None:
    text = message or ("not asked: CivitAI was rate limiting this run" if storm else "not asked: cancelled")
    await db.call(store.record_outcomes, deferred={sha: ("rate_limited" if storm else "cancelled", text) for sha in shas})
    for sha in shas:
        outcome[sha] = IdentifyItem("", sha, "deferred", "rate_limited" if storm else "cancelled", text)


async def _fail(db: DatabaseExecutor, shas: list[str], outcome: dict[str, IdentifyItem], exc: CivitaiError) -> None:
    log.warning("CivitAI lookup of %d hashes failed: %s", len(shas), exc)
    await db.call(store.record_outcomes, failed={sha: (exc.error_class, str(exc)) for sha in shas})
    for sha in shas:
        outcome[sha] = IdentifyItem("", sha, "failed", exc.error_class, str(exc))
