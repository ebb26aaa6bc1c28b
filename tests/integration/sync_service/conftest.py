"""A real sync service on a free port, and raw websocket clients speaking its JSON frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from choreograph.sync_service import SyncService

RECV_TIMEOUT_S = 5.0


GO_FIELDS = ["id", "error", "publish", "subscribe", "signal_entry"]


def set_fields(frame: dict[str, Any]) -> dict[str, Any]:
    """Check the frame has every field Testground's Go service writes, in its order (the
    Rust SDK cannot decode a response without ``subscribe``), then keep the ones set."""
    assert list(frame) == GO_FIELDS, f"response fields {list(frame)}, expected {GO_FIELDS}"
    return {k: v for k, v in frame.items() if v is not None and (k != "subscribe" or v != "")}


class Client:
    """One websocket to the service; frames are sent and read as raw JSON, nothing hidden."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    async def recv(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"the service sent a binary frame: {raw!r:.100}"
        frame = json.loads(raw)
        assert isinstance(frame, dict)
        return set_fields(frame)

    async def call(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return the next frame, which must answer it."""
        await self.send(frame)
        response = await self.recv()
        assert response["id"] == frame["id"], response
        return response

    async def expect_silence(self, seconds: float = 0.2) -> None:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no frame, got {raw!r:.200}")


Connect = Callable[[], Awaitable[Client]]


@pytest.fixture
async def service() -> AsyncIterator[SyncService]:
    async with SyncService() as svc:
        yield svc


@pytest.fixture
async def connect_client(service: SyncService) -> AsyncIterator[Connect]:
    """Open clients to ``service``; every one is closed after the test."""
    clients: list[ClientConnection] = []
    host, port = service.address

    async def open_client() -> Client:
        ws = await connect(f"ws://{host}:{port}", max_size=None, compression=None)
        clients.append(ws)
        return Client(ws)

    yield open_client
    await asyncio.gather(*(ws.close() for ws in clients))


async def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """Wait until ``check()`` holds: for state that settles asynchronously (after a close)."""
    return _eventually
