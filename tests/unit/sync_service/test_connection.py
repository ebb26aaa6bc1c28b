"""A connection whose peer leaves while its requests are still being read leaves nothing behind.

websockets hands over frames already received without suspending, then reports the close at
once: the requests read last start their tasks in a task group that cancels them before they
ever run. Each such task must close its own coroutine (no "never awaited" warning) and leave
no entry in the connection's table of active requests.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from choreograph.sync_service.connection import Connection, Tally
from choreograph.sync_service.states import States
from choreograph.sync_service.topics import Topics


class VanishingPeer:
    """A websocket whose frames were all received, followed by its close."""

    remote_address = ("10.0.0.7", 40000)
    # As if an extension were negotiated: the connection then sends through send().
    protocol = SimpleNamespace(extensions=["permessage-deflate"])

    def __init__(self, frames: list[str]) -> None:
        self._frames = frames
        self.sent: list[str] = []

    async def __aiter__(self) -> AsyncIterator[str]:
        for frame in self._frames:
            yield frame

    async def send(self, frame: str) -> None:
        self.sent.append(frame)


REQUESTS = [
    '{"id":"b1","barrier":{"state":"s","target":3}}',
    '{"id":"s1","subscribe":{"topic":"t"}}',
    '{"id":"b2","barrier":{"state":"other","target":1}}',
    '{"id":"s2","subscribe":{"topic":"u"}}',
]


async def test_requests_read_as_the_peer_leaves_leave_no_unawaited_coroutine():
    topics, states = Topics(), States()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            connection = Connection(
                VanishingPeer(REQUESTS),  # type: ignore[arg-type]
                topics,
                states,
                Tally(),
                max_frame_bytes=10_000,
            )
            await connection.serve()
            await asyncio.sleep(0)  # let the tasks' done callbacks run
            assert connection._ops == {}
            del connection
        gc.collect()
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
    assert topics.statistics()["subscriptions"] == 0
    assert states.statistics()["waiting_barriers"] == 0


async def test_the_connection_keeps_one_origin_string_for_all_it_publishes():
    topics = Topics()
    frames = [f'{{"id":"{i}","publish":{{"topic":"t","payload":{i}}}}}' for i in range(3)]
    connection = Connection(
        VanishingPeer(frames),  # type: ignore[arg-type]
        topics,
        States(),
        Tally(),
        max_frame_bytes=10_000,
    )
    await connection.serve()
    entries = topics.get("t")._log
    assert [e.origin for e in entries] == ["10.0.0.7"] * 3
    assert entries[0].origin is entries[1].origin is entries[2].origin is connection.host


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70_000])
def test_text_frame_is_the_frame_websockets_writes(size: int) -> None:
    from websockets.frames import Frame, Opcode

    from choreograph.sync_service.frames import text_frame

    text = "x" * size
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert text_frame(text) == expected
