"""`lora-manager --screenshot` with `--view-mode` and `--theme` (the README's pictures are made so)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageStat

from lora_manager_gui.ui.screenshot import SIZE

REPO = Path(__file__).resolve().parents[2]


def _shot(db: Path, out: Path, tmp_path: Path, *flags: str) -> Image.Image:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "home/.config"), "XDG_STATE_HOME": str(tmp_path / "home/.state"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "lora_manager_gui", "--db", str(db), "--screenshot", str(out), *flags],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = Image.open(out).convert("L")
    assert image.size == SIZE
    return image


def test_screenshot_chooses_the_mode_and_the_theme(fixture_library, tmp_path) -> None:
    light_table = _shot(fixture_library, tmp_path / "lt.png", tmp_path, "--view-mode", "table", "--theme", "light")
    dark_table = _shot(fixture_library, tmp_path / "dt.png", tmp_path, "--view-mode", "table", "--theme", "dark")
    dark_gallery = _shot(fixture_library, tmp_path / "dg.png", tmp_path, "--view-mode", "gallery", "--theme", "dark")
    assert ImageStat.Stat(light_table).mean[0] > 170
    assert ImageStat.Stat(dark_table).mean[0] < 90 and ImageStat.Stat(dark_gallery).mean[0] < 90
    # the gallery is another picture than the table: the rows' area differs
    rows_area = (10, 100, 880, 400)
    assert dark_table.crop(rows_area).tobytes() != dark_gallery.crop(rows_area).tobytes()
