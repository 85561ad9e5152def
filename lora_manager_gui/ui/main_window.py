"""The main window: three views, menus, drops, the task panel, and state that persists."""
from __future__ import annotations

import gc

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from lora_manager_gui.ui import demo
from lora_manager_gui.ui.about import app_icon
from lora_manager_gui.ui.adapter_actions import AdapterActions
from lora_manager_gui.ui.adapters_view import AdaptersView
from lora_manager_gui.ui.async_bridge import TaskTracker
from lora_manager_gui.ui.context import AppContext
from lora_manager_gui.ui.drops import DropPlan, plan_for_paths, split_mime
from lora_manager_gui.ui.jobs import Jobs, ServiceJobs
from lora_manager_gui.ui.menus import build_menus, clear_on_escape
from lora_manager_gui.ui import last_library, problems_store
from lora_manager_gui.ui.orphans_view import OrphansView
from lora_manager_gui.ui.problems_store import TaskProblems
from lora_manager_gui.ui.settings import AppSettings, SettingsDialog
from lora_manager_gui.ui.stacks_view import StacksView
from lora_manager_gui.ui.task_panel import TaskPanel, outcome_text
from lora_manager_gui.ui.tasks import BackgroundTask, JobFn, TaskManager
from lora_manager_gui.ui.widgets import ElidedLabel, RootsNotice
from lora_manager_gui.ui.window_geometry import default_size, fit_to_screen

log = logging.getLogger(__name__)

VIEWS = ("adapters", "orphans", "stacks")
RELOAD_DURING_TASK_S = 2.0


def settle_heap() -> None:
    """Once start-up is done, move every object alive so far (modules, classes, Qt wrappers) out of
    the collector's reach. A full collection walks every tracked object while holding the GIL, so
    with start-up objects included it stalled all threads, the GUI's too, for 45-65 ms during long
    imports (benchmarks/ui_bench.py); frozen, they are never walked again."""
    gc.collect()
    gc.freeze()


