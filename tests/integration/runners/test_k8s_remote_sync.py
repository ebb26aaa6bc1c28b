"""The engine's face of an in-cluster sync service (``RemoteSync``), against a real
service on loopback with a token: progress from the stats endpoint, every ``run_events``
payload exactly once even across a lost connection, and the token required."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from choreograph.errors import SyncError
from choreograph.runners.k8s_sync import Access, RemoteSync
from choreograph.sync_service import SyncService


async def _take(items: Any, n: int) -> list[Any]:
    out = []
    async with asyncio.timeout(10):
        while len(out) < n:
            out.append((await anext(items))[0])
    return out


async def test_follows_progress_and_payloads_across_a_lost_connection() -> None:
    service = SyncService(token="s3cret")
    host, port = await service.start("127.0.0.1", 0)
    remote = RemoteSync(("10.0.0.9", 5050), Access(f"http://{host}:{port}", "s3cret"))
    try:
        assert await remote.start() == ("10.0.0.9", 5050)  # what instances are told
        for n in range(3):
            await service.publish("run_events", {"n": n})
        await service.signal_entry("ready")
        waiter = asyncio.ensure_future(service.wait_barrier("ready", 2))
        assert await remote.published_count("run_events") == 3
        await asyncio.sleep(1.3)  # one poll of the stats
        assert remote.waits() == [("ready", 1, 2, 1)]
        items = remote.subscribe_with_origin("run_events")
        assert await _take(items, 3) == [{"n": 0}, {"n": 1}, {"n": 2}]
        for connection in list(service._connections):  # the proxy drops the websocket
            connection.abort()
        await service.publish("run_events", {"n": 3})
        assert await _take(items, 1) == [{"n": 3}]  # replayed history skipped, none lost
        assert remote.reconnects == 1
        await items.aclose()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    finally:
        await remote.stop()
        await service.stop()
    assert remote.refusals() == []


async def test_a_wrong_token_is_refused() -> None:
    service = SyncService(token="s3cret")
    host, port = await service.start("127.0.0.1", 0)
    remote = RemoteSync(("10.0.0.9", 5050), Access(f"http://{host}:{port}", "wrong"))
    try:
        with pytest.raises(SyncError, match="401"):
            await remote.published_count("run_events")
    finally:
        await service.stop()
