"""Human-readable sizes in binary units (1 KB = 1024 bytes), as the lora_json document writes them."""
from __future__ import annotations

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(n: int | None) -> str | None:
    """`167772160` -> `"160.00 MB"`; bytes below 1 KB stay whole (`"512 B"`); None stays None."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"human_size expects an integer byte count, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"a size cannot be negative: {n}")
    if n < 1024:
        return f"{n} B"
    value = float(n)
    unit = "B"
    for unit in _UNITS:
        value /= 1024.0
        if value < 1024.0 or unit == _UNITS[-1]:
            break
    # Rounding can carry over (1023.999 KB -> "1024.00 KB"); move up a unit then.
    text = f"{value:.2f}"
    if text == "1024.00" and unit != _UNITS[-1]:
        return f"1.00 {_UNITS[_UNITS.index(unit) + 1]}"
    return f"{text} {unit}"
