"""The one size and duration formatter (core/sizes.py), and that no other module keeps its own."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import lora_manager_gui
from lora_manager_gui.core.sizes import display_size, format_size, human_duration, human_size


@pytest.mark.parametrize(("n", "text"), [(None, ""), (0, "0 B"), (512, "512 B"), (1536, "1.5 KB"),
                                         (167772160, "160.0 MB"), (3 * 1024**4, "3.0 TB"), (2.5 * 1024**2, "2.5 MB")])
def test_display_size(n, text) -> None:
    assert display_size(n) == text


def test_rounding_carries_into_the_next_unit() -> None:
    assert format_size(1024 * 1024 - 1, 1) == "1.0 MB"
    assert human_size(1024 * 1024 - 1) == "1.00 MB"
    assert human_size(None) is None
    with pytest.raises(TypeError):
        human_size(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        format_size(-1)


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59, "59 s"), (75, "1 min 15 s"), (3725, "1 h 02 min")])
def test_human_duration(seconds, text) -> None:
    assert human_duration(seconds) == text


def test_no_other_module_formats_sizes_itself() -> None:
    package = Path(lora_manager_gui.__file__).parent
    pattern = re.compile(r'for unit in \(|def _?human\w*\(|def \w*(duration|format_bytes)\w*\(')
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "sizes.py" and pattern.search(p.read_text("utf-8"))]
    assert offenders == []
