"""The status-bar task panel: one row per running task, and the session's error list."""
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

from lora_manager_gui.ui.safe_html import plain_tooltip
from lora_manager_gui.ui.tasks import BackgroundTask, ItemError, TaskManager, TaskProgress

FINISHED_ROW_LINGER_MS = 4000


class TaskRow(QWidget):
    def __init__(self, task: BackgroundTask, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.label = QLabel(task.title)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # progress messages name files
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(180)
        self.bar.setMaximumHeight(14)
        self.bar.setRange(0, 0)  # busy until the first progress arrives
        self.bar.setTextVisible(False)
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
        self.bar.setValue(1000 if task.state == "done" else self.bar.value())
        problems = f", {len(task.errors):,} errors" if task.errors else ""
        self.label.setText(f"{task.title}: {task.state} ({task.progress.done:,} items{problems})")


class ErrorListDialog(QDialog):
    """Every per-item error of the session: item, class and message."""

    def __init__(self, errors: list[tuple[str, ItemError]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Errors")
        self.resize(820, 420)
        self.table = QTableWidget(len(errors), 4)
        self.table.setHorizontalHeaderLabels(["Task", "Item", "Error", "Message"])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (task_title, err) in enumerate(errors):
            for c, text in enumerate((task_title, err.item, err.error_class, err.message)):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tooltip(text))
                self.table.setItem(r, c, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)


class TaskPanel(QWidget):
    """Lives in the status bar; shows running tasks and an "Errors (n)" button."""

    def __init__(self, manager: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.errors: list[tuple[str, ItemError]] = []
        self.rows: dict[int, TaskRow] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.errors_button = QPushButton("Errors (0)")
        self.errors_button.setFlat(True)
        self.errors_button.hide()
        self.errors_button.clicked.connect(self.show_errors)
        self._layout.addWidget(self.errors_button)
        manager.task_started.connect(self._add_task)

    def _add_task(self, task: BackgroundTask) -> None:
        row = TaskRow(task, self)
        self.rows[id(task)] = row
        self._layout.insertWidget(self._layout.count() - 1, row)
        task.errors_added.connect(lambda errs, t=task: self._add_errors(t, errs))
        task.finished.connect(self._task_finished)

    def _add_errors(self, task: BackgroundTask, errors: list[ItemError]) -> None:
        self.errors.extend((task.title, e) for e in errors)
        self.errors_button.setText(f"Errors ({len(self.errors):,})")
        self.errors_button.show()

    def _task_finished(self, task: BackgroundTask) -> None:
        row = self.rows.pop(id(task), None)
        if row is not None:
            QTimer.singleShot(FINISHED_ROW_LINGER_MS, row.deleteLater)

    def show_errors(self) -> None:
        dialog = ErrorListDialog(self.errors, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
