"""1,000 instances on one sync service: signal, barrier, publish, subscribe (prints figures only).

Each simulated instance is one websocket and does what a Testground plan's set-up does:
signal_entry on "joined", wait on the barrier "joined" for all N, subscribe to one shared
topic, publish one message on it, then read until it has seen all N messages. The service runs
in its own fresh process (``spawn``); its peak RSS is read from ``/proc/<pid>/status`` (VmHWM).

Order check: each publish answer gives that message's seq, so the topic's order is known;
every subscriber must have received exactly that sequence, all N messages in seq order.

Run: ``python bench/sync_scale_bench.py [--instances 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import time
from multiprocessing.connection import Connection
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from choreograph.sync_service import SyncService


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def _service_main(pipe: Connection, instances: int) -> None:
    _raise_nofile(instances + 256)

    async def main() -> None:
        async with SyncService() as service:
            pipe.send(service.address)
            await asyncio.to_thread(pipe.recv)
        pipe.send(service.statistics())  # after stop(): every connection has been torn down

    asyncio.run(main())


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


class _Gate:
    """Holds every instance until all n have connected, so the protocol work starts together."""

    def __init__(self, n: int) -> None:
        self.missing = n
        self.open = asyncio.Event()

    async def arrive(self) -> None:
        self.missing -= 1
        if self.missing == 0:
            self.open.set()
        await self.open.wait()


async def _instance(
    url: str, index: int, n: int, gate: _Gate
) -> tuple[int, list[int], dict[str, float]]:
    """One instance; returns (its message's seq, the publishers it saw in order, timings)."""
    marks: dict[str, float] = {}
    ws: ClientConnection = await connect(url, compression=None, ping_interval=None)
    await gate.arrive()
    try:
        t0 = time.perf_counter()
        await ws.send('{"id":"s","signal_entry":{"state":"joined"}}')
        assert json.loads(await ws.recv())["error"] == ""
        await ws.send(f'{{"id":"b","barrier":{{"state":"joined","target":{n}}}}}')
        answer = json.loads(await ws.recv())
        assert answer["id"] == "b" and answer["error"] == "", answer
        marks["barrier"] = time.perf_counter() - t0
        await ws.send('{"id":"sub","subscribe":{"topic":"all"}}')
        await ws.send(f'{{"id":"pub","publish":{{"topic":"all","payload":{{"from":{index}}}}}}}')
        seq = -1
        seen: list[int] = []
        while len(seen) < n or seq < 0:
            frame = json.loads(await ws.recv())
            if frame["id"] == "pub":
                seq = frame["publish"]["seq"]
            else:
                seen.append(json.loads(frame["subscribe"])["from"])
        marks["all messages"] = time.perf_counter() - t0
        return seq, seen, marks
    finally:
        await ws.close()


async def _run(address: tuple[str, int], pid: int, n: int) -> None:
    url = f"ws://{address[0]}:{address[1]}"
    gate = _Gate(n)
    rss_before = _rss_kib(pid, "VmRSS")
    start = time.perf_counter()
    tasks = [asyncio.create_task(_instance(url, i, n, gate)) for i in range(n)]
    await gate.open.wait()
    connected = time.perf_counter()
    results = await asyncio.gather(*tasks)
    finished = time.perf_counter()

    expected = [0] * n
    for index, (seq, _, _) in enumerate(results):
        expected[seq - 1] = index
    ok = sum(1 for _, seen, _ in results if seen == expected)
    complete = sum(1 for _, seen, _ in results if sorted(seen) == list(range(n)))
    barrier = sorted(m["barrier"] for _, _, m in results)
    everything = sorted(m["all messages"] for _, _, m in results)

    print(f"instances                         {n}")
    print(f"connect all                       {connected - start:8.2f} s")
    print(f"signal+barrier (slowest instance) {barrier[-1]:8.2f} s")
    print(f"all {n} messages (slowest)        {everything[-1]:8.2f} s")
    print(f"wall time                         {finished - start:8.2f} s")
    print(f"subscription frames delivered     {sum(len(s) for _, s, _ in results):8d}")
    print(
        f"service RSS before / peak         {rss_before / 1024:8.1f} / "
        f"{_rss_kib(pid, 'VmHWM') / 1024:.1f} MiB"
    )
    print(f"subscribers in order (ok)         {ok:8d}")
    print(
        f"subscribers out of order          {n - ok:8d}  (complete but reordered: "
        f"{complete - ok}, incomplete: {n - complete})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    args = parser.parse_args()
    _raise_nofile(args.instances + 256)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    service = ctx.Process(target=_service_main, args=(child, args.instances), daemon=True)
    service.start()
    try:
        address = parent.recv()
        asyncio.run(_run(address, service.pid or 0, args.instances))
        parent.send("stop")
        print("service statistics:", parent.recv())
    finally:
        service.join(10)
        if service.is_alive():
            service.terminate()


if __name__ == "__main__":
    main()
