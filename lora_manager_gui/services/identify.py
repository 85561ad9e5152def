"""Identify library files on CivitAI, as named stages (CIVITAI_API.md §8):

1. hash: every file through the hash cache (`HashService`);
2. skip known: hashes already answered (found, or not found less than `recheck_not_found_days`
   ago) are not asked again;
3. lookup: POST by-hash in batches of 100 (`identify_stages.lookup_by_hash`);
4. AutoV3: the misses of a successful batch retried once by AutoV3, computed only then;
5. models: /models?ids= in batches of 100 for the distinct models found (creator, tags, licence);
6. tally: one `IdentifyItem` per file, counts, `problems` and `outcome()` (identify_report.py).

Every outcome is stored per SHA-256 as it arrives. A 429 storm, or a host that cannot be reached,
ends the run early: the rest is deferred without being asked, and said once. Progress goes out as
`core.tasks.Progress` (stages HASH, LOOKUP, AUTOV3, MODELS, DONE).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable

from lora_manager_gui.core.tasks import Progress, ProgressSink, ProgressThrottle, Stage
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.services.civitai import CivitaiClient
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import CancelFlag, HashService
from lora_manager_gui.services.identify_report import (  # noqa: F401  (the public names of identify)
    DeferReason,
    IdentifyItem,
    IdentifyReport,
    ItemStatus,
)
from lora_manager_gui.services.identify_stages import (
    IdentifyRun,
    autov3_retry,
    fetch_models,
    lookup_by_hash,
    wanted_models,
)

DEFAULT_RECHECK_NOT_FOUND_DAYS = 30.0


def library_paths() -> list[str]:
    """Every present model file of the library (imported or orphan). Run on the database thread."""
    from lora_manager_gui.db import library_files

    return [f.path for f in library_files.all_files() if not f.missing]


async def hash_files(run: IdentifyRun, paths: list[str]) -> None:
    """Stage 1: SHA-256 of every file (cache first); files that cannot be hashed become items."""
    def forward(p: Progress) -> None:  # the hasher throttles already, and forces its first and last
        run.throttle(p, force=True)

    results = await run.hasher.hash_paths(paths, cancel=run.cancel, progress=forward if run.throttle.active else None)
    for result in results:
        if result.sha256 is None:
            status = ItemStatus.CANCELLED if result.error_class == "cancelled" else ItemStatus.HASH_FAILED
            run.report.items.append(IdentifyItem(result.path, None, status, result.error_class, result.error))
        else:
            run.by_sha.setdefault(result.sha256, []).append(result.path)


def skip_known(run: IdentifyRun, states: dict[str, store.LookupState], *, recheck_not_found_days: float,
               refresh_found: bool) -> list[str]:
    """Stage 2: the hashes to ask about; the others become `known` items."""
    pending: list[str] = []
    for sha, files in run.by_sha.items():
        state = states.get(sha)
        if store.needs_lookup(state, recheck_not_found_days=recheck_not_found_days) or (
            refresh_found and state is not None and state.status == store.FOUND
        ):
            pending.append(sha)
            continue
        assert state is not None
        for path in files:
            run.report.items.append(IdentifyItem(path, sha, ItemStatus.KNOWN, version_id=state.version_id,
                                                 model_id=state.model_id, matched_by=state.matched_by))
    return pending


def tally(run: IdentifyRun) -> None:
    """Stage 6: one item per file for every hash asked about, then the counts."""
    for sha, item in run.outcome.items():
        for path in run.by_sha[sha]:
            run.report.items.append(IdentifyItem(path, sha, item.status, item.error_class, item.error,
                                                 item.version_id, item.model_id, item.matched_by))
    run.report.tally()


async def identify(
    db: DatabaseExecutor,
    client: CivitaiClient,
    hasher: HashService,
    paths: Iterable[str | os.PathLike[str]] | None = None,
    *,
    recheck_not_found_days: float = DEFAULT_RECHECK_NOT_FOUND_DAYS,
    progress: ProgressSink | None = None,
    cancel: CancelFlag | None = None,
    autov3_fallback: bool = True,
    refresh_found: bool = False,
) -> IdentifyReport:
    """Identify `paths` (None: every present library file). With `refresh_found`, hashes already
    found are asked again (fresh stats, new images); a failed refresh keeps what is stored."""
    started = time.monotonic()
    requests_before = client.requests_made
    limited_before = client.rate_limited_responses
    path_list = await db.call(library_paths) if paths is None else [os.fspath(p) for p in paths]
    report = IdentifyReport(files=len(path_list))
    run = IdentifyRun(db, client, hasher, report, ProgressThrottle(progress), cancel, autov3_fallback)

    await hash_files(run, path_list)
    states = await db.call(store.states_for, list(run.by_sha))
    pending = skip_known(run, states, recheck_not_found_days=recheck_not_found_days, refresh_found=refresh_found)
    misses = await lookup_by_hash(run, pending)
    await autov3_retry(run, misses)
    await fetch_models(run, wanted_models(run, states), refresh=refresh_found)
    tally(run)

    report.was_cancelled = cancel is not None and cancel.is_set()
    report.requests = client.requests_made - requests_before
    report.rate_limited_responses = client.rate_limited_responses - limited_before
    report.seconds = round(time.monotonic() - started, 3)
    run.throttle(Progress(Stage.DONE, report.files, report.files, problems=report.failed + report.hash_failed,
                          deferred=report.deferred), force=True)
    return report
