"""Peers that send long-lived requests and vanish at once leave no coroutine unawaited."""

from __future__ import annotations

import asyncio
import gc
import warnings

from websockets.asyncio.client import connect

from choreograph.sync_service import SyncService

PEERS = 200


async def _send_and_vanish(url: str, n: int) -> None:
    ws = await connect(url)
    # Written in one go with the close (or a reset), so the service reads the requests and
    # the end of the connection together.
    for i in range(5):
        ws.protocol.send_text(f'{{"id":"b{i}","barrier":{{"state":"s","target":9}}}}'.encode())
        ws.protocol.send_text(f'{{"id":"s{i}","subscribe":{{"topic":"t"}}}}'.encode())
    if n % 2:
        ws.protocol.send_close()
    ws.transport.write(b"".join(ws.protocol.data_to_send()))
    ws.transport.abort()


async def test_requests_from_peers_that_leave_at_once_leave_nothing_behind():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with SyncService() as service:
            await service.publish("t", "x" * 10_000)
            host, port = service.address
            url = f"ws://{host}:{port}"
            for start in range(0, PEERS, 50):
                await asyncio.gather(*(_send_and_vanish(url, n) for n in range(start, start + 50)))
            async with asyncio.timeout(10):
                while service.statistics()["connections"]:
                    await asyncio.sleep(0.01)
            stats = service.statistics()
            assert stats["subscriptions"] == 0 and stats["waiting_barriers"] == 0
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
