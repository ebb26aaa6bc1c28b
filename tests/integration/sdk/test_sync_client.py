"""The async SyncClient against a real sync service: every call, scoping, failure paths."""

import asyncio
from types import CoroutineType

import pytest

from choreograph.errors import SyncError
from choreograph.sdk import RunEnv, Subscription, SyncClient
from choreograph.sdk._sync import Connecting
from choreograph.sync_service import SyncService
from choreograph.wire.events import Event
from choreograph.wire.topics import run_events_key, state_key, topic_key

SCOPE = ("run-1", "plan", "case")
Address = tuple[str, int]


def scoped(address: Address, scope: tuple[str, str, str] | None = SCOPE) -> Connecting:
    return SyncClient.connect(*address, scope=scope)


async def test_signal_entry_counts_per_state_and_scope(address: Address) -> None:
    async with (
        scoped(address) as a,
        scoped(address) as b,
        scoped(address, ("run-2", "plan", "case")) as c,
    ):
        assert await a.signal_entry("ready") == 1
        assert await b.signal_entry("ready") == 2
        assert await a.signal_entry("other") == 1
        assert await c.signal_entry("ready") == 1


async def test_keys_are_the_ones_testground_sdks_use(address: Address) -> None:
    async with scoped(address) as client, scoped(address, None) as raw:
        await client.signal_entry("ready")
        await client.publish("peers", {"id": 1})
        assert await raw.signal_entry(state_key(*SCOPE, "ready")) == 2
        sub = await raw.subscribe(topic_key(*SCOPE, "peers"))
        assert await sub.get(timeout=5) == {"id": 1}
        await client.signal_event(Event("message", message="hi", instance="g/0", seq=1))
        events = await raw.subscribe(run_events_key(*SCOPE))
        assert await events.get(timeout=5) == {
            "message_event": {"message": "hi"},
            "instance": "g/0",
            "seq": 1,
        }


async def test_connect_from_a_run_env_uses_its_address_and_scope(
    address: Address, runenv: RunEnv
) -> None:
    client = await SyncClient.connect(runenv)
    try:
        await client.signal_entry("s")
    finally:
        await client.close()
    async with scoped(address) as other:
        assert await other.signal_entry("s") == 2


async def test_barrier_waits_for_its_target(address: Address) -> None:
    async with scoped(address) as a, scoped(address) as b:
        await a.barrier("empty", 0)  # target 0 is met at once
        waiting = asyncio.create_task(a.barrier("go", 2))
        await b.signal_entry("go")
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await b.signal_entry("go")
        await asyncio.wait_for(waiting, 5)


async def test_barrier_timeout_withdraws_the_barrier(address: Address) -> None:
    async with scoped(address) as client:
        with pytest.raises(TimeoutError, match=r"barrier .never. did not reach 3 within 0\.05 s"):
            await client.barrier("never", 3, timeout=0.05)
        assert client.statistics()["pending_requests"] == 0
        assert await client.signal_entry("never") == 1  # the connection is still fine


async def test_twenty_clients_meet_at_a_barrier(address: Address) -> None:
    clients = [await scoped(address) for _ in range(20)]
    try:
        seqs = await asyncio.wait_for(
            asyncio.gather(*(c.signal_and_wait("all-in", 20) for c in clients)), 10
        )
        assert sorted(seqs) == list(range(1, 21))
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_subscribe_replays_history_then_follows(address: Address) -> None:
    async with scoped(address) as pub, scoped(address) as sub_client:
        assert [await pub.publish("t", {"n": n}) for n in range(3)] == [1, 2, 3]
        sub = await sub_client.subscribe("t")
        assert [await sub.get(timeout=5) for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
        await pub.publish("t", ["later", None, 1.5])
        assert await sub.get(timeout=5) == ["later", None, 1.5]
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.05)


