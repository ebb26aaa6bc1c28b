"""States: counters, and barriers released when the counter reaches their target."""

from __future__ import annotations

import asyncio
import time

import pytest

from choreograph.errors import SyncError
from choreograph.sync_service.states import State, States


def test_signal_entry_returns_the_new_count():
    state = State("s")
    assert [state.signal_entry() for _ in range(3)] == [1, 2, 3]
    assert state.count == 3


async def test_wait_returns_at_once_for_zero_or_a_reached_target():
    state = State("s")
    await asyncio.wait_for(state.wait(0), 0.1)
    state.signal_entry()
    state.signal_entry()
    await asyncio.wait_for(state.wait(1), 0.1)
    await asyncio.wait_for(state.wait(2), 0.1)
    assert state.waiting == 0


async def test_each_barrier_is_released_by_the_signal_reaching_its_target():
    state = State("s")
    waits = [(target, asyncio.create_task(state.wait(target))) for target in (1, 2, 2, 3)]
    await asyncio.sleep(0)
    assert state.waiting == 4
    released = []
    for _ in range(3):
        state.signal_entry()
        await asyncio.sleep(0)
        released.append(sorted(t for t, task in waits if task.done()))
    assert released == [[1], [1, 2, 2], [1, 2, 2, 3]]
    assert state.waiting == 0


async def test_a_cancelled_barrier_leaves_nothing_behind():
    state = State("s")
    task = asyncio.create_task(state.wait(5))
    other = asyncio.create_task(state.wait(5))
    await asyncio.sleep(0)
    assert state.waiting == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state.waiting == 1
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    assert state.waiting == 0 and state._waiters == {}


async def test_close_fails_waiting_barriers_and_later_ones():
    state = State("s")
    task = asyncio.create_task(state.wait(3))
    await asyncio.sleep(0)
    state.close()
    with pytest.raises(SyncError, match="stopped"):
        await task
    with pytest.raises(SyncError):
        await state.wait(1)
    await state.wait(0)  # already met: no error


async def test_one_signal_releases_a_thousand_waiters_quickly():
    state = State("s")
    released_at: list[float] = []

    async def wait() -> None:
        await state.wait(1000)
        released_at.append(time.perf_counter())

    tasks = [asyncio.create_task(wait()) for _ in range(1000)]
    for _ in range(999):
        state.signal_entry()
    await asyncio.sleep(0)
    assert state.waiting == 1000 and not released_at
    start = time.perf_counter()
    state.signal_entry()
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert len(released_at) == 1000
    assert max(released_at) - start < 0.05


def test_registry_creates_each_state_once_and_counts():
    states = States()
    assert states.get("a") is states.get("a")
    states.get("a").signal_entry()
    states.get("b")
    assert states.statistics() == {"states": 2, "waiting_barriers": 0}


async def test_waits_names_the_barriers_most_waited_on():
    states = States()
    states.get("ready").signal_entry()
    waiters = [asyncio.ensure_future(states.get("ready").wait(3)) for _ in range(2)]
    waiters.append(asyncio.ensure_future(states.get("done").wait(1)))
    await asyncio.sleep(0)
    assert states.waits(5) == [("ready", 1, 3, 2), ("done", 0, 1, 1)]
    assert states.waits(1) == [("ready", 1, 3, 2)]
    states.get("ready").signal_entry()
    states.get("ready").signal_entry()
    await asyncio.sleep(0)
    assert states.waits(5) == [("done", 0, 1, 1)]
    waiters[2].cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert states.waits(5) == []


async def test_callback_barriers_are_released_together_on_the_next_turn():
    state = State("s")
    calls: list[tuple[str, SyncError | None]] = []
    assert state.barrier(0, lambda e: calls.append(("never", e))) is None  # reached already
    barriers = [state.barrier(2, lambda e, i=i: calls.append((f"b{i}", e))) for i in range(3)]
    later = state.barrier(3, lambda e: calls.append(("later", e)))
    assert state.waiting == 4 and state.targets() == [(2, 3), (3, 1)]
    state.signal_entry()
    state.signal_entry()  # reaches 2: the three are released, answered on the next turn
    assert calls == [] and all(b is not None and b.done() for b in barriers)
    await asyncio.sleep(0)
    assert calls == [("b0", None), ("b1", None), ("b2", None)]
    assert state.waiting == 1 and later is not None and not later.done()


async def test_a_cancelled_callback_barrier_is_never_called_and_leaves_nothing():
    state = State("s")
    calls: list[SyncError | None] = []
    barrier = state.barrier(1, calls.append)
    other = state.barrier(1, calls.append)
    assert barrier is not None and other is not None
    barrier.cancel()
    assert state.targets() == [(1, 1)]
    other.cancel()
    assert state.targets() == [] and state._waiters == {}
    state.signal_entry()
    await asyncio.sleep(0)
    assert calls == []


async def test_close_fails_callback_barriers_waiting_and_later():
    state = State("s")
    calls: list[SyncError | None] = []
    state.barrier(5, calls.append)
    state.close()
    state.barrier(6, calls.append)
    await asyncio.sleep(0)
    assert len(calls) == 2 and all(isinstance(e, SyncError) for e in calls)
