"""The sync service's websocket protocol, frame by frame (testground/sync-service's contract)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from choreograph.errors import SyncError
from choreograph.sync_service import SyncService

# --- each operation, exact frames ---------------------------------------------


async def test_publish_answers_seq_counting_from_one_per_topic(connect_client):
    client = await connect_client()
    answers = [
        await client.call({"id": "1", "publish": {"topic": "a", "payload": 1}}),
        await client.call({"id": "2", "publish": {"topic": "a", "payload": 2}}),
        await client.call({"id": "3", "publish": {"topic": "b", "payload": 3}}),
    ]
    assert answers == [
        {"id": "1", "error": "", "publish": {"seq": 1}},
        {"id": "2", "error": "", "publish": {"seq": 2}},
        {"id": "3", "error": "", "publish": {"seq": 1}},
    ]


async def test_signal_entry_answers_the_new_count(connect_client):
    one, two = await connect_client(), await connect_client()
    assert await one.call({"id": "x", "signal_entry": {"state": "s"}}) == {
        "id": "x",
        "error": "",
        "signal_entry": {"seq": 1},
    }
    assert (await two.call({"id": "x", "signal_entry": {"state": "s"}}))["signal_entry"] == {
        "seq": 2
    }
    other = await one.call({"id": "y", "signal_entry": {"state": "other"}})
    assert other["signal_entry"] == {"seq": 1}


PAYLOADS = [
    {"nested": {"list": [1, 2.5, None, True]}, "text": 'quote " and \\ backslash'},
    ["a", 1],
    "plain string",
    42,
    None,
    {"unicode": "héllo ✓ \u2028 😀"},
]


async def test_subscribe_sends_each_payload_as_a_json_string(connect_client):
    publisher, subscriber = await connect_client(), await connect_client()
    for i, payload in enumerate(PAYLOADS):
        await publisher.call({"id": str(i), "publish": {"topic": "t", "payload": payload}})
    await subscriber.send({"id": "sub", "subscribe": {"topic": "t"}})
    for payload in PAYLOADS:
        frame = await subscriber.recv()
        assert set(frame) == {"id", "error", "subscribe"}
        assert frame["id"] == "sub" and frame["error"] == ""
        assert isinstance(frame["subscribe"], str)
        assert json.loads(frame["subscribe"]) == payload


async def test_barrier_answers_once_the_target_is_reached(connect_client):
    waiter, signaller = await connect_client(), await connect_client()
    await waiter.send({"id": "b", "barrier": {"state": "s", "target": 2}})
    await signaller.call({"id": "1", "signal_entry": {"state": "s"}})
    await waiter.expect_silence()
    await signaller.call({"id": "2", "signal_entry": {"state": "s"}})
    assert await waiter.recv() == {"id": "b", "error": ""}
    await waiter.expect_silence()  # exactly one answer


async def test_barrier_target_zero_and_reached_targets_answer_at_once(connect_client):
    client = await connect_client()
    assert await client.call({"id": "z", "barrier": {"state": "fresh", "target": 0}}) == {
        "id": "z",
        "error": "",
    }
    for i in range(3):
        await client.call({"id": f"s{i}", "signal_entry": {"state": "s"}})
    assert await client.call({"id": "r", "barrier": {"state": "s", "target": 2}}) == {
        "id": "r",
        "error": "",
    }
    assert await client.call({"id": "e", "barrier": {"state": "s", "target": 3}}) == {
        "id": "e",
        "error": "",
    }


# --- subscriptions ------------------------------------------------------------


async def test_late_subscriber_gets_the_history_in_order_then_live_messages(connect_client):
    publisher, late = await connect_client(), await connect_client()
    for i in range(50):
        await publisher.call({"id": f"p{i}", "publish": {"topic": "log", "payload": {"n": i}}})
    await late.send({"id": "sub", "subscribe": {"topic": "log"}})
    seen = [json.loads((await late.recv())["subscribe"])["n"] for _ in range(50)]
    assert seen == list(range(50))
    await late.expect_silence(0.1)
    for i in range(50, 60):
        await publisher.call({"id": f"p{i}", "publish": {"topic": "log", "payload": {"n": i}}})
    live = [json.loads((await late.recv())["subscribe"])["n"] for _ in range(10)]
    assert live == list(range(50, 60))


async def test_two_subscriptions_on_one_connection_stay_apart(connect_client):
    publisher, subscriber = await connect_client(), await connect_client()
    await subscriber.send({"id": "A", "subscribe": {"topic": "a"}})
    await subscriber.send({"id": "B", "subscribe": {"topic": "b"}})
    await asyncio.sleep(0.05)
    for i in range(20):
        topic = "a" if i % 2 == 0 else "b"
        await publisher.call({"id": str(i), "publish": {"topic": topic, "payload": i}})
    streams: dict[str, list[int]] = {"A": [], "B": []}
    for _ in range(20):
        frame = await subscriber.recv()
        streams[frame["id"]].append(json.loads(frame["subscribe"]))
    assert streams == {"A": list(range(0, 20, 2)), "B": list(range(1, 20, 2))}


async def test_two_subscriptions_to_one_topic_each_get_everything(connect_client):
    client = await connect_client()
    await client.call({"id": "p0", "publish": {"topic": "t", "payload": 0}})
    await client.send({"id": "s1", "subscribe": {"topic": "t"}})
    await client.send({"id": "s2", "subscribe": {"topic": "t"}})
    frames = [await client.recv() for _ in range(2)]
    assert sorted(f["id"] for f in frames) == ["s1", "s2"]
    assert all(f["subscribe"] == "0" for f in frames)


async def test_cancel_stops_a_subscription(connect_client, service, eventually):
    client = await connect_client()
    await client.send({"id": "sub", "subscribe": {"topic": "t"}})
    await client.call({"id": "p1", "publish": {"topic": "t", "payload": "first"}})
    assert (await client.recv())["subscribe"] == '"first"'
    await client.send({"id": "sub", "is_cancel": True})
    await eventually(lambda: service.statistics()["subscriptions"] == 0)
    await client.call({"id": "p2", "publish": {"topic": "t", "payload": "second"}})
    await client.expect_silence()
    # The connection carries on, and the id can be used again.
    await client.send({"id": "sub", "subscribe": {"topic": "t"}})
    assert [(await client.recv())["subscribe"] for _ in range(2)] == ['"first"', '"second"']


async def test_cancel_stops_a_barrier_wait(connect_client, service, eventually):
    client = await connect_client()
    await client.send({"id": "b", "barrier": {"state": "s", "target": 2}})
    await eventually(lambda: service.statistics()["waiting_barriers"] == 1)
    await client.send({"id": "b", "is_cancel": True})
    await eventually(lambda: service.statistics()["waiting_barriers"] == 0)
    assert (await client.call({"id": "1", "signal_entry": {"state": "s"}}))["error"] == ""
    assert (await client.call({"id": "2", "signal_entry": {"state": "s"}}))["error"] == ""
    await client.expect_silence()  # the cancelled barrier never answers


async def test_cancel_of_an_unknown_id_is_ignored(connect_client, service):
    client = await connect_client()
    await client.send({"id": "nope", "is_cancel": True})
    await client.expect_silence()
    assert await client.call({"id": "1", "signal_entry": {"state": "s"}}) == {
        "id": "1",
        "error": "",
        "signal_entry": {"seq": 1},
    }
    assert service.statistics()["errors"] == 0


async def test_reusing_the_id_of_an_active_subscription_is_refused(connect_client):
    client = await connect_client()
    await client.send({"id": "s", "subscribe": {"topic": "t"}})
    answer = await client.call({"id": "s", "subscribe": {"topic": "other"}})
    assert "already in use" in answer["error"]


# --- barriers -------------------------------------------------------------------


async def test_concurrent_barriers_on_one_state_release_at_their_own_targets(connect_client):
    waiters = [await connect_client() for _ in range(3)]
    signaller = await connect_client()
    for target, waiter in zip((1, 2, 3), waiters, strict=True):
        await waiter.send({"id": f"t{target}", "barrier": {"state": "s", "target": target}})
    await asyncio.sleep(0.05)
    for count in (1, 2, 3):
        await signaller.call({"id": str(count), "signal_entry": {"state": "s"}})
        released = waiters[count - 1]
        assert await released.recv() == {"id": f"t{count}", "error": ""}
        for still_waiting in waiters[count:]:
            await still_waiting.expect_silence(0.05)


async def test_barriers_with_several_targets_on_one_connection(connect_client):
    client = await connect_client()
    for target in (3, 1, 2):
        await client.send({"id": f"t{target}", "barrier": {"state": "s", "target": target}})
    released = []
    for i in range(3):
        await client.send({"id": f"sig{i}", "signal_entry": {"state": "s"}})
        frames = [await client.recv() for _ in range(2)]
        released += [f["id"] for f in frames if f["id"].startswith("t")]
    assert released == ["t1", "t2", "t3"]


async def test_200_clients_signal_then_wait_on_one_barrier(connect_client, service):
    clients = await asyncio.gather(*(connect_client() for _ in range(200)))

    async def instance(client) -> int:
        signalled = await client.call({"id": "1", "signal_entry": {"state": "ready"}})
        released = await client.call({"id": "2", "barrier": {"state": "ready", "target": 200}})
        assert released == {"id": "2", "error": ""}
        return signalled["signal_entry"]["seq"]

    seqs = await asyncio.wait_for(asyncio.gather(*(instance(c) for c in clients)), 20)
    assert sorted(seqs) == list(range(1, 201))
    stats = service.statistics()
    assert stats["connections"] == 200 and stats["waiting_barriers"] == 0


# --- disconnects ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_disconnect_releases_subscriptions_and_barriers(
    connect_client, service, eventually, how
):
    survivor = await connect_client()
    await survivor.send({"id": "keep", "subscribe": {"topic": "t0"}})
    await eventually(lambda: service.statistics()["subscriptions"] == 1)
    baseline_tasks = len(asyncio.all_tasks())

    leaver = await connect_client()
    for i in range(3):
        await leaver.send({"id": f"s{i}", "subscribe": {"topic": f"t{i}"}})
    for i in range(2):
        await leaver.send({"id": f"b{i}", "barrier": {"state": "never", "target": 5 + i}})
    await eventually(
        lambda: (
            service.statistics()["subscriptions"] == 4
            and service.statistics()["waiting_barriers"] == 2
        )
    )
    if how == "close":
        await leaver.ws.close()
    else:
        leaver.ws.transport.abort()

    await eventually(lambda: service.statistics()["connections"] == 1)
    stats = service.statistics()
    assert stats["subscriptions"] == 1 and stats["waiting_barriers"] == 0
    # Every task the leaver caused (its connection, writer, subscriptions, barriers) is gone.
    await eventually(lambda: len(asyncio.all_tasks()) <= baseline_tasks)
    # The survivor's subscription still works.
    await survivor.call({"id": "p", "publish": {"topic": "t0", "payload": "still here"}})
    assert (await survivor.recv())["subscribe"] == '"still here"'


async def test_a_subscriber_that_stops_reading_does_not_hold_back_others(connect_client):
    stuck, reader, publisher = (
        await connect_client(),
        await connect_client(),
        await connect_client(),
    )
    await stuck.send({"id": "stuck", "subscribe": {"topic": "big"}})
    await reader.send({"id": "reader", "subscribe": {"topic": "big"}})
    blob = "x" * 20_000
    count = 1000  # 20 MB: far more than the stuck peer's socket buffers and queues hold

    async def read_all() -> int:
        for n in range(count):
            frame = await reader.recv()
            assert json.loads(frame["subscribe"])["n"] == n
        return count

    reading = asyncio.create_task(read_all())
    for n in range(count):
        answer = await publisher.call(
            {"id": str(n), "publish": {"topic": "big", "payload": {"n": n, "blob": blob}}}
        )
        assert answer["publish"] == {"seq": n + 1}
    assert await asyncio.wait_for(reading, 10) == count
    # A polite close would wait for a server frame the stuck peer never reads.
    stuck.ws.transport.abort()


# --- in-process API ----------------------------------------------------------------


async def test_in_process_publish_reaches_websocket_subscribers_and_back(connect_client, service):
    client = await connect_client()
    await client.send({"id": "sub", "subscribe": {"topic": "t"}})
    assert await service.publish("t", {"from": "host"}) == 1
    assert json.loads((await client.recv())["subscribe"]) == {"from": "host"}

    received = []

    async def follow() -> None:
        async with contextlib.aclosing(service.subscribe("t")) as payloads:
            async for payload in payloads:
                received.append(payload)
                if len(received) == 2:
                    return

    following = asyncio.create_task(follow())
    await client.call({"id": "p", "publish": {"topic": "t", "payload": {"from": "instance"}}})
    await asyncio.wait_for(following, 5)
    assert received == [{"from": "host"}, {"from": "instance"}]
    assert service.statistics()["subscriptions"] == 1  # only the websocket one is left


async def test_in_process_subscription_ends_when_abandoned_or_cancelled(service, eventually):
    await service.publish("t", 1)
    async for payload in service.subscribe("t"):
        assert payload == 1
        break  # the generator is finalised by the loop's async-generator hook
    await eventually(lambda: service.statistics()["subscriptions"] == 0)

    async def follow_forever() -> None:
        async for _ in service.subscribe("t"):
            pass

    following = asyncio.create_task(follow_forever())
    await eventually(lambda: service.statistics()["subscriptions"] == 1)
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    assert service.statistics()["subscriptions"] == 0


async def test_in_process_payloads_are_private_copies(service):
    await service.publish("t", {"list": [1]})
    first = await anext(aiter(service.subscribe("t")))
    first["list"].append(2)
    assert await anext(aiter(service.subscribe("t"))) == {"list": [1]}


async def test_in_process_barriers_and_websocket_signals_meet(connect_client, service):
    client = await connect_client()
    waiting = asyncio.create_task(service.wait_barrier("s", 2))
    await client.call({"id": "1", "signal_entry": {"state": "s"}})
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await client.send({"id": "b", "barrier": {"state": "s", "target": 3}})
    assert await service.signal_entry("s") == 2
    await asyncio.wait_for(waiting, 5)
    await client.expect_silence(0.05)
    assert await service.signal_entry("s") == 3
    assert await client.recv() == {"id": "b", "error": ""}


# --- lifecycle --------------------------------------------------------------------


async def test_stop_closes_connections_and_ends_in_process_waits():
    service = SyncService()
    host, port = await service.start()
    assert service.address == (host, port) and port > 0
    await service.publish("t", 1)
    from websockets.asyncio.client import connect

    ws = await connect(f"ws://{host}:{port}")
    received = []

    async def follow() -> None:
        async for payload in service.subscribe("t"):
            received.append(payload)

    following = asyncio.create_task(follow())
    waiting = asyncio.create_task(service.wait_barrier("s", 1))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(service.stop(), 5)
    await asyncio.wait_for(following, 1)  # ends after the history, no hang
    assert received == [1]
    with pytest.raises(SyncError):
        await asyncio.wait_for(waiting, 1)
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1001
    await service.stop()  # idempotent
    assert service.statistics()["connections"] == 0


async def test_start_on_a_port_in_use_is_a_host_error(service):
    """A port in use is the host's problem (exit status 4), not bad input."""
    from choreograph.errors import HostError

    _, port = service.address
    with pytest.raises(HostError, match="cannot listen"):
        await SyncService().start("127.0.0.1", port)


async def test_stop_drops_a_peer_that_stopped_reading(monkeypatch):
    from websockets.asyncio.client import connect

    from choreograph.sync_service import server

    monkeypatch.setattr(server, "CLOSE_TIMEOUT_S", 0.3)
    service = SyncService()
    host, port = await service.start()
    stuck = await connect(f"ws://{host}:{port}", max_queue=1)  # reads nothing from now on
    polite = await connect(f"ws://{host}:{port}")
    await stuck.send('{"id":"s","subscribe":{"topic":"t"}}')
    for _ in range(1000):  # 10 MB: more than the socket buffers between us hold
        await service.publish("t", "x" * 10_000)
    await asyncio.sleep(0.2)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(service.stop(), 5)
    assert asyncio.get_running_loop().time() - started < 2
    assert service.statistics()["connections"] == 0
    await asyncio.wait_for(polite.wait_closed(), 5)
    assert polite.close_code == 1001
    stuck.transport.abort()
