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
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.tasks import Changes, ItemProblem, Progress, Stage, TaskOutcome
from lora_manager_gui.services.library import Library
from lora_manager_gui.ui.tasks import JobFn, TaskContext, problem_for_exception

if TYPE_CHECKING:
    from lora_manager_gui.services.hash_results import HashReport
    from lora_manager_gui.services.identify import IdentifyReport
    from lora_manager_gui.services.import_report import ImportReport

log = logging.getLogger(__name__)


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
                                      progress=task.report, cancel=task.cancel_event)
            finish(task, report.problems, report.outcome(cancelled=task.cancelled))
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
