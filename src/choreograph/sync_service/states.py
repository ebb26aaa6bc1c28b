"""States: named counters that instances signal, and the barriers waiting on them.

Waiters are filed under their target. The counter only ever grows by one, so each signal
looks up exactly one bucket (``waiters[new count]``) and releases it: a signal costs O(1) plus
the waiters it releases, however many barriers wait on other targets. A thousand instances
waiting on one state are released by the one signal that reaches their target.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from choreograph.errors import SyncError


class Barrier:
    """A barrier answered by a callback, for the service's connections: when a signal
    releases a thousand of them, one scheduled call runs every callback, where a future per
    barrier costs two scheduled callbacks each (its done callback and its bucket's).

    ``callback(None)`` on release, ``callback(error)`` when the service stops first; never
    after :meth:`cancel`, which also takes it out of its bucket at once.
    """

    __slots__ = ("_bucket", "_state", "_target", "callback", "pending")

    def __init__(
        self, state: State, target: int, callback: Callable[[SyncError | None], None]
    ) -> None:
        self._state, self._target = state, target
        self.callback = callback
        self.pending = True
        self._bucket: list[Waiter] | None = None

    def done(self) -> bool:
        return not self.pending

    def cancel(self) -> None:
        if not self.pending:
            return
        self.pending = False
        if self._bucket is not None:
            self._state._remove(self._target, self._bucket, self)


Waiter = asyncio.Future[None] | Barrier


def _call_all(calls: list[Callable[[SyncError | None], None]], error: SyncError | None) -> None:
    for call in calls:
        call(error)


class State:
    """One counter and the barriers waiting for it to reach their targets."""

    __slots__ = ("_closed", "_waiters", "count", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self._waiters: dict[int, list[Waiter]] = {}
        self._closed = False

    def signal_entry(self) -> int:
        """Increment the counter, release the barriers it reaches, return the new count."""
        self.count += 1
        waiters = self._waiters.pop(self.count, None)
        if waiters:
            self._release(waiters, None)
        return self.count

    @staticmethod
    def _release(waiters: list[Waiter], error: SyncError | None) -> None:
        calls = []
        for waiter in waiters:
            if isinstance(waiter, Barrier):
                if waiter.pending:
                    waiter.pending = False
                    calls.append(waiter.callback)
            elif not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        if calls:
            asyncio.get_running_loop().call_soon(_call_all, calls, error)

    def barrier(self, target: int, callback: Callable[[SyncError | None], None]) -> Barrier | None:
        """A :class:`Barrier` calling ``callback`` when the counter reaches ``target`` (None:
        it already has; nothing is called)."""
        if self.count >= target:
            return None
        barrier = Barrier(self, target, callback)
        if self._closed:
            barrier.pending = False
            asyncio.get_running_loop().call_soon(callback, self._stopped())
            return barrier
        barrier._bucket = bucket = self._waiters.setdefault(target, [])
        bucket.append(barrier)
        return barrier

    def waiter(self, target: int) -> asyncio.Future[None] | None:
        """A future done when the counter reaches ``target`` (None: it already has); it
        fails with :class:`SyncError` if the service stops first. Cancelling it withdraws
        it. What :meth:`wait` awaits; the service's connections use :meth:`barrier`.
        """
        if self.count >= target:
            return None
        waiter = asyncio.get_running_loop().create_future()
        if self._closed:
            waiter.set_exception(self._stopped())
            return waiter
        bucket = self._waiters.setdefault(target, [])
        bucket.append(waiter)
        waiter.add_done_callback(lambda done: self._withdraw(target, bucket, done))
        return waiter

    def _withdraw(self, target: int, bucket: list[Waiter], waiter: asyncio.Future[None]) -> None:
        if waiter.cancelled():
            self._remove(target, bucket, waiter)

    def _remove(self, target: int, bucket: list[Waiter], waiter: Waiter) -> None:
        with contextlib.suppress(ValueError):
            bucket.remove(waiter)
        if not bucket and self._waiters.get(target) is bucket:
            del self._waiters[target]

    async def wait(self, target: int) -> None:
        """Return once the counter is at least ``target`` (at once when it already is).

        Raises :class:`SyncError` when the service stops first; a cancelled wait leaves
        nothing behind (it may never be reached).
        """
        waiter = self.waiter(target)
        if waiter is not None:
            await waiter

    def _stopped(self) -> SyncError:
        return SyncError(f"sync service stopped: barrier on {self.name!r} can no longer be met")

    @property
    def waiting(self) -> int:
        return sum(waiting for _, waiting in self.targets())

    def targets(self) -> list[tuple[int, int]]:
        """``(target, barriers waiting for it)`` for every target someone waits on. A
        barrier cancelled a moment ago is not counted: its future is done at once, but
        leaves its bucket on the loop's next turn (a done callback), and a peer that just
        left must not show as still waiting."""
        rows = []
        for target, bucket in self._waiters.items():
            waiting = sum(1 for waiter in bucket if not waiter.done())
            if waiting:
                rows.append((target, waiting))
        return rows

    def close(self) -> None:
        """Fail every waiting barrier: once the service stops, no signal can reach them."""
        self._closed = True
        buckets, self._waiters = self._waiters, {}
        for bucket in buckets.values():
            self._release(bucket, self._stopped())


class States:
    """Every state of the service by name, created by its first signal or barrier."""

    __slots__ = ("_closed", "_states")

    def __init__(self) -> None:
        self._states: dict[str, State] = {}
        self._closed = False

    def get(self, name: str) -> State:
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = State(name)
            if self._closed:
                state.close()
        return state

    def close(self) -> None:
        """Fail every waiting barrier and forget every state (the run is over)."""
        self._closed = True
        states, self._states = self._states, {}
        for state in states.values():
            state.close()

    def waits(self, limit: int) -> list[tuple[str, int, int, int]]:
        """``(state, count, target, waiting)`` for the ``limit`` most waited-on barrier
        targets: what a hung run is stuck on."""
        rows = [
            (state.name, state.count, target, waiting)
            for state in self._states.values()
            for target, waiting in state.targets()
        ]
        rows.sort(key=lambda row: (-row[3], row[0], row[2]))
        return rows[:limit]

    def statistics(self) -> dict[str, int]:
        return {
            "states": len(self._states),
            "waiting_barriers": sum(s.waiting for s in self._states.values()),
        }
