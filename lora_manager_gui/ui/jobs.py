"""The background jobs the window starts, built from the open `Library` (services/library.py).

`ServiceJobs` builds each job from the library's services; a test passes its own object with the
same methods to drive progress and cancellation deterministically. A job is `async def job(task)`
(see ui/tasks.py) and reports through the task contract of core/tasks.py: `Progress` records,
`ItemProblem`s and, at its end, the service report's `TaskOutcome`.

The service modules are imported inside the jobs: they are loaded already (ui/context.py preloads
them on a worker thread at start-up), and importing them here at module level would load them on
the GUI thread before the window opens.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, Progress, Stage, TaskOutcome
from lora_manager_gui.services.library import Library
from lora_manager_gui.ui.tasks import JobFn, TaskContext, problem_for_exception

if TYPE_CHECKING:
    from lora_manager_gui.services.hasher import HashResult
    from lora_manager_gui.services.identify import IdentifyReport
    from lora_manager_gui.services.import_report import ImportReport

log = logging.getLogger(__name__)


# ---- ADAPTERS (issue 12) ----------------------------------------------------------------------
# The importer, hasher and identify services are being converted to the task contract in
# parallel. Until they are, these functions turn their current progress and report shapes into
# `Progress`, `ItemProblem` and `TaskOutcome`. Each passes a converted shape through unchanged, so
# the merge breaks nothing; once a service is converted, delete its adapter and call the service's
# own `report.problems` / `report.outcome(cancelled=...)` in the job below.

_IMPORT_STAGES = {"scanning": Stage.WALK, "walking": Stage.WALK, "importing": Stage.PARSE,
                  "storing": Stage.STORE, "finishing": Stage.FINISH}
# The hasher's classes that are spelled differently from ProblemKind (the rest are the same words).
_KIND_ALIASES = {"not_a_file": ProblemKind.NOT_A_REGULAR_FILE, "changed_while_hashing": ProblemKind.HASH_FAILED}
_IDENTIFY_STAGES = {"hashing": Stage.HASH, "looking_up": Stage.LOOKUP, "autov3": Stage.AUTOV3,
                    "models": Stage.MODELS, "done": Stage.DONE}


def _kind(error_class: str | None) -> ProblemKind:
    """ADAPTER: a service's error class as a ProblemKind (unknown: INTERNAL)."""
    return _KIND_ALIASES.get(str(error_class)) or ProblemKind.parse(error_class)


def adapt_import_progress(p: Any) -> Progress:
    """ADAPTER: services.import_report.ImportProgress -> Progress."""
    if isinstance(p, Progress):
        return p
    return Progress(_IMPORT_STAGES.get(str(p.phase), Stage.PARSE), p.files_done, p.files_total, detail=p.root)


def adapt_hash_progress(p: Any) -> Progress:
    """ADAPTER: services.hasher.HashProgress -> Progress."""
    if isinstance(p, Progress):
        return p
    return Progress(Stage.HASH, p.files_done, p.files_total, p.bytes_done, p.bytes_total, problems=p.failed)


def adapt_identify_progress(p: Any) -> Progress:
    """ADAPTER: services.identify.IdentifyProgress (which nests the hashing progress) -> Progress."""
    if isinstance(p, Progress):
        return p
    if p.hashing is not None:
        return adapt_hash_progress(p.hashing)
    return Progress(_IDENTIFY_STAGES.get(str(p.stage), Stage.LOOKUP), p.done, p.total)


def import_problems(report: ImportReport) -> list[ItemProblem]:
    """ADAPTER: ImportReport.errors (ImportIssue) -> ItemProblem."""
    converted = getattr(report, "problems", None)
    if converted is not None:
        return list(converted)
    return [ItemProblem(e.path, _kind(e.error_class), e.message) for e in report.errors]


def import_outcome(report: ImportReport, *, cancelled: bool) -> TaskOutcome:
    """ADAPTER: the outcome of an import report."""
    if callable(getattr(report, "outcome", None)):
        return report.outcome(cancelled=cancelled)  # type: ignore[attr-defined, no-any-return]
    return TaskOutcome.decide(done=report.imported + report.updated + report.unchanged,
                              problems=len(report.errors), was_cancelled=cancelled or report.cancelled,
                              changes=Changes(adapters=True, files=True))


def hash_problems(results: Sequence[HashResult]) -> list[ItemProblem]:
    """ADAPTER: failed HashResults -> ItemProblem (a result cancelled before it was read is none)."""
    return [ItemProblem(r.path, _kind(r.error_class), r.error or str(r.error_class))
            for r in results if r.sha256 is None and r.error_class != "cancelled"]


