"""Host set-up time per instance for ``local:netns`` (prints figures only; root).

Opens and closes a :class:`~choreograph.net.host.RunNetwork` of N hosts, the way the
runner does (sweep, namespaces and control network, switch and TUNs, addresses and routes),
and prints each stage. Target: at most 5 ms of set-up per host at 200 hosts.

Run: ``sudo python bench/netns_setup_bench.py [--hosts 10 50 200] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from choreograph.net import host as host_module
from choreograph.net.host import RunNetwork
from choreograph.net.netns import HostNetwork
from choreograph.net.shaping.userspace import UserspaceBackend

STAGES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            STAGES[name].append(time.perf_counter() - started)

    return wrapper


HostNetwork.create = timed("namespaces + control network", HostNetwork.create)  # type: ignore[method-assign]
UserspaceBackend.start = timed("switch + TUNs", UserspaceBackend.start)  # type: ignore[method-assign]
HostNetwork.configure = timed("addresses + routes", HostNetwork.configure)  # type: ignore[method-assign]
host_module.cleanup.sweep = timed("sweep", host_module.cleanup.sweep)  # type: ignore[assignment]


async def one(hosts: int, run: int) -> tuple[float, float]:
    names = [f"h-{i}" for i in range(hosts)]
    network = RunNetwork(f"bench-setup-{os.getpid()}-{hosts}-{run}", names)
    started = time.perf_counter()
    await network.__aenter__()
    opened = time.perf_counter() - started
    started = time.perf_counter()
    await network.close()
    return opened, time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    for hosts in args.hosts:
        STAGES.clear()
        results = [await one(hosts, run) for run in range(args.repeat)]
        opened = statistics.median(r[0] for r in results)
        closed = statistics.median(r[1] for r in results)
        stages = ", ".join(f"{k} {statistics.median(v) * 1e3:.0f} ms" for k, v in STAGES.items())
        print(
            f"{hosts:>4} hosts: set-up {opened:.3f} s = {opened / hosts * 1e3:.2f} ms/host "
            f"({stages}); teardown {closed:.3f} s (median of {args.repeat})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
