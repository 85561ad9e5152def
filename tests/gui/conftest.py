"""The real app on a real X server: Xvfb with openbox, started once per test session.

Qt cannot change its platform in a process that already made an (offscreen) QApplication, so each
test runs the app in a subprocess (`python -m tests.gui.driver`) with DISPLAY and
QT_QPA_PLATFORM=xcb, and a HOME and XDG folders of its own. The tests are skipped, with the reason,
only when Xvfb or openbox is not installed (`sh scripts/install-system-libs.sh --gui` installs them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1400, 900)
SHOTS_DIR = Path("/tmp/lm-gui-shots")
DRIVER_TIMEOUT_S = 45


def _free_display() -> int:
    for n in range(91, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number between :91 and :199")


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class XDisplay:
    name: str  # ":91"


@pytest.fixture(scope="session")
def x_display(tmp_path_factory: pytest.TempPathFactory):
    """`Xvfb :N -screen 0 1400x900x24` with openbox managing its windows, for the whole session."""
    xvfb, openbox = shutil.which("Xvfb"), shutil.which("openbox")
    if xvfb is None or openbox is None:
        pytest.skip("Xvfb and openbox are not installed (sh scripts/install-system-libs.sh --gui installs them)")
    logs = tmp_path_factory.mktemp("xserver")
    for _attempt in range(3):  # another process may take the number between the check and the start
        n = _free_display()
        server = subprocess.Popen([xvfb, f":{n}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                                  stdout=subprocess.DEVNULL, stderr=open(logs / f"xvfb-{n}.log", "wb"))
        try:
            _wait_for(lambda: Path(f"/tmp/.X11-unix/X{n}").exists() or server.poll() is not None, 10, "Xvfb")
        except RuntimeError:
            server.kill()
            raise
        if server.poll() is None:
            break
    else:
        raise RuntimeError(f"Xvfb would not start: {(logs / f'xvfb-{n}.log').read_text(errors='replace')}")
    env = {**os.environ, "DISPLAY": f":{n}"}
    wm = subprocess.Popen([openbox, "--sm-disable"], env=env, stdout=subprocess.DEVNULL,
                          stderr=open(logs / "openbox.log", "wb"))
    xprop = shutil.which("xprop")
    if xprop:  # openbox sets _NET_SUPPORTING_WM_CHECK on the root window once it manages it
        def wm_ready() -> bool:
            out = subprocess.run([xprop, "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True, text=True)
            return "window id" in out.stdout or wm.poll() is not None
        _wait_for(wm_ready, 10, "openbox")
    else:
        time.sleep(0.5)
    try:
        yield XDisplay(f":{n}")
    finally:
        for proc in (wm, server):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def shots_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test's screenshots go: /tmp/lm-gui-shots/<test> when LM_GUI_SHOTS is set, else tmp."""
    value = os.environ.get("LM_GUI_SHOTS", "").strip()
    if not value:
        return tmp_path / "shots"
    base = Path(value) if os.path.isabs(value) else SHOTS_DIR
    folder = base / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library imported by the CLI, once; each test works on a copy."""
    from lora_manager_gui.ui.demo import demo_root

    db = tmp_path_factory.mktemp("demo-db") / "demo.sqlite3"
    subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), "import", str(demo_root())],
                   cwd=REPO, check=True, capture_output=True, timeout=60)
    return db


@pytest.fixture(scope="session")
def big_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 model files in 20 folders, imported by the CLI: 1,800 with CivitAI JSON, 100 with a
    broken sidecar, 100 orphans (no metadata)."""
    from tests.conftest import LibraryTree

    base = tmp_path_factory.mktemp("big")
    tree = LibraryTree(base / "loras")
    for i in range(2000):
        folder = f"folder-{i % 20:02d}"
        tree.model(f"{folder}/lora-{i:04d}.safetensors", payload=i.to_bytes(4, "little"))
        if i % 20 == 7:
            tree.write(f"{folder}/lora-{i:04d}.json", "{ broken")
        elif i % 20 != 13:
            tree.civitai_model(f"{folder}/lora-{i:04d}.json", f"Style number {i:04d} with a longer name", "v1")
    db = base / "big.sqlite3"
    subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), "import", str(tree.root)],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    return db


@dataclass
class AppRun:
    facts: dict[str, Any]
    shots: Path
    stderr: str


@pytest.fixture
def run_app(x_display: XDisplay, tmp_path: Path, shots_dir: Path):
    """Start the real app on the X display over `db`, let the driver look at it, return what it saw."""

    def _run(db: Path, *, mode: str | None = None, name: str = "app", scale: float | None = None,
             tile_size: int | None = None) -> AppRun:
        home = tmp_path / "home"
        env = {**os.environ, "DISPLAY": x_display.name, "QT_QPA_PLATFORM": "xcb", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
               "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state"),
               "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        env.pop("QT_SCALE_FACTOR", None)
        if scale is not None:  # a 1.5x desktop: the same logical sizes take half as many pixels again
            env["QT_SCALE_FACTOR"] = str(scale)
        cmd = [sys.executable, "-m", "tests.gui.driver", "--db", str(db), "--out", str(shots_dir), "--name", name]
        if mode:
            cmd += ["--mode", mode]
        if tile_size:
            cmd += ["--tile-size", str(tile_size)]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S)
        facts_file = shots_dir / f"{name}.json"
        assert facts_file.is_file(), f"the driver wrote nothing (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        facts = json.loads(facts_file.read_text("utf-8"))
        assert "error" not in facts, facts["error"]
        assert proc.returncode == 0, proc.stderr[-4000:]
        return AppRun(facts, shots_dir, proc.stderr)

    return _run
