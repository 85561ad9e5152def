"""Shipped resources are found through one helper, the same way from source, a wheel or the build."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

import lora_manager_gui
from lora_manager_gui.core.resources import (
    APP_ICON_ICO,
    APP_ICON_PNG,
    ResourceMissingError,
    resource_path,
    resources_dir,
)

PACKAGE_DIR = Path(lora_manager_gui.__file__).resolve().parent


def test_resources_sit_beside_the_package_in_a_source_tree() -> None:
    assert resources_dir().resolve() == PACKAGE_DIR.parent / "resources"
    assert not (PACKAGE_DIR / "resources").exists()
    assert resource_path("demo/library").is_dir()
    assert resource_path("demo/stacks/watercolor_noir_prompt.json").is_file()


def test_app_icons_are_real_images() -> None:
    with Image.open(resource_path(APP_ICON_PNG)) as png:
        assert png.size == (256, 256)
    with Image.open(resource_path(APP_ICON_ICO)) as ico:
        assert ico.format == "ICO"
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]


def test_a_missing_resource_says_which() -> None:
    with pytest.raises(ResourceMissingError, match="no-such-thing"):
        resource_path("icons/no-such-thing.png")


def test_no_module_builds_its_own_path_to_the_resources() -> None:
    """A path made from __file__ or the working directory would work from source and not in a build."""
    pattern = re.compile(r"""["']resources["']""")
    offenders = [
        str(path.relative_to(PACKAGE_DIR))
        for path in PACKAGE_DIR.rglob("*.py")
        if path.name != "resources.py" and pattern.search(path.read_text("utf-8"))
    ]
    assert offenders == []
