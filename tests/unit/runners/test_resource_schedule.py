"""The sampler's schedule: due times on a fixed grid, and its thread's ties to the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from choreograph.runners.resource_schedule import Ask, Deadlines, run_in_thread


def test_a_late_tick_does_not_move_the_next_ones() -> None:
    ticks = Deadlines(step=1.0, start=10.0, catch_up=1.0)
    served = []
    now = 10.0
    for _ in range(6):
        _, due = ticks.next(now)
        now = max(now, due) + 0.3  # each tick is served on time and takes 0.3 s
        served.append(due)
    assert served == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert ticks.next(16.9) == (6, 16.0)  # 0.9 s late: served at once, not skipped
    assert ticks.next(17.0) == (7, 17.0)
    assert ticks.missed == 0


def test_ticks_more_than_catch_up_behind_are_skipped_and_counted() -> None:
    ticks = Deadlines(step=0.25, start=0.0, catch_up=1.0)
    assert ticks.next(0.0) == (0, 0.0)
    n, due = ticks.next(2.1)  # tick 1 was due at 0.25: 1.85 s behind
    assert (n, due) == (8, 2.0) and ticks.missed == 7
    assert ticks.next(2.1) == (9, 2.25)  # back on the grid


async def test_the_thread_asks_the_loop_and_gets_its_answer() -> None:
    loop_thread = threading.get_ident()
    seen: list[object] = []

    def supply() -> int:
        seen.append(threading.get_ident())
        return 42

    def work(ask: Ask[int], stop: threading.Event) -> None:
        answer = ask()
        assert isinstance(answer, Future)
        seen.append(answer.result(timeout=5))

    await run_in_thread("test-worker", work, supply)
    assert seen == [loop_thread, 42]


async def test_its_error_is_raised_and_cancelling_stops_it() -> None:
    def fail(ask: Ask[int], stop: threading.Event) -> None:
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        await run_in_thread("test-worker", fail, lambda: 0)

    ended = threading.Event()

    def wait(ask: Ask[int], stop: threading.Event) -> None:
        stop.wait(30)
        ended.set()

    task = asyncio.create_task(run_in_thread("test-worker", wait, lambda: 0))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set()  # the task ended only once its thread had
