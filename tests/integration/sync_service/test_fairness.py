"""A client's round trips stay short while another client loads the service heavily.

The load comes from another process, as it would from another instance: a subscription
replaying a 10 MB history, a 15 MB frame of empty lists (over the frame limit, and costly to
decode), and a flood of
malformed requests. A well-behaved client keeps pinging meanwhile (signal_entry round trips)
from the service's own event loop, so any stretch during which the service's loop does not
turn shows in its round trips. No absolute timing: the bound is set by a control measured
just before, in the same test, with a floor for hosts where the control is very quick.
"""

from __future__ import annotations

import asyncio
import sys
import time

from websockets.asyncio.client import connect

from choreograph.sync_service import SyncService

from ...timing import measure

HISTORY = 1000
ENTRY_CHARS = 10_000
FLOOD = 5_000

LOAD = r"""
import sys
from websockets.sync.client import connect

url = sys.argv[1]
history, flood = int(sys.argv[2]), int(sys.argv[3])
big = '{"id":"big","publish":{"topic":"t","payload":[[]' + ",[]" * 4_900_000 + "]}}"
with connect(url, max_size=None) as replay, connect(url) as heavy, connect(url) as flooder:
    print("go", flush=True)
    replay.send('{"id":"r","subscribe":{"topic":"history"}}')
    for _ in range(history):
        replay.recv()
    heavy.send(big)
    assert "exceeds" in heavy.recv()
    for i in range(flood):
        flooder.send('{"id":"%d","barrier":{"state":"s","target":"x"}}' % i)
    for _ in range(flood):
        flooder.recv()
"""

CONTROL_PINGS = 1000
FLOOR_S = 0.25
"""Below this the bound is not checked tighter: a busy 2-core host can preempt any process for
some tens of milliseconds. Before the fix, decoding the 15 MB frame just to find its id stalled
every client for over a second (1.3 s here); after it the slowest round trip is 15-40 ms."""
FACTOR = 20


class Pinger:
    """Round trips of one well-behaved client, each with its start and end times."""

    def __init__(self) -> None:
        self.trips: list[tuple[float, float]] = []

    async def run(self, url: str, stop: asyncio.Event) -> None:
        async with connect(url) as ws:
            n = 0
            while not stop.is_set():
                n += 1
                started = time.perf_counter()
                await ws.send(f'{{"id":"{n}","signal_entry":{{"state":"ping"}}}}')
                await ws.recv()
                # No pause between round trips: a stall of the loop at any moment lands
                # in one of them (a pause would hide the stalls that fall within it).
                self.trips.append((started, time.perf_counter()))

    def between(self, start: float, end: float) -> list[float]:
        """Round trips that overlapped [start, end]."""
        return sorted(b - a for a, b in self.trips if b >= start and a <= end)


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(0.99 * len(values)))]


async def _control_and_load() -> tuple[float, float, int]:
    """(control p99, slowest round trip under load, round trips under load)."""
    async with SyncService() as service:
        for _ in range(HISTORY):
            await service.publish("history", "h" * ENTRY_CHARS)
        host, port = service.address
        url = f"ws://{host}:{port}"
        pinger, stop = Pinger(), asyncio.Event()
        pinging = asyncio.create_task(pinger.run(url, stop))
        try:
            async with asyncio.timeout(60):
                while len(pinger.trips) < CONTROL_PINGS:
                    await asyncio.sleep(0.01)
                control = pinger.between(0, time.perf_counter())
                load = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    LOAD,
                    url,
                    str(HISTORY),
                    str(FLOOD),
                    stdout=asyncio.subprocess.PIPE,
                )
                assert load.stdout is not None
                assert await load.stdout.readline() == b"go\n"
                load_started = time.perf_counter()
                assert await load.wait() == 0
                loaded = pinger.between(load_started, time.perf_counter())
        finally:
            stop.set()
            await pinging
        return _p99(control), loaded[-1], len(loaded)


def _bound(control_p99: float) -> float:
    return max(FACTOR * control_p99, FLOOR_S)


def test_a_heavy_client_does_not_stall_the_others():
    measured = measure(
        lambda: asyncio.run(_control_and_load()),
        lambda m: m[1] < _bound(m[0]),
    )
    control_p99, slowest, trips = measured.value
    assert trips > 0, measured
    assert slowest < _bound(control_p99), (
        f"slowest round trip under load {slowest * 1000:.0f} ms, control p99"
        f" {control_p99 * 1000:.2f} ms (bound {_bound(control_p99) * 1000:.0f} ms); {measured}"
    )
