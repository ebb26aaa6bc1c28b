"""The event loop Choreograph's long-running commands run on: uvloop where it is installed
(a dependency on Linux), else asyncio's own.

Why: the sync service's round trip is bound by the loop's own cost per turn once its request
path is lean (:mod:`choreograph.sync_service.websocket`). Measured on the 2-core development
box with the Go load generator of ``bench/vs_testground.py`` against the standalone service,
3 s per shape, twice each: ``signal_entry`` with 1 client x 1 in flight 7,032 / 7,326 ops/s on
asyncio's loop, 10,499 / 9,732 on uvloop (+40 %); 100 clients x 1 in flight 34,888 / 27,066
against 36,329 / 34,315. The engine runs its embedded sync service, its instances' pipes and
its timers on the same loop, so ``choreo run`` gets the same.

``CHOREO_EVENT_LOOP=asyncio`` picks asyncio's loop (to rule the loop out when debugging, or
where uvloop misbehaves); ``uvloop`` insists on it (an error when it is missing).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from choreograph.errors import HostError

T = TypeVar("T")

ENV = "CHOREO_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def chosen() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` will use here."""
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in CHOICES:
        raise HostError(f"{ENV}={wanted!r}: expected one of {', '.join(CHOICES)}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:
        if wanted == "uvloop":
            raise HostError(f"{ENV}=uvloop, but uvloop is not installed: {exc}") from exc
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    if chosen() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
