"""The service reads open connections' data frames itself, and hands everything else to
websockets exactly: tested with a raw TCP peer that writes its frames byte by byte as it likes.

Each test would fail if the hand-over lost, repeated or reordered a frame: requests carry
ids and every answer is checked in order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

from websockets.frames import Frame, Opcode

from choreograph.sync_service import SyncService

TIMEOUT_S = 20.0


def request_frame(obj: dict[str, Any] | bytes, *, opcode: Opcode = Opcode.TEXT) -> bytes:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return Frame(opcode, data).serialize(mask=True, extensions=[])


def signal(rid: str, state: str = "s") -> dict[str, Any]:
    return {"id": rid, "signal_entry": {"state": state}}


def read_here(service: SyncService) -> list[bool]:
    """Per open connection: does the service read its frames itself (not websockets)?"""
    return [c._ws.taken_over for c in service._connections]  # type: ignore[attr-defined]


class RawPeer:
    """A websocket client written by hand: the handshake and frames go out as given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: tuple[str, int], behind_handshake: bytes = b"") -> RawPeer:
        reader, writer = await asyncio.open_connection(*address)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            + behind_handshake
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the service: (opcode, payload); it never masks."""
        first, second = await self.reader.readexactly(2)
        assert first & 0x80 and not second & 0x80
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(length)

    async def answer(self) -> dict[str, Any]:
        opcode, payload = await asyncio.wait_for(self.frame(), TIMEOUT_S)
        assert opcode == Opcode.TEXT, (opcode, payload)
        found = json.loads(payload)
        assert isinstance(found, dict)
        return found

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_frames_sent_behind_the_handshake_are_answered_in_order() -> None:
    async with SyncService() as service:
        early = b"".join(request_frame(signal(str(i))) for i in range(5))
        peer = await RawPeer.open(service.address, behind_handshake=early)
        peer.writer.write(b"".join(request_frame(signal(str(i))) for i in range(5, 10)))
        answers = [await peer.answer() for _ in range(10)]
        assert [(a["id"], a["signal_entry"]["seq"]) for a in answers] == [
            (str(i), i + 1) for i in range(10)
        ]
        assert read_here(service) == [False]  # websockets had frames: it keeps the connection
        await peer.close()


async def test_a_ping_between_requests_is_ponged_and_the_order_kept() -> None:
    async with SyncService() as service:
        peer = await RawPeer.open(service.address)
        peer.writer.write(request_frame(signal("first")))
        assert (await peer.answer())["id"] == "first"
        assert read_here(service) == [True]
        ping = Frame(Opcode.PING, b"are you there").serialize(mask=True, extensions=[])
        stream = request_frame(signal("a")) + ping + request_frame(signal("b"))
        for at in range(0, len(stream), 7):  # in small pieces, splitting frames anywhere
            peer.writer.write(stream[at : at + 7])
            await peer.writer.drain()
            await asyncio.sleep(0.001)
        got = [await asyncio.wait_for(peer.frame(), TIMEOUT_S) for _ in range(3)]
        assert (Opcode.PONG, b"are you there") in got
        answers = [json.loads(p) for op, p in got if op == Opcode.TEXT]
        assert [(a["id"], a["signal_entry"]["seq"]) for a in answers] == [("a", 2), ("b", 3)]
        assert read_here(service) == [False]
        # Handed over to websockets: it still answers, through the service's read loop.
        peer.writer.write(request_frame(signal("c")))
        assert (await peer.answer())["signal_entry"]["seq"] == 4
        await peer.close()


async def test_a_fragmented_request_is_answered_after_the_whole_ones_before_it() -> None:
    async with SyncService() as service:
        peer = await RawPeer.open(service.address)
        whole = json.dumps(signal("frag")).encode()
        first = Frame(Opcode.TEXT, whole[:10], fin=False).serialize(mask=True, extensions=[])
        rest = Frame(Opcode.CONT, whole[10:]).serialize(mask=True, extensions=[])
        peer.writer.write(request_frame(signal("before")) + first + rest)
        assert [(await peer.answer())["id"] for _ in range(2)] == ["before", "frag"]
        await peer.close()


async def test_a_close_from_the_peer_is_answered_and_the_connection_ends() -> None:
    async with SyncService() as service:
        peer = await RawPeer.open(service.address)
        close = Frame(Opcode.CLOSE, (1000).to_bytes(2, "big")).serialize(mask=True, extensions=[])
        peer.writer.write(request_frame(signal("last")) + close)
        assert (await peer.answer())["id"] == "last"
        opcode, payload = await asyncio.wait_for(peer.frame(), TIMEOUT_S)
        assert opcode == Opcode.CLOSE and payload[:2] == (1000).to_bytes(2, "big")
        assert await asyncio.wait_for(peer.reader.read(), TIMEOUT_S) == b""
        await peer.close()
        for _ in range(100):
            if service.statistics()["connections"] == 0:
                break
            await asyncio.sleep(0.02)
        assert service.statistics()["connections"] == 0


async def test_a_peer_that_floods_without_reading_waits_alone_and_loses_nothing() -> None:
    """Its answers fill the socket and then its queue: reading it pauses (not the service)
    until it reads again; every answer then arrives, in order."""
    count = 60_000
    async with SyncService() as service:
        flooder = await RawPeer.open(service.address)
        flood = b"".join(request_frame(signal(f"f{i}", "flood")) for i in range(count))
        flooder.writer.write(flood)
        other = await RawPeer.open(service.address)
        # Until the flood has been read as far as the service can go without the flooder
        # reading, other clients keep being served.
        for i in range(20):
            other.writer.write(request_frame(signal(f"o{i}", "other")))
            answer = await other.answer()
            assert answer["signal_entry"]["seq"] == i + 1
            await asyncio.sleep(0.01)
        served = service.statistics()["requests"]
        assert served < count + 20, "the flooder was served without reading its answers"
        assert read_here(service) == [True, True]
        seqs = [(await flooder.answer())["signal_entry"]["seq"] for _ in range(count)]
        assert seqs == list(range(1, count + 1))
        await flooder.close()
        await other.close()


async def test_a_stalled_subscriber_holds_a_bounded_buffer_and_gets_everything_once_it_reads():
    """Its socket fills, its subscription stalls (the service keeps at most a buffer's
    worth for it, not the history), and the drained socket wakes it where it stopped."""
    count, blob = 300, "x" * 20_000  # 6 MB, far beyond the socket buffers
    async with SyncService() as service:
        subscriber = await RawPeer.open(service.address)
        subscriber.writer.write(request_frame({"id": "s", "subscribe": {"topic": "big"}}))
        publisher = await RawPeer.open(service.address)
        for n in range(count):
            publisher.writer.write(
                request_frame(
                    {"id": str(n), "publish": {"topic": "big", "payload": {"n": n, "b": blob}}}
                )
            )
            assert (await publisher.answer())["publish"] == {"seq": n + 1}
        await asyncio.sleep(0.2)
        buffered = [c._ws.transport.get_write_buffer_size() for c in service._connections]  # type: ignore[attr-defined]
        assert max(buffered) < 1_000_000, buffered
        for n in range(count):
            frame = await subscriber.answer()
            assert frame["id"] == "s" and json.loads(frame["subscribe"])["n"] == n
        assert service.statistics()["subscriptions"] == 1
        await subscriber.close()
        await publisher.close()
