"""Human-readable sizes and durations: the one formatter of each, for lora_json, the CLI and the window.

Sizes are in binary units (1 KB = 1024 bytes), as the lora_json document writes them: with two
decimals there (`human_size`, part of its format), one in the window (`display_size`, also for
rates such as bytes per second).
"""
from __future__ import annotations

from functools import lru_cache

_UNITS = ("KB", "MB", "GB", "TB")


def format_size(n: float, decimals: int = 2) -> str:
    """`167772160` -> `"160.00 MB"` (`decimals` after the point); below 1 KB, whole bytes (`"512 B"`)."""
    if n < 0:
        raise ValueError(f"a size cannot be negative: {n}")
    if n < 1024:
        return f"{n:.0f} B"
    value = float(n)
    unit = "B"
    for unit in _UNITS:
        value /= 1024.0
        if value < 1024.0 or unit == _UNITS[-1]:
            break
    # Rounding can carry over (1023.999 KB -> "1024.00 KB"); move up a unit then.
    text = f"{value:.{decimals}f}"
    if float(text) >= 1024.0 and unit != _UNITS[-1]:
        return f"{1.0:.{decimals}f} {_UNITS[_UNITS.index(unit) + 1]}"
    return f"{text} {unit}"


def human_size(n: int | None) -> str | None:
    """lora_json's `size_human`: `167772160` -> `"160.00 MB"`; None stays None; integers only."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"human_size expects an integer byte count, got {type(n).__name__}")
    return _two_decimals(n)


@lru_cache(maxsize=8192)  # a big stack repeats the same few file sizes
def _two_decimals(n: int) -> str:
    return format_size(n, 2)


def display_size(n: float | None) -> str:
    """A size or rate for the window: one decimal (`"1.5 MB"`), `""` for None."""
    return "" if n is None else format_size(max(0.0, n), 1)


def human_duration(seconds: float) -> str:
    """`75` -> `"1 min 15 s"`, `3725` -> `"1 h 02 min"`."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
