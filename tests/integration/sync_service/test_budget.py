"""The history has a memory budget: publishes past it are refused, and stop() frees it all."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc

import pytest
from websockets.asyncio.client import connect

from choreograph.errors import SyncError
from choreograph.sync_service import SyncService

MIB = 1024 * 1024


async def test_a_publish_past_the_budget_gets_an_error_and_the_run_a_warning():
    async with SyncService(history_budget_bytes=3 * MIB, budget_hint="raise it so") as service:
        host, port = service.address
        async with connect(f"ws://{host}:{port}", max_size=None) as ws:

            async def publish(rid: str, size: int) -> dict:
                frame = {"id": rid, "publish": {"topic": "blobs", "payload": "x" * size}}
                await ws.send(json.dumps(frame))
                answer = json.loads(await ws.recv())
                assert answer["id"] == rid
                return answer

            assert (await publish("1", MIB))["publish"] == {"seq": 1}
            assert (await publish("2", MIB))["publish"] == {"seq": 2}
            refused = await publish("3", 2 * MIB)
            assert refused["publish"] is None
            message = refused["error"]
            for part in ("'blobs'", "2.0 MiB", "of its 3.0 MiB budget", "raise it so"):
                assert part in message, message
            # What fits still goes through, numbered as if nothing had been refused.
            assert (await publish("4", 1000))["publish"] == {"seq": 3}

            # A subscriber sees exactly the publishes that were accepted.
            await ws.send('{"id":"s","subscribe":{"topic":"blobs"}}')
            sizes = [len(json.loads(json.loads(await ws.recv())["subscribe"])) for _ in range(3)]
            assert sizes == [MIB, MIB, 1000]

        with pytest.raises(SyncError, match="budget"):
            await service.publish("other", "y" * 2 * MIB)
        stats = service.statistics()
        assert stats["refused_publishes"] == 2 and stats["history_budget_bytes"] == 3 * MIB
        assert 2 * MIB < stats["history_bytes"] <= 3 * MIB
    [line] = service.refusals()
    assert "refused 2 publish(es) (4.0 MiB)" in line and "'blobs', 'other'" in line


async def test_the_default_budget_refuses_nothing_a_test_plan_publishes(connect_client, service):
    client = await connect_client()
    for i in range(200):
        answer = await client.call({"id": str(i), "publish": {"topic": "t", "payload": {"n": i}}})
        assert answer["error"] == ""
    assert service.refusals() == []


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_one_copy_of_each_payload_is_kept_and_stop_frees_them_all():
    tracemalloc.start()
    try:
        service = SyncService()
        await service.start()
        payload = "x" * (4 * MIB)
        baseline = _traced()
        await service.publish("big", payload)
        held = _traced() - baseline
        # The quoted text is the only copy (the text and its quoted form were two).
        assert 4 * MIB <= held < 5 * MIB, f"one 4 MiB publish holds {held / MIB:.1f} MiB"

        for i in range(8):
            await service.publish(f"topic-{i % 3}", "y" * MIB)
            await service.signal_entry(f"state-{i}")
        subscription = service.subscribe("big")
        assert await asyncio.wait_for(anext(subscription), 1) == payload
        assert _traced() - baseline > 12 * MIB

        await service.stop()
        await subscription.aclose()
        left = _traced() - baseline
        assert left < MIB, f"{left / MIB:.1f} MiB still held after stop()"
        stats = service.statistics()
        assert (stats["topics"], stats["messages"], stats["states"]) == (0, 0, 0)
        assert stats["history_bytes"] == 0
    finally:
        tracemalloc.stop()


async def test_the_budget_bounds_what_the_service_holds():
    tracemalloc.start()
    try:
        async with SyncService(history_budget_bytes=16 * MIB) as service:
            baseline = _traced()
            refused = 0
            for _ in range(40):
                try:
                    await service.publish("t", "z" * MIB)
                except SyncError:
                    refused += 1
            assert refused == 40 - 15  # 15 entries of 1 MiB plus overhead fill 16 MiB
            assert _traced() - baseline <= 16 * MIB
    finally:
        tracemalloc.stop()
