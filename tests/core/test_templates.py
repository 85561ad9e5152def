"""Organize templates: every component a safe name on every platform, never outside the root."""
from __future__ import annotations

import pytest

from lora_manager_gui.core.templates import MAX_COMPONENT_BYTES, Template, TemplateError, sanitize_component


@pytest.mark.parametrize(("value", "expected"), [
    ("SDXL 1.0", "SDXL 1.0"),
    ("a/b\\c", "a_b_c"),
    ('x<>:"|?*y', "x_______y"),
    ("..", "unknown"),
    ("  .hidden. ", "hidden"),
    ("", "unknown"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("tab\there\x00", "tab_here_"),
])
def test_sanitize_component(value: str, expected: str) -> None:
    assert sanitize_component(value) == expected


def test_long_names_are_cut_on_a_character_boundary() -> None:
    out = sanitize_component("é" * 200)
    assert len(out.encode()) <= MAX_COMPONENT_BYTES and out == "é" * (MAX_COMPONENT_BYTES // 2)


def test_render_keeps_fields_from_adding_folders() -> None:
    t = Template.parse("{base_model}/{creator}/{name}")
    assert t.render({"base_model": "Flux.1 D", "creator": None, "name": "../../etc/passwd"}) == "Flux.1 D/unknown/_.._etc_passwd"


@pytest.mark.parametrize("bad", ["", "{nope}", "{name", "../{name}", "/"])
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(TemplateError):
        Template.parse(bad)