async def test_cancel_ends_the_subscription(address: Address) -> None:
    async with scoped(address) as client:
        await client.publish("t", 1)
        sub = await client.subscribe("t")
        assert await anext(sub) == 1
        await sub.cancel()
        await sub.cancel()  # idempotent
        assert client.statistics()["active_subscriptions"] == 0
        with pytest.raises(SyncError, match="cancelled"):
            await sub.get()
        assert [item async for item in sub] == []  # a cancelled subscription iterates as empty
        await client.publish("t", 2)  # nothing arrives for the cancelled id, nothing breaks
        assert await client.signal_entry("still-fine") == 1


async def test_leaving_async_for_cancels(address: Address) -> None:
    async with scoped(address) as client:
        for n in range(5):
            await client.publish("t", n)
        sub = await client.subscribe("t")
        async for item in sub:
            if item == 2:
                break
        await asyncio.sleep(0.01)  # the loop closes the abandoned iterator on its next turns
        assert client.statistics()["active_subscriptions"] == 0
        async with await client.subscribe("t") as again:
            assert await again.get(timeout=5) == 0
        assert client.statistics()["active_subscriptions"] == 0


async def test_publish_and_wait_and_publish_subscribe(address: Address) -> None:
    async with scoped(address) as a, scoped(address) as b:
        waiting = asyncio.create_task(a.publish_and_wait("addrs", "a", "published", 1))
        assert await b.signal_entry("published") == 1
        assert await asyncio.wait_for(waiting, 5) == 1
        seq, sub = await b.publish_subscribe("addrs", "b")
        assert seq == 2 and isinstance(sub, Subscription)
        assert [await sub.get(timeout=5) for _ in range(2)] == ["a", "b"]


async def test_error_response_raises_sync_error_with_the_service_message(address: Address) -> None:
    async with scoped(address) as client:
        with pytest.raises(SyncError, match="target"):
            await client.barrier("s", -1)
        assert await client.signal_entry("s") == 1


async def test_unserialisable_payload_fails_the_call_not_the_client(address: Address) -> None:
    async with scoped(address) as client:
        with pytest.raises(TypeError):
            await client.publish("t", object())
        assert await client.publish("t", "ok") == 1


async def test_connection_loss_fails_pending_and_later_calls() -> None:
    service = SyncService()
    await service.start()
    client = await scoped(service.address)
    try:
        barrier = asyncio.create_task(client.barrier("never", 5))
        sub = await client.subscribe("t")
        await client.signal_entry("x")
        await service.stop()
        with pytest.raises(SyncError, match="lost the connection"):
            await asyncio.wait_for(barrier, 5)
        with pytest.raises(SyncError, match="lost the connection"):
            await sub.get(timeout=5)
        with pytest.raises(SyncError, match="lost the connection"):
            await client.publish("t", 1)
    finally:
        await client.close()


async def test_unreachable_service_raises_sync_error() -> None:
    with pytest.raises(SyncError, match=r"cannot connect to the sync service at 127\.0\.0\.1:1"):
        await SyncClient.connect("127.0.0.1", 1, timeout=2)  # retried until then, not 60 s


def sdk_tasks() -> list[asyncio.Task[object]]:
    """Tasks running SDK code (the service in the same loop has its own)."""
    coros = {t: t.get_coro() for t in asyncio.all_tasks()}
    return [
        t
        for t, coro in coros.items()
        if isinstance(coro, CoroutineType) and "choreograph/sdk/" in coro.cr_code.co_filename
    ]


async def test_close_leaves_no_tasks_and_ends_everything(address: Address) -> None:
    client = await scoped(address)
    sub = await client.subscribe("t")
    barrier = asyncio.create_task(client.barrier("never", 2))
    await client.signal_entry("x")
    stats = client.statistics()
    assert stats["active_subscriptions"] == 1 and stats["pending_requests"] == 1
    assert len(sdk_tasks()) == 4  # the barrier, the connection's runner, reader and writer
    await client.close()
    await client.close()  # idempotent
    with pytest.raises(SyncError, match="closed"):
        await barrier
    assert [item async for item in sub] == []  # closing ends subscriptions cleanly
    with pytest.raises(SyncError, match="closed"):
        await client.signal_entry("x")
    assert sdk_tasks() == []
    assert client.statistics()["closed"] == 1
