"""Issue 16, defect 8: the Problems list shows whole paths and classes, sorts, filters, copies, and
keeps the last tasks' problems across a restart (a JSON file beside the library)."""
from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.ui import problems_store
from tests.ui.conftest import wait_until

DEEP = "/mnt/nas/loras/" + "/".join(f"folder-{i:02d}" for i in range(12)) + "/broken-sidecar.civitai.info"


def problem_job(problems):
    async def job(ctx):
        for p in problems:
            ctx.add_problem(p)
    return job


def test_problems_are_whole_sortable_filterable_copyable_and_kept(run, open_window, fixture_library, qapp) -> None:
    problems = [ItemProblem(DEEP, ProblemKind.INVALID_JSON, "Expecting value: line 1 column 1 (char 0)"),
                ItemProblem("/l/a.safetensors", ProblemKind.INVALID_MODEL_FILE, "header length 9999999999"),
                ItemProblem("/l/b.safetensors", ProblemKind.UNREADABLE_NAME, "not UTF-8")]

    async def first():
        window = await open_window(fixture_library)
        task = window.start_job("Importing loras", problem_job(problems))
        await wait_until(lambda: not task.running)
        await window.wait_idle()
        assert window.task_panel.problems_button.text() == "Problems (3)"
        dialog = window.task_panel.show_problems()
        rows = dialog.shown_rows()
        assert {r[2] for r in rows} == {p.path for p in problems}  # whole paths, not prefixes
        assert {r[3] for r in rows} == {"invalid json", "invalid model file", "unreadable name"}
        index = dialog.proxy.index(0, 2)
        assert dialog.table.model().data(index, Qt.ItemDataRole.ToolTipRole) in {f"<qt>{html.escape(p.path)}</qt>" for p in problems}  # literal text
        dialog.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
        assert [r[3] for r in dialog.shown_rows()] == ["invalid json", "invalid model file", "unreadable name"]
        dialog.filter.setText("SAFETENSORS")
        assert len(dialog.shown_rows()) == 2 and dialog.count.text() == "2 of 3"
        dialog.filter.setText("")
        dialog.table.selectRow(0)
        text = dialog.copy_selected()
        assert QGuiApplication.clipboard().text() == text
        lines = text.splitlines()
        assert lines[0].split("\t") == ["When", "Task", "File or item", "Problem", "Message"]
        assert lines[1].split("\t")[1:] == ["Importing loras", DEEP, "invalid json", problems[0].message]
        dialog.close()
        window.close()
        from lora_manager_gui.app import shutdown
        await shutdown(window, window.ctx)

    async def second():
        kept = problems_store.problems_file(fixture_library)
        data = json.loads(kept.read_text("utf-8"))
        assert data["tasks"][0]["problems"][0] == {"path": DEEP, "class": "invalid_json",
                                                   "message": problems[0].message}
        window = await open_window(fixture_library)  # a restart
        assert window.task_panel.problems_button.isVisible()
        assert window.task_panel.problems_button.text() == "Problems (3)"
        rows = window.task_panel.show_problems().shown_rows()
        assert sorted(r[2] for r in rows) == sorted(p.path for p in problems)
        assert all(r[0] and r[1] == "Importing loras" for r in rows)

    run(first())
    run(second())


def test_a_broken_problems_file_is_an_empty_list(tmp_path) -> None:
    path = tmp_path / "lib.problems.json"
    path.write_text("{not json", "utf-8")
    assert problems_store.load(path) == []
    assert problems_store.load(tmp_path / "missing.json") == []
    many = [problems_store.TaskProblems(f"t{i}", problems_store.now_iso(), "done", (
        ItemProblem("/x", ProblemKind.INVALID_JSON, "m"),)) for i in range(50)]
    problems_store.save(path, many)
    kept = problems_store.load(path)
    assert len(kept) == problems_store.KEEP_TASKS and kept[0].title == "t0"
