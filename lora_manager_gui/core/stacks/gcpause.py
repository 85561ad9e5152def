"""Reading a huge graph allocates millions of small objects that all stay alive: the cyclic garbage
collector would scan them again and again (most of the time of a 100,000-node read). `paused_gc`
holds it off for one bounded piece of work and restores it after; nested and threaded uses share
one count, so the collector comes back only when the last one ends, and only if it was on."""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
