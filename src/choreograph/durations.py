"""One grammar for every duration a user types: ``--timeout 30s``, ``--older-than 7d``.

A number with a unit (``ms``, ``s``, ``m``, ``h``, ``d``, ``w``), several of them run
together (``1h30m``), or a plain number, read as seconds (so ``--timeout 600`` keeps its
meaning). Every command-line option that takes a duration parses it here.
"""

from __future__ import annotations

import re

from choreograph.errors import InputError

__all__ = ["UNITS", "format_duration", "parse_duration"]

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d|w)")


def parse_duration(text: str | float, what: str = "duration") -> float:
    """Seconds in ``text`` (``90``, ``2.5``, ``30s``, ``500ms``, ``12h``, ``7d``, ``1h30m``);
    InputError naming ``what`` otherwise (also for negative durations)."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        seconds = _parse(text.strip().lower(), text, what)
    if seconds < 0:
        raise InputError(f"{what} {text!r}: a duration cannot be negative")
    return seconds


def _parse(clean: str, text: str, what: str) -> float:
    try:
        return float(clean)
    except ValueError:
        pass
    parts = _PART.findall(clean)
    if not clean or "".join(number + unit for number, unit in parts) != clean:
        raise InputError(
            f"{what} {text!r}: expected a duration such as 30s, 500ms, 10m, 12h, 7d or 1h30m "
            "(a plain number is seconds)"
        )
    return sum(float(number) * UNITS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """The shortest exact reading in the largest unit: ``600`` → ``10m``, ``90`` → ``90s``."""
    for unit in ("w", "d", "h", "m", "s"):
        size = UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
