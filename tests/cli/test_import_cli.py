"""`lora-manager import` / `orphans`: exit codes, the --json shape, and a killed import."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lora_manager_gui.cli import run


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", *args], capture_output=True, text=True, timeout=120)


def test_import_json_shape_and_exit_zero_with_file_errors(lora_tree, db_path: Path, capsys) -> None:
    lora_tree.civitai_model("a/good.json", "Good")
    lora_tree.model("a/good.safetensors")
    lora_tree.write("a/bad.json", "{nope")
    lora_tree.model("a/bad.safetensors")
    lora_tree.model("a/orphan.safetensors")
    assert run(["--db", str(db_path), "import", str(lora_tree.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("files_processed", "imported", "updated", "unchanged", "failed", "orphans", "duplicates", "errors",
                "duration_s", "failed_by_class", "field_coverage", "success_rate", "time_per_file_ms"):
        assert key in out, key
    assert (out["imported"], out["failed"], out["files_processed"]) == (1, 1, 5)
    assert out["errors"] == [{"path": str(lora_tree.root / "a/bad.json"), "class": "invalid_json", "message": out["errors"][0]["message"]}]
    assert out["orphans"] == [str(lora_tree.root / "a/orphan.safetensors")]
    assert run(["--db", str(db_path), "import", str(lora_tree.root)]) == 0
    text = capsys.readouterr().out
    assert "unchanged 2" in text and "invalid_json" in text
    assert run(["--db", str(db_path), "orphans", str(lora_tree.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["orphans"] == [str(lora_tree.root / "a/orphan.safetensors")]


def test_import_cannot_run(tmp_path: Path, lora_tree) -> None:
    missing = cli("--db", str(tmp_path / "l.db"), "import", str(tmp_path / "nope"))
    assert missing.returncode != 0 and "no such folder" in missing.stderr
    assert not (tmp_path / "l.db").exists()  # refused before touching the database
    lora_tree.model("x.safetensors")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    unwritable = cli("--db", str(blocker / "l.db"), "import", str(lora_tree.root))
    assert unwritable.returncode != 0 and "l.db" in unwritable.stderr and "Traceback" not in unwritable.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_import_leaves_consistent_rows_and_a_rerun_completes(lora_tree, db_path: Path) -> None:
    n = 1500
    for i in range(n):
        lora_tree.civitai_model(f"d{i % 10}/m{i:05d}.json", f"Kill {i:05d}")
        lora_tree.model(f"d{i % 10}/m{i:05d}.safetensors")
    proc = subprocess.Popen([sys.executable, "-m", "lora_manager_gui", "--db", str(db_path), "import", str(lora_tree.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=1) as conn:
                    count = conn.execute("SELECT count(*) FROM adapter").fetchone()[0]
            except sqlite3.Error:
                count = 0
            if count > 0:
                break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with sqlite3.connect(db_path) as conn:
        adapters_n = conn.execute("SELECT count(*) FROM adapter").fetchone()[0]
        # Every stored adapter came with its file row and its bookkeeping: no half-written chunk.
        assert conn.execute("SELECT count(*) FROM import_source WHERE adapter_id IS NOT NULL").fetchone()[0] == adapters_n
        assert conn.execute("SELECT count(*) FROM library_file WHERE adapter_id IS NOT NULL").fetchone()[0] == adapters_n
    rerun = cli("--db", str(db_path), "import", str(lora_tree.root), "--json")
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["imported"] + out["unchanged"] == n and out["failed"] == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM adapter").fetchone()[0] == n


def test_the_progress_line_gives_files_per_second_of_elapsed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from lora_manager_gui.cli.library import ProgressLine
    from lora_manager_gui.core.tasks import Progress, Stage

    now = [100.0]
    line = ProgressLine(clock=lambda: now[0])
    now[0] = 100.25  # the walk's first record, a quarter second in: no rate from so short a time
    assert line.text(Progress(Stage.WALK, 42_800)) == "scanning folders: 42,800 files"
    now[0] = 104.0
    assert line.text(Progress(Stage.WALK, 42_800)) == "scanning folders: 42,800 files (10,700/s)"
    assert line.text(Progress(Stage.PARSE, 0, 10_000)) == "reading metadata: 0/10,000"
    now[0] = 105.0
    assert line.text(Progress(Stage.STORE, 1_000, 10_000)) == "saving: 1,000/10,000"
    now[0] = 107.0
    text = line.text(Progress(Stage.STORE, 4_000, 10_000, problems=3))
    assert text == "saving: 4,000/10,000 (1,500/s, about 4 s left), 3 problems"


def test_an_import_reports_its_stages_in_order_and_its_outcome(lora_tree, db_path: Path) -> None:
    import asyncio

    from lora_manager_gui.core.tasks import OutcomeStatus, Stage
    from lora_manager_gui.services.executors import DatabaseExecutor
    from lora_manager_gui.services.importer import run_import

    for i in range(5):
        lora_tree.civitai_model(f"a/m{i}.json", f"M{i}")
        lora_tree.model(f"a/m{i}.safetensors")
    lora_tree.write("a/bad.json", "{nope")
    lora_tree.model("a/bad.safetensors")
    seen = []
    db = DatabaseExecutor(db_path)
    try:
        report = asyncio.run(run_import(db, [lora_tree.root], progress=seen.append))
        again = asyncio.run(run_import(db, [lora_tree.root]))
    finally:
        db.close()
    stages = [p.stage for p in seen]
    assert stages[0] is Stage.PARSE and stages[-1] is Stage.FINISH and Stage.STORE in stages
    assert all(p.total is None or p.done <= p.total for p in seen)
    store = [p for p in seen if p.stage is Stage.STORE]
    assert store[-1].done == store[-1].total == 6 and store[-1].problems == 1
    outcome = report.outcome()
    assert (outcome.status, outcome.done, outcome.problems) == (OutcomeStatus.DONE_WITH_PROBLEMS, 5, 1)
    assert outcome.changes.adapters and outcome.changes.files
    assert report.problems == report.errors and report.problems[0].to_json()["class"] == "invalid_json"
    assert again.outcome().changes.adapters is False and again.outcome().done == 6  # the failed group too


def test_import_reports_moved_files_and_offline_roots(lora_tree, db_path: Path, capsys) -> None:
    """Issue 17: `moved` (count and list) and `offline_roots` in --json, and their lines in the text."""
    root = lora_tree.root
    lora_tree.civitai_model("a/kept.json", "Kept")
    lora_tree.model("a/kept.safetensors", payload=b"kept1234")
    assert run(["--db", str(db_path), "import", str(root)]) == 0
    capsys.readouterr()
    (root / "b").mkdir()
    for name in ("kept.json", "kept.safetensors"):
        os.rename(root / "a" / name, root / "b" / name)
    assert run(["--db", str(db_path), "import", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["moved"] == [{"from": str(root / "a/kept.safetensors"), "to": str(root / "b/kept.safetensors")}]
    assert out["moved_count"] == 1 and out["missing"] == [] and out["offline_roots"] == []
    os.rename(root, root.with_name("unplugged"))
    proc = cli("--db", str(db_path), "import", str(root))  # the drive is unplugged: not an error
    assert proc.returncode == 0, proc.stderr
    assert "Roots offline" in proc.stdout and str(root) in proc.stdout
    assert run(["--db", str(db_path), "import", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["offline_roots"] == [str(root)] and out["missing"] == [] and out["offline_files"] == 0  # already offline
    os.rename(root.with_name("unplugged"), root)
    assert run(["--db", str(db_path), "import", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["offline_roots"] == [] and out["unchanged"] == 1 and out["imported"] == 0 and out["missing"] == []
