"""Background work: throttled progress, per-item errors, cancel, and a clean shutdown on close."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind, Progress, Stage
from lora_manager_gui.services.executors import WorkPool
from tests.ui.conftest import wait_until


class ControlledJobs:
    """Injected background work: a worker thread that reports per item until told to stop."""

    def __init__(self, pool: WorkPool, items: int = 10_000, ignore_cancel: bool = False) -> None:
        self.pool = pool
        self.items = items
        self.ignore_cancel = ignore_cancel
        self.started = threading.Event()
        self.imported: list[list[Path]] = []
        self.release = threading.Event()

    def import_roots(self, roots):
        self.imported.append(list(roots))

        async def job(ctx):
            def work() -> int:
                self.started.set()
                done = 0
                while done < self.items:
                    if ctx.cancel_event.is_set() and not self.ignore_cancel:
                        break
                    if self.release.is_set() and self.ignore_cancel:
                        break
                    done += 1
                    ctx.report(Progress(Stage.PARSE, done, self.items, done * 4096, self.items * 4096))
                    if done % 7 == 0:
                        ctx.add_problem(ItemProblem(f"/loras/broken-{done}.json", ProblemKind.INVALID_JSON,
                                                    "Expecting value: line 1 column 1"))
                    time.sleep(0.001)
                return done

            return await self.pool.call(work)

        return job

    hash_paths = identify_paths = import_roots


def test_import_runs_with_progress_and_can_be_cancelled(run, open_window, fixture_library, tmp_path) -> None:
    pool = WorkPool(2)

    async def scenario():
        jobs = ControlledJobs(pool)
        window = await open_window(fixture_library, jobs=jobs)
        task = window.import_folders([tmp_path / "more-loras"])
        assert jobs.imported == [[tmp_path / "more-loras"]]
        assert str(tmp_path / "more-loras") in window.ctx.settings.library_roots  # remembered
        row = window.task_panel.rows[id(task)]
        await wait_until(lambda: task.progress.done > 50)
        assert row.isVisible() and row.cancel_button.isEnabled()
        assert task.progress.total == 10_000
        assert "/ 10,000" in row.label.text() and "reading metadata" in row.label.text()  # Stage.label
        assert task.progress.bytes_per_s and task.progress.bytes_per_s > 0
        await wait_until(lambda: len(task.problems) > 0)
        assert task.problems[0].kind is ProblemKind.INVALID_JSON and "broken-" in task.problems[0].path
        assert window.task_panel.problems_button.isVisible()
        # throttled: far fewer GUI updates than items reported
        await asyncio.sleep(0.5)
        assert task.progress_updates < task.progress.done / 5
        row.cancel_button.click()
        await wait_until(lambda: not task.running)
        assert task.state == "cancelled"
        assert 0 < task.result < 10_000
        assert row.label.text().startswith(f"{task.title}: cancelled after ")
        assert window.tasks.running == []
        dialog = window.task_panel.show_problems()
        assert dialog.shown_rows()[0][3] == "invalid json"

    try:
        run(scenario())
    finally:
        pool.close()


def test_closing_with_tasks_running_shuts_down_cleanly(run, open_window, fixture_library, tmp_path) -> None:
    from lora_manager_gui.app import shutdown

    pool = WorkPool(2)
    cooperative = ControlledJobs(pool, items=10**9)
    stubborn_started = asyncio.Event()

    async def stubborn(ctx):  # ignores the cancel flag: only an asyncio cancel stops it
        stubborn_started.set()
        await asyncio.sleep(3600)

    async def scenario():
        window = await open_window(fixture_library, jobs=cooperative)
        window.import_folders([tmp_path])
        window.start_job("Never ends", stubborn)
        await wait_until(lambda: cooperative.started.is_set())
        await stubborn_started.wait()
        window.close()
        assert window.closed_event.is_set()
        t0 = asyncio.get_running_loop().time()
        await shutdown(window, window.ctx)
        elapsed = asyncio.get_running_loop().time() - t0
        assert elapsed < 8
        assert window.tasks.running == []
        assert window.ctx.db._pool._shutdown and window.ctx.pool._pool._shutdown
        assert window.ctx.db.db.is_closed()

    try:
        run(scenario(), timeout=30)
    finally:
        pool.close()


def test_unexpected_exception_goes_to_log_and_dialog(run, qapp, tmp_path) -> None:
    import logging

    from PySide6.QtWidgets import QMessageBox

    from lora_manager_gui.ui import async_bridge
    from lora_manager_gui.ui.error_reporting import configure_file_logging, install

    log_path = configure_file_logging(tmp_path / "logs")
    assert log_path is not None

    async def scenario():
        reporter = install(log_path, asyncio.get_running_loop())

        async def broken():
            raise ZeroDivisionError("boom in a slot")

        async_bridge.spawn(broken(), name="refresh thumbnails")
        await wait_until(lambda: reporter.reported)
        await asyncio.sleep(0.05)
        boxes = [w for w in qapp.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
        assert boxes and "ZeroDivisionError: boom in a slot" in boxes[0].text()
        assert str(log_path) in boxes[0].text()
        for b in boxes:
            b.close()
        return reporter

    try:
        reporter = run(scenario())
        assert reporter.reported == ["refresh thumbnails: ZeroDivisionError: boom in a slot"]
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = log_path.read_text("utf-8")
        assert "ZeroDivisionError: boom in a slot" in text and "Traceback" in text
    finally:
        import sys

        async_bridge.set_error_sink(None)
        sys.excepthook = sys.__excepthook__
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "baseFilename", "").startswith(str(tmp_path)):
                root.removeHandler(handler)
                handler.close()
