"""How one connection's refused requests are logged: the first few each, then summaries.

A peer that sends garbage in a loop would otherwise write one WARNING per frame (48,325 lines
in one fuzzing round), and writing them cost the event loop more than refusing the frames.
The first :data:`LOGGED_EACH` refusals of a connection are logged one by one, since they are
what a plan author needs to see; after that they are counted by kind, and the connection logs
at most one summary line per :data:`SUMMARY_INTERVAL_S` (when a refusal arrives after the
interval) and one when it ends. Every refusal is still answered and counted in
``statistics()``: only the log is summarised.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

log = logging.getLogger("choreograph.sync_service")

LOGGED_EACH = 5
SUMMARY_INTERVAL_S = 10.0
KINDS_KEPT = 32
"""Distinct kinds counted per connection; a peer inventing new ones lands in "other"."""
KINDS_SHOWN = 3

_DIGITS = re.compile(r"\d+")


def refusal_kind(message: str) -> str:
    """What a refusal is about, without its particulars: the text before its first colon,
    numbers blanked ("barrier.target", "frame of N bytes exceeds the N byte limit")."""
    return _DIGITS.sub("N", message.split(":", 1)[0])[:80]


class RefusalLog:
    """Logs one connection's refused requests with a bounded number of lines."""

    __slots__ = ("_clock", "_kinds", "_last_summary", "_logged", "_peer", "_suppressed")

    def __init__(self, peer: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._peer = peer
        self._clock = clock
        self._logged = 0
        self._suppressed = 0
        self._kinds: dict[str, int] = {}
        self._last_summary = 0.0

    def record(self, rid: str | None, message: str) -> None:
        """Log the refusal of request ``rid`` (or count it for the next summary)."""
        if self._logged < LOGGED_EACH:
            self._logged += 1
            later = (
                "; further refusals on this connection are summarised"
                if self._logged == LOGGED_EACH
                else ""
            )
            log.warning(
                "connection %s: request %s refused: %s%s",
                self._peer,
                rid or "(no id)",
                message,
                later,
            )
            self._last_summary = self._clock()
            return
        self._suppressed += 1
        kind = refusal_kind(message)
        if kind in self._kinds or len(self._kinds) < KINDS_KEPT:
            self._kinds[kind] = self._kinds.get(kind, 0) + 1
        else:
            self._kinds["other"] = self._kinds.get("other", 0) + 1
        if self._clock() - self._last_summary >= SUMMARY_INTERVAL_S:
            self._summarise(f"in the last {SUMMARY_INTERVAL_S:g} s")

    def close(self) -> None:
        """The connection ended: log what is still counted."""
        if self._suppressed:
            self._summarise("before it closed")

    def _summarise(self, when: str) -> None:
        ranked = sorted(self._kinds.items(), key=lambda kv: kv[1], reverse=True)[:KINDS_SHOWN]
        common = ", ".join(f"{kind} ({count:,})" for kind, count in ranked)
        log.warning(
            "connection %s: %s more requests refused %s (most common: %s)",
            self._peer,
            f"{self._suppressed:,}",
            when,
            common,
        )
        self._suppressed = 0
        self._kinds.clear()
        self._last_summary = self._clock()
