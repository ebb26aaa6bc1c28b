"""The sync service's memory under large publishes: its history budget holds (prints figures).

The service runs in its own process (``spawn``: a fresh interpreter) with the default history
budget; this process publishes ``--count`` payloads of ``--mb`` MB each over one websocket,
as an instance would, and reads the service's RSS (psutil) before, after every publish (the
highest is printed as the peak) and after ``stop()``. "after stop + malloc_trim" asks glibc
to hand back the free pages it keeps cached, which separates memory the service still holds
from memory the allocator has not yet returned.

Before the budget, 50 publishes of 4 MB took the service from 43 to 456 MiB (two copies of
each payload, never freed); with it, 200 such publishes stay near the budget (256 MiB) above
the baseline and are refused beyond it.

Run: ``python bench/sync_memory.py [--count 200] [--mb 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import json
import multiprocessing as mp
from multiprocessing.connection import Connection

import psutil
from websockets.asyncio.client import connect

from choreograph.sync_service import SyncService

MIB = 1024 * 1024


def _service_main(pipe: Connection) -> None:
    """The service process: report the address, stop on request, trim on request."""

    async def main() -> None:
        service = SyncService()
        pipe.send(await service.start())
        await asyncio.to_thread(pipe.recv)  # "stop"
        await service.stop()
        pipe.send(service.statistics())

    asyncio.run(main())
    pipe.recv()  # "trim"
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc_trim(0)
    pipe.send("trimmed")
    pipe.recv()  # "exit"


def _rss_mib(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / MIB


async def _publish_all(
    url: str, count: int, size: int, process: psutil.Process
) -> tuple[int, float]:
    """Publish ``count`` payloads of ``size`` characters; return (refused, peak RSS MiB)."""
    refused, peak = 0, _rss_mib(process)
    async with connect(url, max_size=None, compression=None) as ws:
        for i in range(count):
            payload = chr(ord("a") + i % 26) * size
            await ws.send(
                json.dumps({"id": str(i), "publish": {"topic": "blobs", "payload": payload}})
            )
            answer = json.loads(await ws.recv())
            if answer["error"]:
                refused += 1
                if refused == 1:
                    print(f"first refusal (publish {i + 1}): {answer['error']}")
            peak = max(peak, _rss_mib(process))
    return refused, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="payloads to publish")
    parser.add_argument("--mb", type=float, default=4.0, help="size of each payload, in MB")
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)

    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=_service_main, args=(child,))
    proc.start()
    try:
        host, port = parent.recv()
        service = psutil.Process(proc.pid)
        before = _rss_mib(service)
        refused, peak = asyncio.run(_publish_all(f"ws://{host}:{port}", args.count, size, service))
        after_publishing = _rss_mib(service)
        parent.send("stop")
        stats = parent.recv()
        after_stop = _rss_mib(service)
        parent.send("trim")
        parent.recv()
        after_trim = _rss_mib(service)
        parent.send("exit")
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()

    budget = stats["history_budget_bytes"] / MIB
    print(
        f"published {args.count} x {args.mb:g} MB: {args.count - refused} stored, {refused} refused"
    )
    print(f"history budget                    {budget:8.1f} MiB")
    print(f"service RSS before                {before:8.1f} MiB")
    print(f"service RSS peak while publishing {peak:8.1f} MiB  (+{peak - before:.1f} MiB)")
    print(f"service RSS after publishing      {after_publishing:8.1f} MiB")
    print(f"service RSS after stop            {after_stop:8.1f} MiB")
    print(f"service RSS after stop + trim     {after_trim:8.1f} MiB")
    print(f"service statistics after stop     {stats}")
    within = peak - before <= budget * 1.25
    print(f"peak growth within budget + 25 %  {'yes' if within else 'NO'}")


if __name__ == "__main__":
    main()
