"""Topics: append-only logs of published payloads, and the cursors that follow them.

A topic keeps every payload ever published on it, because Testground's subscribe replays the
whole history before live messages. Each payload is serialised once, at publish time, into the
two forms its readers need (its JSON text for in-process readers, that text quoted as a JSON
string for websocket responses), so a thousand subscribers share one copy instead of encoding a
thousand. A subscription is a cursor (:meth:`Topic.follow`) that walks the log at its reader's
pace and sleeps at the end until the next publish: a slow reader holds back only itself, and
memory stays bounded by the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from choreograph.wire.sync import encode_payload, quote_payload


class Entry:
    """One published payload: ``text`` is its JSON, ``quoted`` that JSON as a string literal."""

    __slots__ = ("quoted", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.quoted = quote_payload(text)


class Topic:
    """One topic's log and the cursors waiting at its end."""

    __slots__ = ("_closed", "_log", "_waiters", "name", "subscriptions")

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscriptions = 0
        self._log: list[Entry] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    def __len__(self) -> int:
        return len(self._log)

    def publish(self, payload: Any) -> int:
        """Append ``payload``; return its sequence number (1 for the topic's first message).

        Raises ``TypeError``/``ValueError`` when the payload is not JSON (NaN included).
        """
        self._log.append(Entry(encode_payload(payload)))
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return len(self._log)

    async def follow(self) -> AsyncGenerator[Entry, None]:
        """Every entry from the first, in order, then each new one as it is published.

        Ends only when the topic is closed (after the entries already published); otherwise
        it runs until the consumer stops (``aclose()``, or cancellation of its task).
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

    def close(self) -> None:
        """Let every cursor finish once it has delivered the log (used when the service stops)."""
        self._closed = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Topics:
    """Every topic of the service by name, created by its first publish or subscribe."""

    __slots__ = ("_closed", "_topics")

    def __init__(self) -> None:
        self._topics: dict[str, Topic] = {}
        self._closed = False

    def get(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = Topic(name)
            if self._closed:
                topic.close()
        return topic

    def close(self) -> None:
        self._closed = True
        for topic in self._topics.values():
            topic.close()

    def statistics(self) -> dict[str, int]:
        topics = self._topics.values()
        return {
            "topics": len(self._topics),
            "messages": sum(len(t) for t in topics),
            "subscriptions": sum(t.subscriptions for t in topics),
        }
