"""Each stored payload knows the host that published it, for the engine to check outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import json

from websockets.asyncio.client import connect

from choreograph.sync_service import SyncService


async def _publish(url: str, local_host: str, payload: object) -> None:
    # Every address of 127.0.0.0/8 is this host: two of them stand for two instances'
    # control-network addresses under local:netns.
    async with connect(url, local_addr=(local_host, 0)) as ws:
        await ws.send(json.dumps({"id": "1", "publish": {"topic": "events", "payload": payload}}))
        assert json.loads(await ws.recv())["error"] == ""


async def test_subscribe_with_origin_pairs_each_payload_with_its_publishers_host():
    async with SyncService() as service:
        host, port = service.address
        url = f"ws://{host}:{port}"
        await _publish(url, "127.0.0.2", {"success_event": {"group": "a"}})
        await _publish(url, "127.0.0.3", {"failure_event": {"group": "b"}})
        await service.publish("events", {"message_event": {"message": "from the engine"}})

        seen = []
        async with contextlib.aclosing(service.subscribe_with_origin("events")) as entries:
            async for payload, origin in entries:
                seen.append((next(iter(payload)), origin))
                if len(seen) == 3:
                    break
        assert seen == [
            ("success_event", "127.0.0.2"),
            ("failure_event", "127.0.0.3"),
            ("message_event", None),
        ]
        # The plain subscription is unchanged: payloads only.
        plain = service.subscribe("events")
        assert await asyncio.wait_for(anext(plain), 1) == {"success_event": {"group": "a"}}
        await plain.aclose()
