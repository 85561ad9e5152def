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
    from lora_manager_gui.services.hash_results import HashReport
    from lora_manager_gui.services.identify import IdentifyReport
    from lora_manager_gui.services.import_report import ImportReport

log = logging.getLogger(__name__)


# ---- ADAPTERS (issue 12) ----------------------------------------------------------------------
# The importer service is being converted to the task contract in
# parallel. Until they are, these functions turn their current progress and report shapes into
# `Progress`, `ItemProblem` and `TaskOutcome`. Each passes a converted shape through unchanged, so
# the merge breaks nothing; once a service is converted, delete its adapter and call the service's
# own `report.problems` / `report.outcome(cancelled=...)` in the job below.

_IMPORT_STAGES = {"scanning": Stage.WALK, "walking": Stage.WALK, "importing": Stage.PARSE,
                  "storing": Stage.STORE, "finishing": Stage.FINISH}


def _kind(error_class: str | None) -> ProblemKind:
    """ADAPTER: a service's error class as a ProblemKind (unknown: INTERNAL)."""
    return ProblemKind.parse(error_class)


def adapt_import_progress(p: Any) -> Progress:
    """ADAPTER: services.import_report.ImportProgress -> Progress."""
    if isinstance(p, Progress):
        return p
    return Progress(_IMPORT_STAGES.get(str(p.phase), Stage.PARSE), p.files_done, p.files_total, detail=p.root)


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
        async def job(task: TaskContext) -> HashReport:
            async with self.library.use_hasher() as hasher:
                results = await hasher.hash_paths(list(paths), progress=task.report, cancel=task.cancel_event)
            finish(task, results.problems, results.outcome(cancelled=task.cancelled))
            return results

        return job

    def identify_paths(self, paths: list[Path]) -> JobFn:
        async def job(task: TaskContext) -> IdentifyReport:
            from lora_manager_gui.services.identify import identify

            library = self.library
            async with library.use_civitai() as client, library.use_hasher() as hasher:
                report = await identify(library.db, client, hasher, list(paths),
                                        progress=task.report, cancel=task.cancel_event)
            finish(task, report.problems, report.outcome(cancelled=task.cancelled))
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
