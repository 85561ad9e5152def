"""The task contract: the outcome rule, the throttle, problem classes."""
from __future__ import annotations

from lora_manager_gui.core.tasks import (
    Changes, ItemProblem, OutcomeStatus, Progress, ProblemKind, ProgressThrottle, Stage, TaskOutcome,
    count_kinds,
)


def test_outcome_is_never_done_over_deferred_failed_or_cancelled_items():
    assert TaskOutcome.decide(done=10).status is OutcomeStatus.DONE
    assert TaskOutcome.decide(done=10, problems=1).status is OutcomeStatus.DONE_WITH_PROBLEMS
    assert TaskOutcome.decide(done=10, failed=2).status is OutcomeStatus.DONE_WITH_PROBLEMS
    assert TaskOutcome.decide(done=10, deferred=3, problems=1).status is OutcomeStatus.DEFERRED
    assert TaskOutcome.decide(done=10, deferred=3, was_cancelled=True).status is OutcomeStatus.CANCELLED
    assert TaskOutcome.decide(done=0, cancelled=4).status is OutcomeStatus.CANCELLED
    assert TaskOutcome.decide(done=10, error="disk full").status is OutcomeStatus.FAILED


def test_outcome_describes_itself_in_words():
    assert TaskOutcome.decide(done=5).describe() == "done (5 items)"
    assert TaskOutcome.decide(done=5, problems=1).describe() == "done with 1 problem"
    assert TaskOutcome.decide(done=5, deferred=1582, failed=2).describe() == "1,582 deferred (run it again later), 2 problems"
    assert TaskOutcome.decide(done=7, was_cancelled=True).describe() == "cancelled after 7 items"
    assert TaskOutcome.decide(done=1, was_cancelled=True, failed=1).describe() == "cancelled after 1 item, 1 problem"
    assert TaskOutcome.decide(done=0, error="no such folder").describe() == "failed: no such folder"


def test_changes_combine():
    merged = Changes(adapters=True) | Changes(hashes=True)
    assert merged == Changes(adapters=True, hashes=True) and merged.any
    assert not Changes().any


def test_throttle_passes_stage_changes_and_forced_calls_and_drops_the_rest():
    now = [0.0]
    seen: list[Progress] = []
    throttle = ProgressThrottle(seen.append, interval=1.0, clock=lambda: now[0])
    throttle(Progress(Stage.WALK, 1))
    throttle(Progress(Stage.WALK, 2))  # too soon
    now[0] = 1.5
    throttle(Progress(Stage.WALK, 3))
    throttle(Progress(Stage.PARSE, 0))  # a new stage always goes through
    throttle(Progress(Stage.PARSE, 9), force=True)
    assert [(p.stage, p.done) for p in seen] == [(Stage.WALK, 1), (Stage.WALK, 3), (Stage.PARSE, 0), (Stage.PARSE, 9)]


def test_problem_kinds_parse_and_count():
    assert ProblemKind.parse("invalid_json") is ProblemKind.INVALID_JSON
    assert ProblemKind.parse("something new") is ProblemKind.INTERNAL
    problems = [ItemProblem("a", ProblemKind.TOO_LARGE, "x"), ItemProblem("b", ProblemKind.INVALID_JSON, "y"),
                ItemProblem("c", ProblemKind.INVALID_JSON, "z")]
    assert count_kinds(problems) == {"invalid_json": 2, "too_large": 1}
    assert problems[0].to_json() == {"path": "a", "class": "too_large", "message": "x"}
    assert all(stage.label for stage in Stage)
    assert Progress(Stage.HASH, 1, 4, bytes_done=50, bytes_total=100).fraction == 0.5
