"""The hash, cache and identify subcommands, run as a user would (a subprocess), on real files."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from lora_manager_gui.core.safetensors import write_safetensors

TINY_SHA256 = "4802E5DDCAA341F816E407EF58395BC5CB66498061545EF25C037964729AA6C1"


def cli(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), *args],
                          capture_output=True, text=True, env=full_env, timeout=120)


def test_hash_json_then_cached_and_cache_stats_clear(tmp_path: Path, fixtures_dir: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    folder = tmp_path / "loras"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "tiny.safetensors").write_bytes((fixtures_dir / "formats" / "tiny_test_lora.safetensors").read_bytes())
    (folder / "notes.txt").write_text("not a model")
    first = cli(db, "hash", str(folder), "--json")
    assert first.returncode == 0, first.stderr
    [entry] = json.loads(first.stdout)
    assert entry == {"path": str(folder / "sub" / "tiny.safetensors"), "sha256": TINY_SHA256, "autov2": "4802E5DDCA",
                     "size_bytes": 1106, "cached": False}
    second = json.loads(cli(db, "hash", str(folder / "sub" / "tiny.safetensors"), "--json").stdout)
    assert second[0]["cached"] is True
    stats = json.loads(cli(db, "cache", "stats", "--json").stdout)
    assert stats["entries"] == 1 and stats["stale_entries"] == 0 and stats["bytes_covered"] == 1106
    assert json.loads(cli(db, "cache", "clear", "--json").stdout) == {"removed": 1}
    assert json.loads(cli(db, "cache", "stats", "--json").stdout)["entries"] == 0


def test_hash_reports_missing_paths(tmp_path: Path) -> None:
    out = cli(tmp_path / "lib.sqlite3", "hash", str(tmp_path / "nope.safetensors"))
    assert out.returncode == 1 and "nope.safetensors" in out.stderr


def test_identify_every_library_file(tmp_path: Path, fake_civitai) -> None:
    db = tmp_path / "lib.sqlite3"
    root = tmp_path / "library"
    root.mkdir()
    for i in range(3):
        path = write_safetensors(root / f"lora{i}.safetensors", {"w": bytes([i]) * 32}, {"ss_output_name": f"lora{i}"})
        if i < 2:
            sha = hashlib.sha256(path.read_bytes()).hexdigest().upper()
            fake_civitai.catalogue.add_synthetic(sha, version_id=100 + i, model_id=10)
    imported = cli(db, "import", str(root), "--json")
    assert imported.returncode == 0, imported.stderr
    key = "cli-secret-key-3141592653"
    env = {"CIVITAI_BASE_URL": fake_civitai.base_url, "CIVITAI_API_KEY": key}
    out = cli(db, "-v", "identify", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {k: report[k] for k in ("looked_up", "found", "not_found", "failed", "deferred")} == {
        "looked_up": 3, "found": 2, "not_found": 1, "failed": 0, "deferred": 0}
    assert report["requests"] == 3  # one batch, one AutoV3 retry, one /models
    assert key not in out.stdout + out.stderr
    again = json.loads(cli(db, "identify", "--json", env=env).stdout)
    assert again["looked_up"] == 0 and again["requests"] == 0 and again["already_known"] == 3


def test_the_progress_line_reads_task_progress_with_a_sane_rate() -> None:
    from lora_manager_gui.cli.identify import progress_line
    from lora_manager_gui.core.tasks import Progress, Stage

    hashing = Progress(Stage.HASH, 3, 10, bytes_done=40 * 2**30, bytes_total=80 * 2**30)
    assert progress_line(hashing, 0.001) == "hashing 3/10 (40.0 GB of 80.0 GB)"  # no rate over a millisecond
    assert progress_line(hashing, 100.0) == "hashing 3/10 (40.0 GB of 80.0 GB, 409.6 MB/s, 100 s left)"
    lookup = Progress(Stage.LOOKUP, 200, 1000, problems=1, deferred=100)
    assert progress_line(lookup, 4.0) == "looking up on CivitAI 200/1,000 (50.0/s, 1 problem, 100 deferred)"
    assert progress_line(Progress(Stage.WALK, 5), 0.5) == "scanning folders 5"


def test_identify_offline_says_so_once(tmp_path: Path) -> None:
    import socket

    db = tmp_path / "lib.sqlite3"
    root = tmp_path / "library"
    root.mkdir()
    for i in range(3):
        write_safetensors(root / f"lora{i}.safetensors", {"w": bytes([i]) * 32})
    assert cli(db, "import", str(root), "--json").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"CIVITAI_BASE_URL": f"http://127.0.0.1:{port}/api/v1"}
    out = cli(db, "identify", env=env)
    assert out.returncode == 0, out.stderr  # nothing failed: everything waits for the next run
    assert out.stdout.count("[offline]") == 1 and "3 files deferred" in out.stdout
    assert "outcome: 3 deferred (run it again later)" in out.stdout and "Traceback" not in out.stderr
    report = json.loads(cli(db, "identify", "--json", env=env).stdout)
    assert (report["deferred"], report["failed"], report["requests"]) == (3, 0, 3)
    assert set(report) == {"files", "looked_up", "found", "not_found", "failed", "deferred", "already_known",
                           "hash_failed", "cancelled", "requests", "rate_limited_responses", "models_fetched",
                           "models_failed", "autov3_lookups", "seconds", "items"}
