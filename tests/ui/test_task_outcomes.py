"""The task panel shows how a task ended from its TaskOutcome: done, done with N problems,
N deferred, cancelled, failed; never "done" over deferred or failed items."""
from __future__ import annotations

import hashlib
from pathlib import Path

from lora_manager_gui.core.errors import DatabaseError
from lora_manager_gui.core.safetensors import write_safetensors
from lora_manager_gui.core.tasks import ItemProblem, OutcomeStatus, ProblemKind, Progress, Stage, TaskOutcome
from lora_manager_gui.ui.task_panel import outcome_text
from tests.ui.conftest import wait_until


def test_outcome_text_never_says_done_over_deferred_failed_or_cancelled_items() -> None:
    assert outcome_text(TaskOutcome.decide(done=3)) == "done (3 items)"
    assert outcome_text(TaskOutcome.decide(done=1)) == "done (1 item)"
    assert outcome_text(TaskOutcome.decide(done=5, problems=1, failed=1)) == "done with 2 problems"
    assert outcome_text(TaskOutcome.decide(done=5, deferred=12)) == "12 deferred (run it again later)"
    assert outcome_text(TaskOutcome.decide(done=5, deferred=2, failed=1)) == "2 deferred (run it again later), 1 problem"
    assert outcome_text(TaskOutcome.decide(done=4, was_cancelled=True)) == "cancelled after 4 items"
    assert outcome_text(TaskOutcome.decide(done=4, error="disk full")) == "failed: disk full"
    for outcome in (TaskOutcome.decide(done=9, deferred=1), TaskOutcome.decide(done=9, cancelled=1),
                    TaskOutcome.decide(done=9, error="x")):
        assert "done" not in outcome_text(outcome)


class OutcomeJobs:
    """Injected jobs that end the way each test says."""

    def import_roots(self, roots):
        async def job(task):
            task.report(Progress(Stage.LOOKUP, 3, 5, deferred=2))
            task.add_problem(ItemProblem("/l/x.safetensors", ProblemKind.RATE_LIMITED, "HTTP 429"))
            task.set_outcome(TaskOutcome.decide(done=3, deferred=2, problems=1))
            return 3

        return job

    def hash_paths(self, paths):
        async def job(task):
            task.report(Progress(Stage.HASH, 1, 2))
            raise DatabaseError("the library database is locked")

        return job

    def identify_paths(self, paths):
        async def job(task):  # sets no outcome: the panel decides it from what was reported
            task.report(Progress(Stage.PARSE, 2, 2))
            task.add_problem(ItemProblem("/l/a.json", ProblemKind.INVALID_JSON, "Expecting value"))
            task.add_problem(ItemProblem("/l/b.json", ProblemKind.INVALID_JSON, "Expecting value"))

        return job

    import_from_headers = identify_paths


def test_rows_show_deferred_failed_and_problems(run, open_window, fixture_library, tmp_path) -> None:
    async def scenario():
        window = await open_window(fixture_library, jobs=OutcomeJobs())
        deferred = window.start_job("Identifying", window.jobs.import_roots([tmp_path]))
        failed = window.start_job("Hashing", window.jobs.hash_paths([tmp_path]))
        problems = window.start_job("Importing", window.jobs.identify_paths([tmp_path]))
        rows = {t.title: window.task_panel.rows[id(t)] for t in (deferred, failed, problems)}
        await wait_until(lambda: not any(t.running for t in (deferred, failed, problems)))
        assert deferred.state == "deferred"
        assert rows["Identifying"].label.text() == "Identifying: 2 deferred (run it again later), 1 problem"
        assert failed.state == "failed" and isinstance(failed.failure, DatabaseError)
        assert rows["Hashing"].label.text() == "Hashing: failed: the library database is locked"
        assert failed.problems[-1].kind is ProblemKind.DATABASE
        assert problems.state == "done_with_problems"
        assert rows["Importing"].label.text() == "Importing: done with 2 problems"
        assert window.task_panel.problems_button.text() == "Problems (4)"
        assert window.statusBar().currentMessage().startswith(("Identifying: ", "Hashing: ", "Importing: "))
        await window.wait_idle()

    run(scenario())


def test_an_identify_that_civitai_rate_limits_ends_deferred_not_done(run, open_window, fixture_library, tmp_path,
                                                                       monkeypatch, fake_civitai) -> None:
    monkeypatch.setenv("CIVITAI_BASE_URL", fake_civitai.base_url)  # the environment wins, as for the CLI
    path = write_safetensors(tmp_path / "limited.safetensors", {"w": b"\x05" * 32})
    fake_civitai.catalogue.add_synthetic(hashlib.sha256(path.read_bytes()).hexdigest(), version_id=77, model_id=78)
    fake_civitai.add_fault("by-hash", "429_json", retry_after="600", times=None)  # past the client's cap

    async def scenario():
        window = await open_window(fixture_library)
        task = window.start_job("Identifying", window.jobs.identify_paths([Path(path)]))
        row = window.task_panel.rows[id(task)]
        await wait_until(lambda: not task.running, 20)
        assert task.outcome.status is OutcomeStatus.DEFERRED and task.outcome.deferred == 1
        assert row.label.text() == "Identifying: 1 deferred (run it again later)"
        await window.wait_idle()

    run(scenario(), timeout=40)
    assert fake_civitai.requests_to("by-hash")
