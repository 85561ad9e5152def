"""A headless command loads only what it runs: `cache stats` never imports Qt, httpx or the import pipeline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import runpy, sys, json
sys.argv = ["lora-manager", *sys.argv[1:]]
try:
    runpy.run_module("lora_manager_gui", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""

NOT_NEEDED = ("PySide6", "httpx", "multiprocessing", "lora_manager_gui.services.importer",
              "lora_manager_gui.services.import_workers", "lora_manager_gui.services.civitai",
              "lora_manager_gui.services.identify", "lora_manager_gui.services.header_import",
              "importlib.metadata")  # the version is read only for --version


def _modules(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = dict(os.environ, LORA_MANAGER_DB=str(tmp_path / "lib.sqlite3"))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=60)
    line = [x for x in done.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return done, set(json.loads(line[len("MODULES "):]))


def test_cache_stats_imports_neither_qt_nor_httpx_nor_the_import(tmp_path: Path) -> None:
    done, modules = _modules(tmp_path, "cache", "stats", "--json")
    assert json.loads(done.stdout)["entries"] == 0
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_NEEDED or m in NOT_NEEDED)
    assert loaded == []


def test_the_commands_still_load_what_they_run(tmp_path: Path) -> None:
    # the probe itself is sound: `hash` loads the hasher (and still not httpx)
    (tmp_path / "a.safetensors").write_bytes(b"x" * 10)
    done, modules = _modules(tmp_path, "hash", str(tmp_path / "a.safetensors"))
    assert done.stdout.startswith("FC11") and "a.safetensors" in done.stdout
    assert "lora_manager_gui.services.hasher" in modules and "httpx" not in modules


def test_identify_default_recheck_days_matches_the_service() -> None:
    from lora_manager_gui.cli.identify import DEFAULT_RECHECK_DAYS_TEXT
    from lora_manager_gui.services.identify import DEFAULT_RECHECK_NOT_FOUND_DAYS

    assert float(DEFAULT_RECHECK_DAYS_TEXT) == DEFAULT_RECHECK_NOT_FOUND_DAYS
