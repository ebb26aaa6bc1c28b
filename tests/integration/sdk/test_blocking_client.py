"""BlockingSyncClient against a real sync service. Each scenario is plain blocking code run in
a worker thread (``asyncio.to_thread``), while the service runs on the test's event loop."""

import asyncio
import io
import json
import threading
from collections.abc import Callable

import pytest

from choreograph.errors import SyncError
from choreograph.sdk import BlockingSubscription, BlockingSyncClient, RunEnv
from choreograph.sync_service import SyncService
from choreograph.wire.events import parse_event
from choreograph.wire.topics import run_events_key

SCOPE = ("run-1", "plan", "case")
Address = tuple[str, int]


def connect(address: Address) -> BlockingSyncClient:
    return BlockingSyncClient.connect(*address, scope=SCOPE)


def sdk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "choreograph-sync"]


async def in_thread(scenario: Callable[[], None]) -> None:
    await asyncio.wait_for(asyncio.to_thread(scenario), 20)


async def test_every_call(address: Address) -> None:
    def scenario() -> None:
        with connect(address) as a, connect(address) as b:
            assert a.signal_entry("s") == 1 and b.signal_entry("s") == 2
            a.barrier("s", 2, timeout=5)
            assert b.signal_and_wait("s", 3) == 3
            assert a.publish("t", {"n": 1}) == 1
            seq, sub = b.publish_subscribe("t", {"n": 2})
            assert seq == 2 and isinstance(sub, BlockingSubscription)
            assert [sub.get(timeout=5), next(sub)] == [{"n": 1}, {"n": 2}]
            assert a.publish_and_wait("t", {"n": 3}, "s", 3, timeout=5) == 3
            assert sub.get(timeout=5) == {"n": 3}
            stats = a.statistics()
            assert stats["pending_requests"] == 0 and stats["closed"] == 0

    await in_thread(scenario)
    assert sdk_threads() == []


async def test_threads_meet_at_a_barrier(address: Address) -> None:
    seqs: list[int] = []

    def instance() -> None:
        with connect(address) as client:
            seqs.append(client.signal_and_wait("all-in", 10, timeout=10))

    def scenario() -> None:
        threads = [threading.Thread(target=instance) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    await in_thread(scenario)
    assert sorted(seqs) == list(range(1, 11))


async def test_subscription_get_iterate_and_cancel(address: Address) -> None:
    def scenario() -> None:
        with connect(address) as client:
            for n in range(4):
                client.publish("t", n)
            sub = client.subscribe("t")
            assert [sub.get(timeout=5) for _ in range(2)] == [0, 1]
            for item in sub:  # leaving the loop cancels the subscription
                if item == 3:
                    break
            assert client.statistics()["active_subscriptions"] == 0
            with pytest.raises(SyncError, match="cancelled"):
                sub.get(timeout=1)
            assert list(sub) == []
            with client.subscribe("t") as again, pytest.raises(TimeoutError):
                for _ in range(5):
                    again.get(timeout=0.2)
            assert client.statistics()["active_subscriptions"] == 0
            sub.close()  # idempotent

    await in_thread(scenario)


async def test_error_response_and_use_after_close(address: Address) -> None:
    def scenario() -> None:
        client = connect(address)
        with pytest.raises(SyncError, match="target"):
            client.barrier("s", -1)
        with pytest.raises(TimeoutError, match="did not reach"):
            client.barrier("s", 1, timeout=0.05)
        sub = client.subscribe("t")
        client.close()
        client.close()
        with pytest.raises(SyncError, match="closed"):
            client.signal_entry("s")
        sub.close()  # a no-op once the client is closed

    await in_thread(scenario)
    assert sdk_threads() == []


async def test_connection_loss_fails_a_blocked_call() -> None:
    service = SyncService()
    await service.start()
    started = threading.Event()
    failures: list[str] = []

    def scenario() -> None:
        with connect(service.address) as client:
            client.signal_entry("ready")
            started.set()
            try:
                client.barrier("never", 2)
            except SyncError as exc:
                failures.append(str(exc))

    task = asyncio.create_task(in_thread(scenario))
    try:
        await asyncio.to_thread(started.wait, 5)
        await asyncio.sleep(0.05)
    finally:
        await service.stop()
    await task
    assert len(failures) == 1 and "lost the connection" in failures[0]
    assert sdk_threads() == []


async def test_unreachable_service_leaves_no_thread() -> None:
    def scenario() -> None:
        with pytest.raises(SyncError, match="cannot connect"):
            BlockingSyncClient.connect("127.0.0.1", 1, timeout=0.5)

    await in_thread(scenario)
    assert sdk_threads() == []


async def test_events_recorded_from_threads_are_all_published_in_order(
    address: Address, runenv: RunEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)

    def scenario() -> None:
        with BlockingSyncClient.connect(runenv) as client:
            runenv.attach(client)

            def spam() -> None:
                for i in range(50):
                    runenv.record_message(f"m{i}")

            threads = [threading.Thread(target=spam) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            runenv.record_success()
        # close() returned: every event is on the topic
        with BlockingSyncClient.connect(*address) as reader:
            sub = reader.subscribe(run_events_key(*SCOPE))
            events = [parse_event(sub.get(timeout=5)) for _ in range(201)]
        assert [e.seq for e in events if e] == list(range(1, 202))
        assert events[-1] is not None and events[-1].kind == "success"
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [line["seq"] for line in lines] == list(range(1, 202))

    await in_thread(scenario)
