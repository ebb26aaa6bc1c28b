"""Topics: append-only logs of published payloads, and the cursors that follow them.

A topic keeps every payload ever published on it, because Testground's subscribe replays the
whole history before live messages. Each payload is serialised once, at publish time, into the
form websocket subscribers need: its JSON text quoted as a JSON string (the value of a
subscribe response's field), so a thousand subscribers share one copy instead of encoding a
thousand. That quoted text is the only copy kept: in-process readers, which are few, unquote
it when they read (about 2.5 ms for 4 MB, against the 4 MB a second copy would hold per entry).

Each entry also keeps the host of the connection that published it (``None`` in-process):
the engine can then refuse an instance's outcome published from another instance's address.
The host string is the connection's own, shared by all its entries, so it costs a pointer.

Every stored byte is charged to the service's :class:`~choreograph.sync_service.budget.
HistoryBudget`; a publish that would exceed it is refused before anything is stored. An
in-process subscription is a cursor (:meth:`Topic.follow`) that walks the log at its reader's
pace and sleeps at the end until the next publish; a websocket subscription is a
:class:`~choreograph.sync_service.push.Push` the topic moves forward in fan-out passes
(:meth:`Topic.attach`). Either way a slow reader holds back only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import sys
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from choreograph.sync_service.budget import HistoryBudget
from choreograph.wire.sync import encode_payload, quote_payload

if TYPE_CHECKING:
    from choreograph.sync_service.push import Push

PASS_SLICE_S = 0.001
"""How long a fan-out pass runs before it lets the loop poll its sockets (a publisher's next
request among them): the same slice as a connection's reader and writer."""


class Entry:
    """One published payload: ``quoted`` is its JSON text as a JSON string literal."""

    __slots__ = ("origin", "quoted")

    def __init__(self, quoted: str, origin: str | None) -> None:
        self.quoted = quoted
        self.origin = origin

    @property
    def text(self) -> str:
        """The payload's JSON text (compact, ASCII)."""
        text: str = json.loads(self.quoted)
        return text

    def payload(self) -> Any:
        """A fresh decoded copy: a reader mutating it cannot affect other readers."""
        return json.loads(self.text)


ENTRY_OVERHEAD_BYTES = sys.getsizeof(Entry("", None)) + struct.calcsize("P")
"""What an entry holds besides its text: the entry object and its slot in the topic's list."""


def entry_bytes(quoted: str) -> int:
    """The memory one stored entry really holds (its string object included), for the budget."""
    return sys.getsizeof(quoted) + ENTRY_OVERHEAD_BYTES


class Topic:
    """One topic's log and the cursors waiting at its end."""

    __slots__ = (
        "_budget",
        "_closed",
        "_due",
        "_log",
        "_pass_scheduled",
        "_pushes",
        "_waiters",
        "name",
        "subscriptions",
    )

    def __init__(self, name: str, budget: HistoryBudget | None = None) -> None:
        self.name = name
        self.subscriptions = 0
        self._budget = budget if budget is not None else HistoryBudget()
        self._log: list[Entry] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._pushes: dict[Push, None] = {}
        """Websocket subscriptions, in the order they came (an ordered set)."""
        self._due: dict[Push, None] = {}
        """Pushes that may have something to write: what the next fan-out pass visits."""
        self._pass_scheduled = False
        self._closed = False

    def __len__(self) -> int:
        return len(self._log)

    def publish(self, payload: Any, origin: str | None = None) -> int:
        """Append ``payload``; return its sequence number (1 for the topic's first message).

        ``origin`` is the publisher's host (``None`` in-process). Raises ``TypeError`` or
        ``ValueError`` when the payload is not JSON (NaN included), and
        :class:`~choreograph.errors.SyncError` when it would exceed the history budget.
        """
        quoted = quote_payload(encode_payload(payload))
        self._budget.charge(self.name, entry_bytes(quoted))
        self._log.append(Entry(quoted, origin))
        if self._pushes:
            self._due.update(self._pushes)
            self._schedule_pass()
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return len(self._log)

    async def follow(self) -> AsyncGenerator[Entry, None]:
        """Every entry from the first, in order, then each new one as it is published.

        Ends only when the topic is closed (at once: closing drops the history); otherwise it
        runs until the consumer stops (``aclose()``, or cancellation of its task).
        """
        self.subscriptions += 1
        try:
            log = self._log
            cursor = 0
            while True:
                while cursor < len(log):
                    yield log[cursor]
                    cursor += 1
                if self._closed:
                    return
                await self._wait_for_more()
        finally:
            self.subscriptions -= 1

    async def _wait_for_more(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # Drop our future now rather than at the next publish: a quiet topic whose
            # subscribers come and go would otherwise pile up dead futures.
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            raise

    # --- websocket subscriptions: pushes and fan-out passes -------------------------

    def attach(self, push: Push) -> None:
        """Deliver the history, then every new entry, to ``push`` (until :meth:`detach`)."""
        if self._closed:
            return
        self._pushes[push] = None
        self.subscriptions += 1
        self._due[push] = None
        self._schedule_pass()

    def detach(self, push: Push) -> None:
        """Stop delivering to ``push`` (cancelled, or its connection ended); idempotent."""
        if self._pushes.pop(push, False) is None:
            self.subscriptions -= 1
        self._due.pop(push, None)

    def wake(self, push: Push) -> None:
        """``push``'s socket drained: carry on where it stalled."""
        if push.stalled and push in self._pushes:
            push.stalled = False
            self._due[push] = None
            self._schedule_pass()

    def _schedule_pass(self) -> None:
        if not self._pass_scheduled:
            self._pass_scheduled = True
            asyncio.get_running_loop().call_soon(self._fan_out)

    def _fan_out(self) -> None:
        """Pump the due pushes in order, for one slice at most; a push not caught up goes
        to the back of the line; what is left waits for the next pass (the loop polls its
        sockets in between)."""
        self._pass_scheduled = False
        due, log = self._due, self._log
        ends = time.perf_counter() + PASS_SLICE_S
        while due:
            push = next(iter(due))
            del due[push]
            if not push.pump(log):
                due[push] = None
            if time.perf_counter() >= ends:
                break
        if due:
            self._schedule_pass()

    def close(self) -> None:
        """End every cursor and drop the history (the service stops: its run is over).

        The log is emptied in place, so a cursor still holding it keeps no payload alive.
        """
        self._closed = True
        self._log.clear()
        self.subscriptions -= len(self._pushes)
        self._pushes.clear()
        self._due.clear()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Topics:
    """Every topic of the service by name, created by its first publish or subscribe."""

    __slots__ = ("_closed", "_topics", "budget")

    def __init__(self, budget: HistoryBudget | None = None) -> None:
        self.budget = budget if budget is not None else HistoryBudget()
        self._topics: dict[str, Topic] = {}
        self._closed = False

    def get(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = Topic(name, self.budget)
            if self._closed:
                topic.close()
        return topic

    def close(self) -> None:
        """Close every topic and forget them all: the memory of the history is returned."""
        self._closed = True
        topics, self._topics = self._topics, {}
        for topic in topics.values():
            topic.close()
        self.budget.release_all()

    def statistics(self) -> dict[str, int]:
        topics = self._topics.values()
        return {
            "topics": len(self._topics),
            "messages": sum(len(t) for t in topics),
            "subscriptions": sum(t.subscriptions for t in topics),
        }