def hash_outcome(results: Sequence[HashResult], *, cancelled: bool) -> TaskOutcome:
    """ADAPTER: the outcome of a list of HashResults."""
    return TaskOutcome.decide(done=sum(1 for r in results if r.sha256 is not None),
                              problems=len(hash_problems(results)),
                              cancelled=sum(1 for r in results if r.error_class == "cancelled"),
                              was_cancelled=cancelled, changes=Changes(hashes=True))


def identify_problems(report: IdentifyReport) -> list[ItemProblem]:
    """ADAPTER: IdentifyReport items that failed -> ItemProblem."""
    converted = getattr(report, "problems", None)
    if converted is not None:
        return list(converted)
    return [ItemProblem(item.path, _kind(item.error_class), item.error or item.status)
            for item in report.items if item.status in ("failed", "hash_failed")]


def identify_outcome(report: IdentifyReport, *, cancelled: bool) -> TaskOutcome:
    """ADAPTER: the outcome of an identify report; deferred items are never "done"."""
    if callable(getattr(report, "outcome", None)):
        return report.outcome(cancelled=cancelled)  # type: ignore[attr-defined, no-any-return]
    return TaskOutcome.decide(done=report.found + report.not_found + report.already_known,
                              problems=report.hash_failed, failed=report.failed, deferred=report.deferred,
                              cancelled=report.cancelled, was_cancelled=cancelled,
                              changes=Changes(hashes=True, civitai=True, adapters=True))

# ---- end of ADAPTERS ---------------------------------------------------------------------------


def reporter(task: TaskContext, adapt: Callable[[Any], Progress]) -> Callable[[Any], None]:
    """A `progress=` callback for a service: hands each record to task.report (any thread)."""

    def forward(p: Any) -> None:
        task.report(adapt(p))

    return forward


def finish(task: TaskContext, problems: list[ItemProblem], outcome: TaskOutcome) -> None:
    for problem in problems:
        task.add_problem(problem)
    task.set_outcome(outcome)


class Jobs(Protocol):
    def import_roots(self, roots: list[Path]) -> JobFn: ...
    def hash_paths(self, paths: list[Path]) -> JobFn: ...
    def identify_paths(self, paths: list[Path]) -> JobFn: ...
    def import_from_headers(self, paths: list[Path]) -> JobFn: ...


class ServiceJobs:
    """The real jobs. Each reads the library's services when it starts, so a job started after
    the settings were saved uses the client and hasher of the new settings."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def import_roots(self, roots: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> ImportReport:
            from lora_manager_gui.services.importer import run_import

            library = self.library
            report = await run_import(library.db, list(roots), pool=library.pool,
                                      progress=reporter(task, adapt_import_progress), cancel=task.cancel_event)
            finish(task, import_problems(report), import_outcome(report, cancelled=task.cancelled))
            return report

        return job

    def hash_paths(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> list[HashResult]:
            async with self.library.use_hasher() as hasher:
                results = await hasher.hash_paths(list(paths), progress=reporter(task, adapt_hash_progress),
                                                  cancel=task.cancel_event)
            task.report(Progress(Stage.DONE, len(results), len(paths)))
            finish(task, hash_problems(results), hash_outcome(results, cancelled=task.cancelled))
            return results

        return job

    def identify_paths(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> IdentifyReport:
            from lora_manager_gui.services.identify import identify

            library = self.library
            async with library.use_civitai() as client, library.use_hasher() as hasher:
                report = await identify(library.db, client, hasher, list(paths),
                                        progress=reporter(task, adapt_identify_progress), cancel=task.cancel_event)
            finish(task, identify_problems(report), identify_outcome(report, cancelled=task.cancelled))
            return report

        return job

    def import_from_headers(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> int:
            from lora_manager_gui.services.header_import import import_orphan_from_header_async

            library = self.library
            done = problems = 0
            for path in paths:
                if task.cancelled:
                    break
                try:
                    await import_orphan_from_header_async(library.db, path, library.pool)
                except (LoraManagerError, OSError, ValueError) as exc:
                    task.add_problem(problem_for_exception(str(path), exc))
                    problems += 1
                done += 1
                task.report(Progress(Stage.PARSE, done, len(paths), problems=problems, detail=path.name))
            task.set_outcome(TaskOutcome.decide(done=done - problems, problems=problems, was_cancelled=task.cancelled,
                                                changes=Changes(adapters=True, files=True)))
            return done

        return job
