"""Malformed input gets an error answer, and harms neither its connection nor anyone else's."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from choreograph.sync_service import SyncService
from choreograph.wire.sync import MAX_FRAME_BYTES

OVERSIZED = '{"id":"big","publish":{"topic":"t","payload":"' + "x" * MAX_FRAME_BYTES + '"}}'

# (frame, id the error must carry; "" where the frame gives none)
MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "not json": ("this is not json", ""),
    "truncated json": ('{"id":"7","signal_entry":{"state":', ""),
    "json array": ('[{"id":"7","signal_entry":{"state":"s"}}]', ""),
    "json string": ('"hello"', ""),
    "missing id": ('{"signal_entry":{"state":"s"}}', ""),
    "empty id": ('{"id":"","signal_entry":{"state":"s"}}', ""),
    "numeric id": ('{"id":7,"signal_entry":{"state":"s"}}', ""),
    "no operation": ('{"id":"7"}', "7"),
    "unknown operation": ('{"id":"7","frobnicate":{"state":"s"}}', "7"),
    "two operations": ('{"id":"7","signal_entry":{"state":"s"},"publish":{"topic":"t"}}', "7"),
    "cancel with an operation": ('{"id":"7","is_cancel":true,"subscribe":{"topic":"t"}}', "7"),
    "operation not an object": ('{"id":"7","subscribe":"t"}', "7"),
    "missing topic": ('{"id":"7","publish":{"payload":1}}', "7"),
    "missing payload": ('{"id":"7","publish":{"topic":"t"}}', "7"),
    "subscribe without topic": ('{"id":"7","subscribe":{}}', "7"),
    "topic not a string": ('{"id":"7","subscribe":{"topic":5}}', "7"),
    "state not a string": ('{"id":"7","signal_entry":{"state":["s"]}}', "7"),
    "missing target": ('{"id":"7","barrier":{"state":"s"}}', "7"),
    "target a string": ('{"id":"7","barrier":{"state":"s","target":"3"}}', "7"),
    "target true": ('{"id":"7","barrier":{"state":"s","target":true}}', "7"),
    "target a float": ('{"id":"7","barrier":{"state":"s","target":3.0}}', "7"),
    "negative target": ('{"id":"7","barrier":{"state":"s","target":-1}}', "7"),
    "NaN payload": ('{"id":"7","publish":{"topic":"t","payload":NaN}}', ""),
    "infinite payload": ('{"id":"7","publish":{"topic":"t","payload":1e999}}', "7"),
    "deep nesting": ('{"id":"7","publish":{"topic":"t","payload":' + "[" * 100_000 + "}}", ""),
    "oversized frame": (OVERSIZED, "big"),
    "binary garbage": (b"\x00\xff\x10", ""),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_request_gets_an_error_and_harms_no_one(
    case, connect_client, service, caplog
):
    frame, expected_id = MALFORMED[case]
    healthy, offender = await connect_client(), await connect_client()
    await healthy.send({"id": "h-sub", "subscribe": {"topic": "news"}})
    await asyncio.sleep(0.02)

    with caplog.at_level(logging.WARNING, logger="choreograph.sync_service"):
        await offender.send(frame)
        answer = await offender.recv()
    assert set(answer) == {"id", "error"}, answer
    assert answer["id"] == expected_id
    assert isinstance(answer["error"], str) and answer["error"]
    assert any(r.name == "choreograph.sync_service" for r in caplog.records)
    assert service.statistics()["errors"] == 1
    # The malformed request had no effect on the state it named.
    assert service.statistics()["messages"] == 0

    # The offending connection keeps working...
    assert await offender.call({"id": "after", "signal_entry": {"state": "s"}}) == {
        "id": "after",
        "error": "",
        "signal_entry": {"seq": 1},
    }
    # ...and so does everyone else, subscriptions included.
    assert (await healthy.call({"id": "h1", "signal_entry": {"state": "s"}}))["signal_entry"] == {
        "seq": 2
    }
    await offender.call({"id": "pub", "publish": {"topic": "news", "payload": case}})
    assert json.loads((await healthy.recv())["subscribe"]) == case


async def test_many_bad_frames_in_a_row_are_each_answered(connect_client, service):
    client = await connect_client()
    for i in range(100):
        await client.send(f'{{"id":"{i}","barrier":{{"state":"s","target":"x"}}}}')
    answers = [await client.recv() for _ in range(100)]
    assert [a["id"] for a in answers] == [str(i) for i in range(100)]
    assert all(a["error"] for a in answers)
    assert service.statistics()["errors"] == 100


async def test_frame_above_the_transport_ceiling_closes_only_its_connection():
    # A small limit keeps the frames small; the ceiling is 4x the limit (TRANSPORT_SLACK).
    async with SyncService(max_frame_bytes=1000) as service:
        host, port = service.address
        async with (
            connect(f"ws://{host}:{port}") as healthy,
            connect(f"ws://{host}:{port}") as offender,
        ):
            # Over our limit but under the ceiling: an error answer, connection kept.
            await offender.send('{"id":"1","publish":{"topic":"t","payload":"' + "x" * 2000 + '"}}')
            answer = json.loads(await offender.recv())
            assert answer["id"] == "1" and "exceeds" in answer["error"]
            # Over the ceiling: websockets closes this connection (1009), nobody else's.
            await offender.send("x" * 10_000)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(offender.recv(), 5)
            assert offender.close_code == 1009
            await healthy.send('{"id":"h","signal_entry":{"state":"s"}}')
            assert json.loads(await healthy.recv())["signal_entry"] == {"seq": 1}


async def test_binary_frames_are_served_like_text(connect_client) -> None:
    # Testground's Rust SDK sends its JSON requests as binary frames.
    client = await connect_client()
    await client.send(b'{"id":"7","signal_entry":{"state":"s"}}')
    assert await client.recv() == {"id": "7", "error": "", "signal_entry": {"seq": 1}}
