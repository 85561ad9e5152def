"""The Qt binding must keep Python's reference counts intact.

PySide6 6.12.0 on Python 3.11 dropped one reference to None on every void call (`setText`), which
aborts the interpreter after a few thousand calls; pyproject.toml keeps that release out. This test
fails if a binding with that fault is installed again.
"""
from __future__ import annotations

import sys

from PySide6.QtWidgets import QCheckBox, QLabel


def test_void_calls_do_not_leak_references_to_none_or_bools(qtbot) -> None:
    label = QLabel()
    box = QCheckBox()
    qtbot.addWidget(label)
    qtbot.addWidget(box)
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for i in range(500):
        label.setText(str(i))
        box.setChecked(i % 2 == 0)
        box.isChecked()
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    # A healthy binding leaves the counts where they were (give or take a few objects the loop made).
    assert all(a >= b - 50 for a, b in zip(after, before)), (before, after)
