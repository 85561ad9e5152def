"""The asking stages of identify: lookup by SHA-256, the AutoV3 retry, model data.

Each stage reads and writes one `IdentifyRun` (the state of the run) and stores every answer as it
arrives. A stage stops asking when the run halts: a 429 storm (deferred: rate_limited), the host
cannot be reached (deferred: offline, detected on the first batch that fails that way) or the user
cancels (deferred: cancelled); what is left is deferred without a request, and the next run asks.
Any other error fails only the items of that call. An answer that cannot be trusted (wrong types,
absurd ids) is a failure, never "not found", so it is asked again next run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lora_manager_gui.core.civitai_errors import (
    CivitaiError,
    CivitaiMalformedAnswerError,
    CivitaiNotFoundError,
    CivitaiRateLimitedError,
    CivitaiUnreachableError,
)
from lora_manager_gui.core.civitai_records import CivitaiVersion, MatchedBy
from lora_manager_gui.core.tasks import ItemProblem, Progress, ProgressThrottle, Stage
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.services.civitai import BATCH_HASHES, BATCH_MODELS, CivitaiClient
from lora_manager_gui.services.executors import DatabaseExecutor
from lora_manager_gui.services.hasher import CancelFlag, HashService
from lora_manager_gui.services.identify_report import DeferReason, IdentifyItem, IdentifyReport, ItemStatus

log = logging.getLogger(__name__)


@dataclass
class IdentifyRun:
    """The state one identify run shares between its stages."""

    db: DatabaseExecutor
    client: CivitaiClient
    hasher: HashService
    report: IdentifyReport
    throttle: ProgressThrottle
    cancel: CancelFlag | None = None
    autov3_fallback: bool = True
    by_sha: dict[str, list[str]] = field(default_factory=dict)  # SHA-256 -> the files with it
    outcome: dict[str, IdentifyItem] = field(default_factory=dict)  # SHA-256 -> what became of it
    found_versions: dict[str, CivitaiVersion] = field(default_factory=dict)
    halted: DeferReason | None = None  # rate limited or offline: ask nothing more
    halt_message: str = ""
    failed: int = 0  # hashes failed / deferred so far (for the progress counters)
    deferred: int = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def stop_reason(self) -> DeferReason | None:
        if self.halted is not None:
            return self.halted
        if self.cancel is not None and self.cancel.is_set():
            return DeferReason.CANCELLED
        return None

    def emit(self, stage: Stage, done: int, total: int, *, force: bool = False) -> None:
        if self.throttle.active:
            self.throttle(Progress(stage, done, total, problems=self.failed, deferred=self.deferred), force=force)

    # -- writing outcomes ----------------------------------------------------------------------

    async def record_found(self, found: dict[str, CivitaiVersion], matched_by: MatchedBy) -> None:
        if not found:
            return
        await self.db.call(store.record_outcomes, found={sha: (v, matched_by) for sha, v in found.items()})
        for sha, version in found.items():
            self.found_versions[sha] = version
            self.outcome[sha] = IdentifyItem("", sha, ItemStatus.FOUND, version_id=version.id,
                                              model_id=version.model_id, matched_by=matched_by)

    async def record_not_found(self, sha: str) -> None:
        await self.db.call(store.record_not_found, sha)
        self.outcome[sha] = IdentifyItem("", sha, ItemStatus.NOT_FOUND)

    async def fail(self, reasons: dict[str, str], error_class: str) -> None:
        if not reasons:
            return
        log.warning("CivitAI lookup of %d hashes failed: %s", len(reasons), next(iter(reasons.values())))
        await self.db.call(store.record_outcomes, failed={sha: (error_class, msg) for sha, msg in reasons.items()})
        for sha, message in reasons.items():
            self.outcome[sha] = IdentifyItem("", sha, ItemStatus.FAILED, error_class, message)
        self.failed += len(reasons)

    async def defer(self, shas: list[str], reason: DeferReason) -> None:
        if not shas:
            return
        text = self.halt_message if reason is self.halted and self.halt_message else reason.default_message
        await self.db.call(store.record_outcomes, deferred={sha: (reason.value, text) for sha in shas})
        for sha in shas:
            self.outcome[sha] = IdentifyItem("", sha, ItemStatus.DEFERRED, reason.value, text)
        self.deferred += len(shas)

    async def defer_if_stopped(self, shas: list[str]) -> bool:
        reason = self.stop_reason
        if reason is None:
            return False
        await self.defer(shas, reason)
        return True

    def halt_on(self, exc: CivitaiError) -> DeferReason | None:
        """Halt the run when `exc` says that asking more is pointless (429 storm, offline)."""
        if isinstance(exc, CivitaiRateLimitedError):
            self.halted, self.halt_message = DeferReason.RATE_LIMITED, f"not asked: {exc}"
        elif isinstance(exc, CivitaiUnreachableError):
            self.halted = DeferReason.OFFLINE
            self.halt_message = f"not asked: CivitAI could not be reached ({exc}); run identify again when online"
            log.warning("CivitAI cannot be reached (%s): the rest of this run is deferred", exc)
        else:
            return None
        return self.halted

    async def on_error(self, shas: list[str], exc: CivitaiError) -> None:
        reason = self.halt_on(exc)
        if reason is not None:
            await self.defer(shas, reason)
        else:
            await self.fail({sha: str(exc) for sha in shas}, exc.error_class)


async def lookup_by_hash(run: IdentifyRun, pending: list[str]) -> list[str]:
    """POST by-hash in batches of 100; returns the misses (to retry by AutoV3)."""
    misses: list[str] = []
    for start in range(0, len(pending), BATCH_HASHES):
        batch = pending[start : start + BATCH_HASHES]
        if await run.defer_if_stopped(batch):
            continue
        run.emit(Stage.LOOKUP, start, len(pending))
        try:
            answer = await run.client.versions_by_hashes(batch)
        except CivitaiError as exc:
            await run.on_error(batch, exc)
            continue
        await run.record_found(dict(answer.found), MatchedBy.SHA256)
        bad = dict(answer.rejected)
        rest = [sha for sha in batch if sha not in answer.found and sha not in bad]
        if answer.unplaced:  # an untrusted item that named none of our hashes: no miss is sure
            bad.update({sha: f"a miss in a batch with an untrusted answer: {answer.unplaced[0]}" for sha in rest})
            rest = []
        await run.fail(bad, CivitaiMalformedAnswerError.error_class)
        misses.extend(rest)
    if pending:
        run.emit(Stage.LOOKUP, len(pending), len(pending), force=True)
    return misses


async def autov3_retry(run: IdentifyRun, misses: list[str]) -> None:
    """One GET by-hash by AutoV3 (computed only now) for each SHA-256 miss."""
    for index, sha in enumerate(misses):
        if await run.defer_if_stopped([sha]):
            continue
        run.emit(Stage.AUTOV3, index, len(misses))
        autov3 = None
        if run.autov3_fallback:
            try:
                autov3 = await run.hasher.autov3(run.by_sha[sha][0])
            except Exception as exc:  # unreadable now: the SHA-256 miss is still a real answer
                log.warning("AutoV3 of %s failed: %s", run.by_sha[sha][0], exc)
        if autov3 is None:
            await run.record_not_found(sha)
            continue
        run.report.autov3_lookups += 1
        try:
            version = await run.client.version_by_hash(autov3)
        except CivitaiNotFoundError:
            await run.record_not_found(sha)
            continue
        except CivitaiError as exc:
            await run.on_error([sha], exc)
            continue
        await run.record_found({sha: version}, MatchedBy.AUTOV3)
    if misses:
        run.emit(Stage.AUTOV3, len(misses), len(misses), force=True)


async def fetch_models(run: IdentifyRun, wanted: set[int], *, refresh: bool) -> None:
    """/models?ids= in batches of 100 for the distinct models not stored yet (creator, tags, licence)."""
    known = set() if refresh else await run.db.call(store.known_model_ids, wanted)
    missing = sorted(wanted - known)
    report = run.report
    for start in range(0, len(missing), BATCH_MODELS):
        ids = missing[start : start + BATCH_MODELS]
        if run.stop_reason is not None:
            report.models_failed += len(ids)
            continue
        run.emit(Stage.MODELS, start, len(missing))
        try:
            models = await run.client.models_by_ids(ids)
        except CivitaiError as exc:
            log.warning("model data for %d models could not be fetched: %s", len(ids), exc)
            report.models_failed += len(ids)
            run.halt_on(exc)
            report.model_problems.append(ItemProblem(_models_label(ids), exc.kind, str(exc)))
            continue
        report.models_fetched += await run.db.call(store.store_models, list(models.values()))
        report.models_failed += len(ids) - len(models)
    if missing:
        run.emit(Stage.MODELS, len(missing), len(missing), force=True)


def _models_label(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:3])) + (", ..." if len(ids) > 3 else "")
    return f"CivitAI model{'s' if len(ids) > 1 else ''} {shown}"


def wanted_models(run: IdentifyRun, states: dict[str, store.LookupState]) -> set[int]:
    """The models of what was found now, and of earlier finds whose model call failed then."""
    wanted = {v.model_id for v in run.found_versions.values() if v.model_id is not None}
    for state in states.values():
        if state.status == store.FOUND and state.model_id and state.sha256 in run.by_sha:
            wanted.add(int(state.model_id))
    return wanted

