"""One instance's event log: numbering, time stamps, the stdout line, and the hand-off to publish.

The runner reads outcomes from two channels, stdout and the ``run_events`` topic, and
deduplicates by ``(instance, seq)``; so each event gets its number, stamp and attribution
once, here, and the same :class:`~choreograph.wire.events.Event` goes to both channels.
A lock keeps numbering, writing and forwarding in one order when several threads record.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable

from choreograph.wire.events import Event

Publisher = Callable[[Event], None]
"""Takes a stamped event for ``run_events``; must not block (it is called under the lock)."""


class EventLog:
    """Stamps events with ``instance``, ``seq`` (from 1) and ``ts`` and writes them out."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.publisher: Publisher | None = None
        self._seq = 0
        self._lock = threading.Lock()

    def record(self, event: Event) -> Event:
        """Write ``event`` as a JSON line on stdout (flushed), then hand it to the publisher."""
        with self._lock:
            self._seq += 1
            stamped = dataclasses.replace(
                event, instance=self.instance, seq=self._seq, ts=time.time_ns()
            )
            out = sys.stdout  # looked up each time: plans and tests redirect it
            if out is not None:
                try:
                    out.write(stamped.to_line() + "\n")
                    out.flush()
                except (OSError, ValueError):
                    pass  # stdout closed or broken: run_events still carries the event
            if self.publisher is not None:
                self.publisher(stamped)
        return stamped
