"""The lines Testground's CLI prints that scripts parse, in its shape.

Testground logs through zap's console encoder: ``<time>\\t<LEVEL>\\t<message>``, the time
in UTC as Go's ``time.StampMicro`` (``Jan _2 15:04:05.000000``: three fields for awk), and
the fields of a structured line as JSON after another tab. So in
``Mar  4 10:00:00.000000 INFO run is queued with ID: <id>`` the id is awk's ``$10``; in
``... INFO finished run with ID: <id>`` it is ``$9``; and split on ``"``, the artifact of
``... INFO generated build artifact {"group": "single", "artifact": "<a>"}`` is field 8.
Testground's ``integration_tests/header.sh`` relies on exactly these.

Lines go to stdout as they are: unwrapped (a wrapped line would move the fields) and
with their tabs (a console would expand them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from choreograph.cli import render


def stamp(moment: datetime | None = None) -> str:
    t = (moment or datetime.now(UTC)).astimezone(UTC)
    return f"{t:%b} {t.day:>2} {t:%H:%M:%S}.{t.microsecond:06d}"


def line(level: str, message: str, fields: dict[str, Any] | None = None) -> str:
    text = f"{stamp()}\t{level}\t{message}"
    if fields:
        text += "\t" + json.dumps(fields, separators=(", ", ": "))
    return text


def info(message: str, **fields: Any) -> None:
    plain(line("INFO", message, fields))


def warn(message: str, **fields: Any) -> None:
    plain(line("WARN", message, fields))


def plain(text: str) -> None:
    """A line printed as Testground prints it with ``fmt`` (no time, no level)."""
    out = render.console.file
    out.write(text + "\n")
    out.flush()
