"""The details pane at 1280x800 and the dark theme, on Xvfb + openbox (issue 16).

At 1280x800 the pane shows every label whole, keeps its buttons inside the window and the pane,
shows the CivitAI link, and shows hashes and the path whole (every wrapped line in view). In the
dark theme every view (table, gallery, orphans, stacks) is dark and its labels are not clipped
either. Screenshots stay in the shots folder (LM_GUI_SHOTS=1 keeps them under /tmp/lm-gui-shots).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.conftest import DRIVER_TIMEOUT_S, REPO
from tests.gui.test_real_display import clipped_widgets, copy_of

pytestmark = pytest.mark.gui


def _drive(x_display, tmp_path: Path, shots: Path, db: Path, *, theme: str, name: str) -> dict:
    home = tmp_path / "home"
    env = {**os.environ, "DISPLAY": x_display.name, "QT_QPA_PLATFORM": "xcb", "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("QT_SCALE_FACTOR", None)
    cmd = [sys.executable, "-m", "tests.gui.details_driver", "--db", str(db), "--out", str(shots),
           "--name", name, "--theme", theme]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S)
    facts_file = shots / f"{name}.json"
    assert facts_file.is_file(), f"the driver wrote nothing (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    facts = json.loads(facts_file.read_text("utf-8"))
    assert "error" not in facts, facts["error"]
    assert proc.returncode == 0, proc.stderr[-4000:]
    return facts


def _assert_pane_whole(facts: dict, key: str) -> None:
    pane = facts[key]
    vx, vy, vw, vh = pane["viewport"]
    assert pane["body_width"] <= vw and not pane["horizontal_scroll"], pane
    for value in pane["values"]:
        assert value["fits"], value  # every wrapped line of a hash or the path in view
        assert value["right"] <= vw, value
    window_w, window_h = facts["window"]["size"]
    visible = [w for w in pane["widgets"] if vy <= w["geometry"][1] and w["geometry"][1] + w["geometry"][3] <= vy + vh]
    for w in visible:
        x, y, width, height = w["geometry"]
        assert vx <= x and x + width <= vx + vw and x + width <= window_w, w  # inside the pane and the window
    assert clipped_widgets({"widgets": visible}) == []


def test_details_pane_at_1280x800(x_display, demo_library, tmp_path, shots_dir) -> None:
    facts = _drive(x_display, tmp_path, shots_dir, copy_of(demo_library, tmp_path), theme="light", name="details")
    assert facts["theme"] == "light"
    assert facts["window"]["size"][0] <= 1280 and facts["window"]["size"][1] <= 800
    _assert_pane_whole(facts, "pane")
    _assert_pane_whole(facts, "pane_end")
    hashes = {v["name"]: v["text"] for v in facts["pane"]["values"]}
    assert len(hashes["SHA-256"]) == 64 and len(hashes["AutoV2"]) == 10
    buttons = {w["text"] for w in facts["pane"]["widgets"] + facts["pane_end"]["widgets"] if w["kind"] == "button"}
    assert {"Copy <lora:…>", "Open containing folder", "Copy"} <= buttons
    assert facts["civitai_link"]["visible"] and "CivitAI" in facts["civitai_link"]["text"]
    assert (shots_dir / "details-details-top.png").stat().st_size > 10_000


def test_dark_theme_on_every_view(x_display, demo_library, tmp_path, shots_dir) -> None:
    facts = _drive(x_display, tmp_path, shots_dir, copy_of(demo_library, tmp_path), theme="dark", name="dark")
    assert facts["theme"] == "dark" and facts["window_palette_lightness"] < 80
    for view, lightness in facts["views_lightness"].items():
        assert lightness < 110, (view, lightness)  # a dark window, not a light one with dark bits
    _assert_pane_whole(facts, "pane")
    assert clipped_widgets({"widgets": facts["stacks_widgets"]}) == []


def test_light_theme_is_light(x_display, demo_library, tmp_path, shots_dir) -> None:
    facts = _drive(x_display, tmp_path, shots_dir, copy_of(demo_library, tmp_path), theme="light", name="light")
    assert facts["theme"] == "light"
    for view, lightness in facts["views_lightness"].items():
        assert lightness > 150, (view, lightness)
