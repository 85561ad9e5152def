"""The status-bar task panel: one row per running task, and the session's problem list.

A row reads the task contract of core/tasks.py only: the latest `Progress` (stage label, counts,
bytes) while the task runs, its `TaskOutcome` once it has ended, and the `ItemProblem`s it added.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from lora_manager_gui.core.tasks import ItemProblem, OutcomeStatus, TaskOutcome
from lora_manager_gui.ui import problems_store
from lora_manager_gui.ui.problems_dialog import ProblemEntry, ProblemListDialog
from lora_manager_gui.ui.problems_store import TaskProblems
from lora_manager_gui.ui.tasks import BackgroundTask, TaskManager, TaskProgress

FINISHED_ROW_LINGER_MS = 4000


def outcome_text(outcome: TaskOutcome) -> str:
    """How a task ended, for its row (core.tasks holds the one wording)."""
    return outcome.describe()


class TaskRow(QWidget):
    def __init__(self, task: BackgroundTask, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.label = QLabel(task.title)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # titles and details hold file names
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(180)
        self.bar.setMaximumHeight(14)
        self.bar.setRange(0, 0)  # busy until the first progress arrives
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName(f"Progress of {task.title}")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(f"Stop {task.title}")
        self.cancel_button.setAccessibleName(f"Cancel {task.title}")
        self.cancel_button.clicked.connect(task.cancel)
        self.cancel_button.clicked.connect(lambda: self.cancel_button.setEnabled(False))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        task.progress_changed.connect(self._show_progress)
        task.finished.connect(self._show_finished)

    def _show_progress(self, progress: TaskProgress) -> None:
        frac = progress.fraction
        if frac is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(frac * 1000))
        self.label.setText(f"{self.task.title}: {progress.describe()}")

    def _show_finished(self, task: BackgroundTask) -> None:
        self.cancel_button.hide()
        self.bar.setRange(0, 1000)
        outcome = task.outcome
        assert outcome is not None
        finished = outcome.status in (OutcomeStatus.DONE, OutcomeStatus.DONE_WITH_PROBLEMS)
        self.bar.setValue(1000 if finished else self.bar.value())
        self.label.setText(f"{task.title}: {outcome_text(outcome)}")


class TaskPanel(QWidget):
    """Lives in the status bar; shows running tasks and a "Problems (n)" button.

    The problems of finished tasks go to `history` (newest first), which `persist` hands to the
    window to keep on disk; `set_history` puts back what an earlier session kept."""

    def __init__(self, manager: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.history: list[TaskProblems] = []
        self.live: dict[int, tuple[str, list[ItemProblem]]] = {}
        self.persist: Callable[[list[TaskProblems]], None] | None = None
        self.rows: dict[int, TaskRow] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.problems_button = QPushButton("Problems (0)")
        self.problems_button.setFlat(True)
        self.problems_button.setToolTip("Every problem of this session's and the last sessions' tasks")
        self.problems_button.hide()
        self.problems_button.clicked.connect(self.show_problems)
        self._layout.addWidget(self.problems_button)
        manager.task_started.connect(self._add_task)

    @property
    def problems(self) -> list[tuple[str, ItemProblem]]:
        """(task title, problem) of the running tasks, then of the kept ones, newest first."""
        live = [(title, p) for title, problems in self.live.values() for p in problems]
        return live + [(t.title, p) for t in self.history for p in t.problems]

    def entries(self) -> list[ProblemEntry]:
        entries = [ProblemEntry("", title, p) for title, problems in self.live.values() for p in problems]
        for task in self.history:
            when = _local_time(task.finished_at)
            entries.extend(ProblemEntry(when, task.title, p) for p in task.problems)
        return entries

    def set_history(self, history: list[TaskProblems]) -> None:
        self.history = list(history)
        self._update_button()

    def _update_button(self) -> None:
        count = sum(len(p) for _t, p in self.live.values()) + sum(len(t.problems) for t in self.history)
        self.problems_button.setText(f"Problems ({count:,})")
        self.problems_button.setVisible(count > 0)

    def _add_task(self, task: BackgroundTask) -> None:
        row = TaskRow(task, self)
        self.rows[id(task)] = row
        self.live[id(task)] = (task.title, [])
        self._layout.insertWidget(self._layout.count() - 1, row)
        task.problems_added.connect(lambda problems, t=task: self._add_problems(t, problems))
        task.finished.connect(self._task_finished)

    def _add_problems(self, task: BackgroundTask, problems: list[ItemProblem]) -> None:
        self.live.setdefault(id(task), (task.title, []))[1].extend(problems)
        self._update_button()

    def _task_finished(self, task: BackgroundTask) -> None:
        row = self.rows.pop(id(task), None)
        if row is not None:
            QTimer.singleShot(FINISHED_ROW_LINGER_MS, row.deleteLater)
        title, problems = self.live.pop(id(task), (task.title, []))
        if problems:
            outcome = outcome_text(task.outcome) if task.outcome is not None else ""
            self.history.insert(0, TaskProblems(title, problems_store.now_iso(), outcome, tuple(problems)))
            self.history = problems_store.trimmed(self.history)
            if self.persist is not None:
                self.persist(list(self.history))
        self._update_button()

    def show_problems(self) -> ProblemListDialog:
        dialog = ProblemListDialog(self.entries(), self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
