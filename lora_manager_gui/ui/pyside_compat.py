"""Work-arounds for the Qt binding in use.

PySide6 6.12's stable-ABI wheels return None, True and False to Python without taking a reference
(harmless on Python >= 3.12, where those objects are immortal). On Python 3.11 every call to a
void Qt method (`label.setText(...)`) then drops one reference to None; None starts with a few
thousand, so after a few thousand calls the interpreter aborts with "none_dealloc" or
"bool_dealloc". `protect_singletons` gives these objects the effectively endless reference count
that Python 3.12 gives them by design, which makes the binding's mistake harmless.
"""
from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40
_done = False


def protect_singletons() -> None:
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False, Ellipsis, NotImplemented):
        # ob_refcnt is the first field of every object (a Py_ssize_t) in a release build.
        ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM
    _done = True
