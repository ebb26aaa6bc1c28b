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

:func:`pipe_file` hands ``loop.connect_read_pipe`` a file object that closes the pipe exactly
once on either loop: uvloop 0.23 gives the descriptor itself to libuv, which closes it, and
then closes the file object too (uvloop issue #763), so with an owning file object a number
another thread reopened in between (the resource sampler's counters) was closed under it.
"""

from __future__ import annotations

import asyncio
import io
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


def pipe_file(fd: int) -> io.FileIO:
    """An unbuffered file object over the pipe end ``fd`` for ``loop.connect_read_pipe``,
    owning ``fd`` only where the running loop's transport does not close it itself.

    uvloop's transport closes the descriptor in libuv, so the file object must not (else
    it closes the number a second time, perhaps after another thread was given it);
    asyncio's transport closes the file object, which must. Decided by the loop's type:
    asking the loop with a throwaway pipe of its own, once, was tried and made uvloop
    abort now and then (a read pipe closed before its first turn, while connections were
    being accepted). Should uvloop start duplicating the descriptor (the fix proposed for
    its issue #763), ``tests/unit/test_eventloop_pipes.py`` fails on the leak.
    """
    loop = asyncio.get_running_loop()
    return io.FileIO(fd, "rb", closefd=not type(loop).__module__.startswith("uvloop"))
