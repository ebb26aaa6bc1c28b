"""A websocket subscription as a cursor its topic pushes forward, not a task.

Why: with a task per subscription, each publish woke every subscriber's task, and each wrote
its one frame with one system call; a thousand subscribers made a thousand task switches and
a thousand writes per message, and a publisher's acknowledgement waited behind all of them
(the loop polls its sockets once per pass over the ready tasks). Here the topic runs
fan-out passes (:meth:`~choreograph.sync_service.topics.Topic.attach`), sliced like every
other piece of work in the service, and each :meth:`Push.pump` writes everything its
subscriber has not been sent yet, up to :data:`PUMP_FRAMES` frames, in one write: a
subscriber a few messages behind costs one system call for all of them. Measured with
``bench/vs_testground.py --skip-runs`` (1,000 subscribers x 1,000 messages, one publisher
waiting for each acknowledgement): 18.45 s with a task per subscription, 2.61 s pushed
(Testground's Go service: 18.59 s in the same run); the publisher's acknowledgements p50
17.4 → 2.1 ms, p99 30.1 → 7.8 ms.

Flow control is the socket's own: a push stops (``stalled``) while the transport's buffer is
over its high-water mark (asyncio called ``pause_writing``), and the connection wakes it
when the buffer drains (``resume_writing``); a subscriber that stops reading holds back only
itself, and the service holds at most a buffer's worth for it, however long the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from choreograph.sync_service.frames import text_frame
from choreograph.wire.sync import SUBSCRIBE_TAIL

if TYPE_CHECKING:
    from choreograph.sync_service.topics import Entry, Topic

PUMP_FRAMES = 64
"""The most frames one pump writes (one write): a long history is replayed in several
pumps, each one slice of a fan-out pass at most."""


class Socket(Protocol):
    """What a push writes to: the connection's websocket, while it is open and writable."""

    def push_ready(self) -> bool:
        """True when frames may be written now (open, buffer under its high-water mark)."""

    def push_write(self, data: bytes) -> None:
        """Write ``data`` (whole frames) to the socket."""


class Push:
    """One subscription (request id ``rid`` of one connection) on ``topic``."""

    __slots__ = ("_head", "_socket", "cursor", "stalled", "topic")

    def __init__(self, topic: Topic, head: str, socket: Socket) -> None:
        self.topic = topic
        self._head = head
        self._socket = socket
        self.cursor = 0
        """Entries of the topic's log already written."""
        self.stalled = False
        """Waiting for the socket to drain: fan-out passes skip it until it is woken."""

    def pump(self, log: list[Entry]) -> bool:
        """Write the entries from ``cursor`` on (at most :data:`PUMP_FRAMES`) in one write;
        True when nothing is left to do for now (caught up, stalled, or the socket closed)."""
        cursor, end = self.cursor, len(log)
        if cursor >= end:
            return True
        if not self._socket.push_ready():
            self.stalled = True
            return True
        stop = min(end, cursor + PUMP_FRAMES)
        head = self._head
        self._socket.push_write(
            b"".join(text_frame(head + log[i].quoted + SUBSCRIBE_TAIL) for i in range(cursor, stop))
        )
        self.cursor = stop
        return stop == end
