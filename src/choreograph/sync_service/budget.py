"""The history budget: how many bytes of published payloads the service may keep.

Testground's subscribe replays a topic's whole history, so nothing published can be dropped
while the run lasts; the only way to bound the service's memory is to refuse a publish that
would take the stored history over a budget. The budget is the service's (all topics share
it), counted in the bytes each stored entry really holds, and given back all at once when the
run ends (:meth:`HistoryBudget.release_all`, called by ``SyncService.stop``).

A refused publish is an error for its publisher (``SyncError`` in-process, an ``error``
response over the websocket) and is also recorded here, so that the run can warn once at
its end (:meth:`HistoryBudget.describe_refusals`) even when the publisher ignored the error.
"""

from __future__ import annotations

from choreograph.errors import SyncError

DEFAULT_HISTORY_BUDGET_BYTES = 256 * 1024 * 1024
"""256 MiB: far above what Testground plans keep, and a small share of the host.

A run's history is events (a few hundred bytes each, a handful per instance), network
configurations and addresses exchanged between instances: a thousand instances publishing a
hundred 1 KiB messages each hold about 120 MiB with per-entry overhead counted. The largest
frame is 4 MiB, so 256 MiB still takes some sixty maximal payloads; and a service with a full
budget peaked at 311 MiB of RSS (``bench/sync_memory.py``: 200 publishes of 4 MB, 67 stored),
a small share of the 24 GiB hosts runs are sized for, where the instances need the memory.
A plan that really needs more raises it in settings.
"""

DEFAULT_BUDGET_HINT = "start the sync service with a larger history_budget_bytes"

REFUSED_TOPICS_KEPT = 5
"""Refused topics named in the summary: enough to point at the culprit, bounded for a flood."""


def format_bytes(n: int) -> str:
    """``n`` bytes in the unit a person reads best (B, KiB or MiB, one decimal)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


class HistoryBudget:
    """Bytes of stored history: charged by each publish, refused past ``total``."""

    __slots__ = ("_count", "_more_topics", "_refused_bytes", "_topics", "hint", "total", "used")

    def __init__(self, total: int = DEFAULT_HISTORY_BUDGET_BYTES, hint: str = DEFAULT_BUDGET_HINT):
        if total < 0:
            raise ValueError(f"history budget must be >= 0 bytes, got {total}")
        self.total = total
        self.hint = hint
        self.used = 0
        self._count = 0
        self._refused_bytes = 0
        self._topics: list[str] = []
        self._more_topics = False

    def charge(self, topic: str, size: int) -> None:
        """Count ``size`` more bytes stored for ``topic``; raise :class:`SyncError` (and record
        the refusal) when that would exceed the budget, leaving the count unchanged."""
        if self.used + size <= self.total:
            self.used += size
            return
        self._count += 1
        self._refused_bytes += size
        if topic not in self._topics:
            if len(self._topics) < REFUSED_TOPICS_KEPT:
                self._topics.append(topic)
            else:
                self._more_topics = True
        raise SyncError(
            f"publish on topic {topic!r} refused: its payload takes {format_bytes(size)} and the"
            f" sync service's history already holds {format_bytes(self.used)} of its"
            f" {format_bytes(self.total)} budget; {self.hint}"
        )

    def release_all(self) -> None:
        """Every entry was dropped (the run ended): the whole budget is free again."""
        self.used = 0

    @property
    def refused(self) -> int:
        """Publishes refused so far."""
        return self._count

    def describe_refusals(self) -> str | None:
        """One line for the run's closing warning; ``None`` when nothing was refused."""
        if not self._count:
            return None
        topics = ", ".join(repr(t) for t in self._topics) + (", …" if self._more_topics else "")
        return (
            f"refused {self._count:,} publish(es) ({format_bytes(self._refused_bytes)}) because"
            f" its history budget of {format_bytes(self.total)} was full (topics: {topics});"
            f" {self.hint}"
        )
