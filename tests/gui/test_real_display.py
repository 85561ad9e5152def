"""The real app on Xvfb + openbox (issue 16): gallery and table over the demo library, a first run.

What a user sees, checked from the driver's geometry facts: no label clipped (its size hint fits
its geometry, or a wrapped one is as tall as its width needs), gallery tiles at their set size with
whole names, the first-run text fully visible, the window on the screen. Screenshots stay in the
shots folder (LM_GUI_SHOTS=1 keeps them under /tmp/lm-gui-shots).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def clipped_widgets(facts: dict) -> list[str]:
    bad = []
    for w in facts["widgets"]:
        x, y, width, height = w["geometry"]
        hint_w, hint_h = w["size_hint"]
        if w["kind"] == "label" and w["word_wrap"]:
            ok = height >= w["height_for_width"]
        elif w["kind"] == "line_edit":
            ok = w["inner_width"] >= w["text_width"]
        else:
            ok = width >= hint_w and height >= min(hint_h, w["minimum_size_hint"][1] or hint_h)
        if not ok:
            bad.append(f"{w['kind']} {w['text'][:50]!r}: {width}x{height}, needs {hint_w}x{hint_h}")
    return bad


def assert_on_screen(facts: dict) -> None:
    x, y, w, h = facts["window"]["geometry"]
    ax, ay, aw, ah = facts["screen"]["available"]
    assert x >= ax and y >= ay and x + w <= ax + aw and y + h <= ay + ah, (facts["window"], facts["screen"])
    assert facts["screen"]["platform"] == "xcb"


def copy_of(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "library.sqlite3"
    shutil.copy(db, target)
    return target


def test_gallery_as_remembered_mode_on_a_real_display(run_app, demo_library, tmp_path) -> None:
    run = run_app(copy_of(demo_library, tmp_path), mode="Gallery", name="gallery")
    facts = run.facts
    assert facts["mode"] == "Gallery" and facts["rows"] == 10
    gallery = facts["gallery"]
    assert gallery["visible"]
    tiles = gallery["tiles"]
    assert len(tiles) == 10, tiles
    tile_w, tile_h = gallery["tile_size"]
    assert tile_w >= gallery["icon_size"][0] and tile_h > gallery["icon_size"][1]
    for tile in tiles:
        assert tile["rect"][2:] == [tile_w, tile_h], tile
        assert not tile["elided"], tile
    assert clipped_widgets(facts) == []
    assert_on_screen(facts)
    assert (run.shots / "gallery-screen.png").stat().st_size > 10_000


def test_table_mode_on_a_real_display(run_app, demo_library, tmp_path) -> None:
    facts = run_app(copy_of(demo_library, tmp_path), mode="Table", name="table").facts
    assert facts["mode"] == "Table" and facts["stack_current"] == "QTableView"
    assert clipped_widgets(facts) == []
    assert_on_screen(facts)
    assert facts["window"]["title"].count("LoRA Manager") == 0  # the platform adds the app name once
    status = facts["status"]
    assert status["message"].startswith("Checking the library: ") and status["label_visible"]
    assert status["label_geometry"][0] >= status["message_width"], status  # side by side, not over
    assert [r[3] for r in facts["problems"]["rows"]] == ["invalid json", "invalid model file"]
    narrow = facts["narrow"]
    assert narrow["size"][0] <= 900, narrow["size"]  # was 1013 px
    assert narrow["search_width"] >= narrow["search_needs"]  # was "S…"


def test_first_run_on_a_real_display(run_app, tmp_path) -> None:
    facts = run_app(tmp_path / "new-library.sqlite3", name="first-run").facts
    assert facts["empty_shown"]
    texts = [w for w in facts["widgets"] if w["text"].startswith("Add a folder of LoRA files")]
    assert len(texts) == 1
    assert clipped_widgets(facts) == []
    assert_on_screen(facts)


def test_a_window_saved_at_1x_opens_on_screen_at_1_5x(run_app, demo_library, tmp_path) -> None:
    """Defect 6: the geometry restored on a 1.5x desktop spilled off the screen."""
    db = copy_of(demo_library, tmp_path)
    first = run_app(db, mode="Table", name="scale-1x").facts
    assert_on_screen(first)
    scaled = run_app(db, name="scale-1.5x", scale=1.5).facts  # the same HOME: the saved geometry
    assert scaled["screen"]["available"][2] < first["window"]["geometry"][2]  # it could not fit as saved
    assert_on_screen(scaled)
    assert clipped_widgets(scaled) == []


def test_gallery_of_a_big_library_with_broken_files(run_app, big_library, tmp_path) -> None:
    """Defect 1 was seen on 1,782 rows too: every tile at its size, at the top and at the far end."""
    facts = run_app(copy_of(big_library, tmp_path), mode="Gallery", name="big-gallery").facts
    assert facts["rows"] >= 1800
    tile = facts["gallery"]["tile_size"]
    for part in ("gallery", "gallery_end"):
        tiles = facts[part]["tiles"]
        assert len(tiles) >= 12, part
        assert all(t["rect"][2:] == tile for t in tiles), (part, tiles[:3])
    assert max(t["row"] for t in facts["gallery_end"]["tiles"]) == facts["rows"] - 1
    assert clipped_widgets(facts) == []


@pytest.mark.parametrize("side", [96, 256])
def test_gallery_cards_at_the_slider_size_on_a_real_display(run_app, demo_library, tmp_path, side) -> None:
    """Cards at the remembered slider size: every tile as big as the size sets it, whole names in
    their two lines, the folder sidebar beside the cards (screenshots gallery-<side>-*.png)."""
    run = run_app(copy_of(demo_library, tmp_path), mode="Gallery", name=f"gallery-{side}", tile_size=side)
    facts = run.facts
    gallery = facts["gallery"]
    assert facts["tile_slider"] == side and gallery["icon_size"] == [side, side]
    tile_w, tile_h = gallery["tile_size"]
    assert tile_w >= side and tile_h > side
    assert gallery["tiles"], gallery
    for tile in gallery["tiles"]:
        assert tile["rect"][2:] == [tile_w, tile_h], tile
        assert not tile["elided"], tile
    assert facts["sidebar"]["visible"] and facts["sidebar"]["rows"][0].startswith("All folders")
    assert len(facts["sidebar"]["rows"]) >= 2, facts["sidebar"]
    assert clipped_widgets(facts) == []
    assert_on_screen(facts)
