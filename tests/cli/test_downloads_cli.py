"""download, updates and verify as a user runs them (subprocesses), against the fake CivitAI."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.services.download_helpers import model_bytes, publish, sha


def _env(server) -> dict[str, str]:
    return {**os.environ, "CIVITAI_BASE_URL": server.base_url}


def cli(db: Path, server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), *args],
                          capture_output=True, text=True, env=_env(server), timeout=120)


def _row(db: Path) -> tuple[str, int] | None:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT status, bytes_done FROM download").fetchone()
    except sqlite3.Error:
        return None


def test_queue_survives_kill_9_and_the_next_run_resumes_with_range(tmp_path: Path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 6_000_000)
    stored = publish(fake_civitai, content) and fake_civitai.files[501]
    stored.chunk_delay = 0.05
    db, dest = tmp_path / "lib.sqlite3", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lora_manager_gui", "--db", str(db), "download", "501", "--to", str(dest)],
                            env=_env(fake_civitai), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = _row(db)
            if row and row[0] == "running" and row[1] > 1_000_000:
                break
            assert proc.poll() is None, "the download ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("the download never got going")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    status, saved = _row(db)
    assert status == "running" and 0 < saved < len(content)
    assert not (dest / "cool_style.safetensors").exists()
    stored.chunk_delay = 0
    second = cli(db, fake_civitai, "download", "501", "--to", str(dest), "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    [item] = report["items"]
    assert item["status"] == "done" and item["dest_path"] == str(dest / "cool_style.safetensors")
    assert sha((dest / "cool_style.safetensors").read_bytes()) == sha(content)
    resumed = [r for r in fake_civitai.requests if r.server == "storage"][-1]
    start = int(resumed.headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert start >= saved and resumed.headers.get("If-Range")
    assert report["imported"] == [str(dest)]


def test_download_json_reports_a_gated_file_and_exits_1(tmp_path: Path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 5000), gated="login")
    done = cli(tmp_path / "lib.sqlite3", fake_civitai, "download", "https://civitai.com/models/77?modelVersionId=501",
               "--to", str(tmp_path / "out"), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["items"][0]["problem"] == "login_required" and "API key" in report["problems"][0]["message"]


def test_download_without_a_library_root_says_to_use_to(tmp_path: Path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 5000))
    done = cli(tmp_path / "lib.sqlite3", fake_civitai, "download", "501")
    assert done.returncode == 1 and "--to DIR" in done.stderr


def test_updates_and_verify_commands(tmp_path: Path, fake_civitai) -> None:
    db = tmp_path / "lib.sqlite3"
    content = model_bytes(tmp_path, 20_000)
    version = publish(fake_civitai, content)
    model = fake_civitai.catalogue.models[77]
    model["modelVersions"] = [{"id": 501, "name": "v501", "publishedAt": "2025-01-01"},
                              {"id": 502, "name": "v502", "publishedAt": "2025-05-01"}]
    assert version["id"] == 501
    out = tmp_path / "loras"
    assert cli(db, fake_civitai, "download", "501", "--to", str(out / "SDXL")).returncode == 0
    first = json.loads(cli(db, fake_civitai, "updates", "--json").stdout)
    assert first["checked"] == 1 and [u["latest_version_id"] for u in first["updates"]] == [502]
    assert json.loads(cli(db, fake_civitai, "updates", "--json").stdout)["skipped"] == 1
    ignored = json.loads(cli(db, fake_civitai, "updates", "--ignore", "502", "--force", "--json").stdout)
    assert ignored["updates"] == []
    whole = cli(db, fake_civitai, "verify", str(out), "--json")
    assert whole.returncode == 0 and json.loads(whole.stdout)["files"] == 1
    (out / "SDXL" / "broken.safetensors").write_bytes(content[:-100])
    broken = cli(db, fake_civitai, "verify", str(out), "--deep", "--json")
    assert broken.returncode == 1
    assert [f["finding"] for f in json.loads(broken.stdout)["findings"]] == ["truncated"]
    assert cli(db, fake_civitai, "verify", str(tmp_path / "nope")).returncode == 2
