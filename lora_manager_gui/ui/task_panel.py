"""The status-bar task panel: one row per running task, and the session's problem list.

A row reads the task contract of core/tasks.py only: the latest `Progress` (stage label, counts,
bytes) while the task runs, its `TaskOutcome` once it has ended, and the `ItemProblem`s it added.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.core.tasks import ItemProblem, OutcomeStatus, TaskOutcome
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
        self.cancel_button.setAccessibleName(f"Cancel {task.title}")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(f"Stop {task.title}")
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


class ProblemListDialog(QDialog):
    """Every per-item problem of the session: task, item, kind and message (plain text)."""

    def __init__(self, problems: list[tuple[str, ItemProblem]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Problems")
        self.resize(820, 420)
        self.table = QTableWidget(len(problems), 4)
        self.table.setHorizontalHeaderLabels(["Task", "Item", "Problem", "Message"])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (task_title, problem) in enumerate(problems):
            for c, text in enumerate((task_title, problem.path, problem.kind.label, problem.message)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)


class TaskPanel(QWidget):
    """Lives in the status bar; shows running tasks and a "Problems (n)" button."""

    def __init__(self, manager: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.problems: list[tuple[str, ItemProblem]] = []
        self.rows: dict[int, TaskRow] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.problems_button = QPushButton("Problems (0)")
        self.problems_button.setFlat(True)
        self.problems_button.hide()
        self.problems_button.clicked.connect(self.show_problems)
        self._layout.addWidget(self.problems_button)
        manager.task_started.connect(self._add_task)

    def _add_task(self, task: BackgroundTask) -> None:
        row = TaskRow(task, self)
        self.rows[id(task)] = row
        self._layout.insertWidget(self._layout.count() - 1, row)
        task.problems_added.connect(lambda problems, t=task: self._add_problems(t, problems))
        task.finished.connect(self._task_finished)

    def _add_problems(self, task: BackgroundTask, problems: list[ItemProblem]) -> None:
        self.problems.extend((task.title, p) for p in problems)
        self.problems_button.setText(f"Problems ({len(self.problems):,})")
        self.problems_button.show()

    def _task_finished(self, task: BackgroundTask) -> None:
        row = self.rows.pop(id(task), None)
        if row is not None:
            QTimer.singleShot(FINISHED_ROW_LINGER_MS, row.deleteLater)

    def show_problems(self) -> ProblemListDialog:
        dialog = ProblemListDialog(self.problems, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog
