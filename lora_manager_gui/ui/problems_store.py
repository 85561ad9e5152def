"""The problems of the last tasks, kept in a JSON file beside the library so a restart keeps them.

`<library>.problems.json` sits next to the library database (its folder is writable: SQLite
needs that for its journal), so the list follows the library it is about. At most KEEP_TASKS
tasks and KEEP_PROBLEMS problems are kept, newest first; the file is written whole to a temporary
name and renamed, off the GUI thread. A missing or broken file is an empty list, never an error.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KEEP_TASKS = 20
KEEP_PROBLEMS = 20_000


@dataclass(frozen=True)
class TaskProblems:
    """The problems one task reported, with how and when it ended."""

    title: str
    finished_at: str  # ISO 8601, UTC
    outcome: str
    problems: tuple[ItemProblem, ...]

    def to_json(self) -> dict[str, object]:
        return {"title": self.title, "finished_at": self.finished_at, "outcome": self.outcome,
                "problems": [p.to_json() for p in self.problems]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TaskProblems:
        raw = data.get("problems")
        problems = tuple(ItemProblem(str(p.get("path", "")), ProblemKind.parse(p.get("class")), str(p.get("message", "")))
                         for p in (raw if isinstance(raw, list) else []) if isinstance(p, dict))
        return cls(str(data.get("title", "")), str(data.get("finished_at", "")), str(data.get("outcome", "")), problems)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def problems_file(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + ".problems.json")


def load(path: Path) -> list[TaskProblems]:
    """The kept tasks, newest first (worker thread)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("cannot read the kept problems in %s: %s", path, exc)
        return []
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [TaskProblems.from_json(t) for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []


def trimmed(tasks: list[TaskProblems]) -> list[TaskProblems]:
    kept: list[TaskProblems] = []
    budget = KEEP_PROBLEMS
    for task in tasks[:KEEP_TASKS]:
        if budget <= 0:
            break
        kept.append(TaskProblems(task.title, task.finished_at, task.outcome, task.problems[:budget]))
        budget -= len(kept[-1].problems)
    return kept


def save(path: Path, tasks: list[TaskProblems]) -> None:
    """Write the kept tasks atomically (worker thread); a failure is logged, not raised."""
    body = json.dumps({"version": FORMAT_VERSION, "tasks": [t.to_json() for t in trimmed(tasks)]},
                      ensure_ascii=False, indent=1)
    # open() rather than mkstemp: the file gets the umask's mode (0644), as every file the app writes
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot keep the problems in %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