class MainWindow(QMainWindow):
    closed = Signal()
    drop_rejected = Signal(str)

    def __init__(self, ctx: AppContext, jobs: Jobs | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.jobs: Jobs = jobs or ServiceJobs(ctx.library)
        self.tracker = TaskTracker()
        self.tasks = TaskManager(self)
        self.closed_event = asyncio.Event()
        self._last_reload = 0.0
        self.setAcceptDrops(True)
        self.setWindowIcon(app_icon())
        self.resize(default_size(self))
        self._fitted_once = False

        self.adapters = AdaptersView(ctx)
        self.orphans = OrphansView(ctx)
        self.stacks = StacksView(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.adapters, "Adapters")
        self.tabs.addTab(self.orphans, "Orphans")
        self.tabs.addTab(self.stacks, "Stacks")
        self.setCentralWidget(self.tabs)
        self.tabs.setAccessibleName("Views")
        self.tabs.tabBar().setAccessibleName("Views")

        self.task_panel = TaskPanel(self.tasks)
        self.task_panel.persist = self._persist_problems
        # Messages are drawn left of the permanent widgets: the library stays readable beside them.
        self.library_label = ElidedLabel(min_chars=16)
        self.library_label.setObjectName("library_label")
        self.roots_notice = RootsNotice(self._forget_roots)
        self.statusBar().addPermanentWidget(self.roots_notice)
        self.statusBar().addPermanentWidget(self.task_panel)
        self.statusBar().addPermanentWidget(self.library_label)
        for view in (self.adapters, self.stacks):
            view.message_posted.connect(self.show_message)
        self.adapters.empty.add_folder_requested.connect(self.add_folder)
        self.adapters.empty.demo_requested.connect(self.open_demo_library)
        self.orphans.hash_requested.connect(lambda paths: self.start_job("Hashing", self.jobs.hash_paths(paths)))
        self.orphans.identify_requested.connect(
            lambda paths: self.start_job("Identifying", self.jobs.identify_paths(paths)))
        self.orphans.import_requested.connect(self._import_orphans)
        self.tabs.currentChanged.connect(self._view_changed)
        self.tasks.task_finished.connect(self._task_finished)
        self.tasks.task_started.connect(self._task_started)
        self.adapter_actions = AdapterActions(self.adapters, self.hash_selected, self.identify_selected)
        self.actions_by_name = build_menus(self, VIEWS)
        self.about_action = self.actions_by_name["about"]
        clear_on_escape(self)
        self._update_title()
        self._route_drops_to_window()
        geometry = ctx.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)  # before show(): no jump on screen
        fit_to_screen(self)  # a geometry saved at another scale or on a bigger screen

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted_once:  # the window manager's frame is known once shown
            self._fitted_once = True
            QTimer.singleShot(0, lambda: fit_to_screen(self))

    def _route_drops_to_window(self) -> None:
        """Text fields and browsers take drops themselves (a dropped file would become its path as
        text); a filter on those few widgets hands every drop on the window to `dropEvent` instead."""
        for widget in self.findChildren(QWidget):
            if widget.acceptDrops():
                widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            event.acceptProposedAction()  # type: ignore[attr-defined]
            return True
        if kind == QEvent.Type.Drop:
            self.dropEvent(event)  # type: ignore[arg-type]
            return True
        return super().eventFilter(watched, event)

    # ---- menus and keys -----------------------------------------------------------------------
    def focus_search(self) -> None:
        self.show_view("adapters")
        self.adapters.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.adapters.search.selectAll()

    def clear_search(self) -> None:
        if self.adapters.search.text():
            self.adapters.search.clear()
            self.adapters.apply_filters()

    def hash_selected(self) -> None:
        self._selected_job("Hashing", self.jobs.hash_paths)

    def identify_selected(self) -> None:
        self._selected_job("Identifying", self.jobs.identify_paths)

    def _update_title(self) -> None:
        # The platform appends the application's display name ("demo.sqlite3 — LoRA Manager").
        self.setWindowTitle(self.ctx.db_path.name)
        self.library_label.setText(f"Library: {self.ctx.db_path}")

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    # ---- start-up and state ------------------------------------------------------------------
    async def load(self) -> None:
        """First fill of the views (awaited by the app after show())."""
        self.restore_state()
        await self.adapters.reload()
        self.orphans.reload()
        await self._load_problems()
        settle_heap()

    def restore_state(self) -> None:
        # "window/adapters_panes": folders | rows | details. The two-pane state saved before the
        # folder sidebar ("window/adapters_splitter") is not restored onto three panes.
        store = self.ctx.store
        for key, restore in (("window/adapters_panes", self.adapters.splitter.restoreState),
                             ("window/stacks_splitter", self.stacks.splitter.restoreState),
                             ("window/adapter_columns", self.adapters.table.horizontalHeader().restoreState),
                             ("window/orphan_columns", self.orphans.table.horizontalHeader().restoreState)):
            value = store.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                restore(value)
        last = str(store.value("window/view", "adapters"))
        self.show_view(last if last in VIEWS else "adapters")
        self.adapters.mode.setCurrentText(str(store.value("window/adapters_mode", "Table")))

    def save_state(self) -> None:
        store = self.ctx.store
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/adapters_panes", self.adapters.splitter.saveState())
        store.setValue("window/stacks_splitter", self.stacks.splitter.saveState())
        store.setValue("window/adapter_columns", self.adapters.table.horizontalHeader().saveState())
        store.setValue("window/orphan_columns", self.orphans.table.horizontalHeader().saveState())
        store.setValue("window/view", self.current_view())
        store.setValue("window/adapters_mode", self.adapters.mode.currentText())
        last_library.remember(store, self.ctx.db_path)
        store.sync()

    def show_view(self, name: str) -> None:
        self.tabs.setCurrentIndex(VIEWS.index(name))

    def current_view(self) -> str:
        return VIEWS[self.tabs.currentIndex()]

    def _view_changed(self, index: int) -> None:
        if VIEWS[index] == "orphans":
            self.orphans.reload()

    # ---- the kept problems -------------------------------------------------------------------
    async def _load_problems(self) -> None:
        """The problems the last sessions' tasks reported on this library (read on the work pool)."""
        path = problems_store.problems_file(self.ctx.db_path)
        self.task_panel.set_history(await self.ctx.pool.call(problems_store.load, path))

    def _persist_problems(self, history: list[TaskProblems]) -> None:
        path = problems_store.problems_file(self.ctx.db_path)
        self.tracker.spawn(self.ctx.pool.call(problems_store.save, path, history), "keep problems")

    # ---- background work ---------------------------------------------------------------------
    def start_job(self, title: str, job: JobFn) -> BackgroundTask:
        return self.tasks.start(title, job)

    def _task_started(self, task: BackgroundTask) -> None:
        task.progress_changed.connect(lambda _p: self._reload_while_running())

    def _reload_while_running(self) -> None:
        """Results appear as they land: re-read the views every few seconds while a task runs."""
        now = asyncio.get_event_loop().time()
        if now - self._last_reload >= RELOAD_DURING_TASK_S:
            self._last_reload = now
            self.tracker.spawn(self.adapters.reload(), "reload adapters")

    def _task_finished(self, task: BackgroundTask) -> None:
        assert task.outcome is not None
        self.show_message(f"{task.title}: {outcome_text(task.outcome)}")
        self.tracker.spawn(self.adapters.reload(), "reload adapters")
        self.orphans.reload()

    def _selected_job(self, title: str, make) -> None:  # type: ignore[no-untyped-def]
        paths = [Path(r.file_path) for r in self.adapters.selected_rows() if r.file_path and not r.missing]
        if not paths:
            self.show_message("Select adapters whose model files exist first.")
            return
        self.start_job(f"{title} {len(paths):,} files", make(paths))

    def import_folders(self, folders: list[Path]) -> BackgroundTask:
        roots = list(dict.fromkeys([*map(Path, self.ctx.settings.library_roots), *folders]))
        known = self.ctx.settings.library_roots
        new = [str(f) for f in folders if str(f) not in known]
        if new:
            self.ctx.remember_roots([*known, *new])
            self.roots_notice.show_added(new)
        return self.start_job(f"Importing {', '.join(f.name or str(f) for f in folders)}", self.jobs.import_roots(roots))

    def _forget_roots(self, roots: list[str]) -> None:
        """Undo of "added to the library folders": Re-scan no longer reads them (what they brought stays)."""
        self.ctx.remember_roots([r for r in self.ctx.settings.library_roots if r not in roots])
        self.show_message(f"Re-scan will no longer read {', '.join(roots)}.")

    def _import_orphans(self, paths: list[Path]) -> None:
        self.start_job(f"Importing {len(paths):,} orphans from their headers", self.jobs.import_from_headers(paths))

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a LoRA folder")
        if folder:
            self.import_folders([Path(folder)])

    def rescan(self) -> None:
        if not self.ctx.settings.library_roots:
            self.add_folder()
            return
        self.start_job("Re-scanning the library", self.jobs.import_roots([Path(r) for r in self.ctx.settings.library_roots]))

    def edit_settings(self) -> SettingsDialog:
        """The settings dialog (window-modal); saving applies the settings to the library at once."""
        dialog = SettingsDialog(self.ctx.settings, self, overrides=self.ctx.overrides, db_path=self.ctx.db_path)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.tracker.spawn(self.apply_settings(dialog.result_settings()),
                                                           "apply settings"))
        dialog.open()
        return dialog

    async def apply_settings(self, settings: AppSettings) -> None:
        await self.ctx.apply_settings(settings)
        self.show_message("Settings saved.")

    # ---- libraries -----------------------------------------------------------------------------
    def choose_database(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Open or create a library database", str(self.ctx.db_path.parent),
                                              "Library (*.sqlite3 *.db)", options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.tracker.spawn(self.switch_library(Path(path)), "open library")

    async def switch_library(self, path: Path, import_roots: list[Path] | None = None) -> None:
        if self.tasks.running:
            await self.tasks.shutdown()
        await self.ctx.switch_database(path)
        last_library.remember(self.ctx.store, path)
        self._update_title()
        await self.adapters.reload()
        self.orphans.reload()
        await self._load_problems()
        if import_roots:
            self.start_job("Importing the demo library", self.jobs.import_roots(import_roots))

    def open_demo_library(self) -> None:
        self.tracker.spawn(self._open_demo(), "open demo library")

    async def _open_demo(self) -> None:
        root = demo.demo_root()
        if not root.is_dir():
            QMessageBox.warning(self, "Demo library", f"The demo library is missing from this installation ({root}).")
            return
        await self.switch_library(demo.demo_db_path(), import_roots=[root])

    # ---- drops --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Accept everything: what cannot be used gets a message on drop instead of a silent "no".
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        paths, rejected = split_mime(event.mimeData())
        self.tracker.spawn(self._plan_and_handle(paths, rejected), "drop")

    async def _plan_and_handle(self, paths: list[Path], rejected: list[tuple[str, str]]) -> None:
        """The disk checks (is it a folder? does it exist?) run on the work pool."""
        plan: DropPlan = await self.ctx.pool.call(plan_for_paths, paths) if paths else DropPlan()
        plan.rejected = rejected + plan.rejected
        self.handle_drop_plan(plan)

    def handle_drop_plan(self, plan: DropPlan) -> None:
        if plan.rejected:
            text = plan.rejection_text()
            self.show_message(text.splitlines()[1] if len(text.splitlines()) > 1 else text)
            self.drop_rejected.emit(text)
            if not plan.usable:
                box = QMessageBox(QMessageBox.Icon.Information, "Cannot use this drop", text, parent=self)
                box.setTextFormat(Qt.TextFormat.PlainText)  # dropped names, shown literally
                box.open()
        if plan.stacks:
            self.show_view("stacks")
            for path in plan.stacks:
                self.stacks.inspect(path)
        if plan.folders:
            self.import_folders(plan.folders)

    # ---- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        event.accept()
        self.closed_event.set()
        self.closed.emit()

    async def shutdown(self) -> None:
        """Cancel every task and wait for it; the app then closes the executors."""
        await self.tasks.shutdown()
        for tracker in (self.tracker, self.adapters.tracker, self.adapters.model.tracker,
                        self.adapters.details.tracker, self.adapters.thumbnails.tracker,
                        self.adapters.previews.tracker, self.orphans.tracker, self.stacks.tracker):
            await tracker.cancel_all()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.tracker.wait_idle(timeout)
        await self.adapters.wait_idle(timeout)
        await self.orphans.wait_idle(timeout)
        await self.stacks.wait_idle(timeout)
