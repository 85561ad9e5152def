"""The one cancel-flag combinator (core/cancel.py), and that the services keep no other."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import lora_manager_gui
from lora_manager_gui.core.cancel import AnyFlag, any_of


def test_any_of_is_set_when_one_flag_is() -> None:
    user, stop = threading.Event(), threading.Event()
    flag = any_of(stop, user)
    assert isinstance(flag, AnyFlag) and not flag.is_set()
    user.set()
    assert flag.is_set()
    assert any_of(None, stop) is stop  # one flag: itself, nothing wrapped
    assert any_of(None, None) is None


def test_no_module_defines_its_own_combinator() -> None:
    package = Path(lora_manager_gui.__file__).parent
    pattern = re.compile(r"\.is_set\(\) or \(?\w+ is not None and \w+\.is_set\(\)|class _(Either|Flag)\b")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "cancel.py" and pattern.search(p.read_text("utf-8"))]
    assert offenders == []
