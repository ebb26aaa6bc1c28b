"""Ctrl-C and SIGTERM during a command that runs plans: ask the run to stop (its instances
get their grace period and the outcome table says why) instead of dying mid-run."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(request: Callable[[str], None]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM call ``request("interrupted by SIGINT")`` (or
    SIGTERM) on the running loop; the previous handling comes back on leaving."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, request, f"interrupted by {signal.Signals(sig).name}")
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
