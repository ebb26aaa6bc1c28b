"""Go-style durations ("1h2m3.5s", "150ms", "10us"): the form Testground manifests and
network configs use. Parsed here once for params (host side) and the SDK."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_ns(text: str) -> int:
    """Nanoseconds in ``text``; raises ``ValueError`` with the expected form otherwise.

    A bare number is taken as seconds (a convenience for ``--tp timeout=30``), ``"0"`` is 0.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty duration; expected e.g. '150ms', '2s', '1m30s'")
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    try:
        return sign * round(float(s) * 1_000_000_000)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"invalid duration {text!r}; expected e.g. '150ms', '2s', '1m30s'")
    return sign * round(total)


def parse_duration(text: str) -> timedelta:
    return timedelta(microseconds=parse_duration_ns(text) / 1_000)


def format_duration(ns: int) -> str:
    """Shortest exact Go-style spelling of ``ns`` (``1500000000`` → ``"1.5s"``)."""
    if ns == 0:
        return "0s"
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        size = _UNITS_NS[unit]
        if abs(ns) >= size and ns % size == 0:
            return f"{ns // size}{unit}"
    for unit in ("s", "ms", "us"):
        if abs(ns) >= _UNITS_NS[unit]:
            return f"{ns / _UNITS_NS[unit]:g}{unit}"
    return f"{ns}ns"
