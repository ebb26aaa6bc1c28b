"""Sync service throughput and barrier latency over real websockets (prints figures only).

The service runs in its own process (``spawn``: a fresh interpreter) and the clients in this
one, so on a 2-core machine each side has a core and neither one's CPU time hides in the
other's figures. Every client is one websocket.

* Throughput: each client keeps ``window`` requests in flight (sends a new one each time an
  answer arrives) for ``--seconds``; ops/s counts answered requests over the wall time.
  Window 1 is a client that waits for each answer (latency-bound); a larger window pipelines
  like an SDK that issues many calls concurrently. "svc µs/op" is the service process's CPU
  time (user + system, from psutil) divided by the operations.
* Barrier release: N clients wait on one state with target N; a signaller sends N-1
  signal_entry, then the last one. Latency is measured from sending that last signal_entry to
  each waiter's answer arriving (so it includes one trip to the service; the signal's own
  round trip is printed beside it for reference).

Run: ``python bench/sync_bench.py [--seconds 3] [--window 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import resource
import statistics
import time
from multiprocessing.connection import Connection

import psutil
from websockets.asyncio.client import ClientConnection, connect

from choreograph.sync_service import SyncService


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def _service_main(pipe: Connection) -> None:
    """The service process: report the address, serve until the parent says stop."""
    _raise_nofile()

    async def main() -> None:
        async with SyncService() as service:
            pipe.send(service.address)
            await asyncio.to_thread(pipe.recv)
        pipe.send(service.statistics())  # after stop(): every connection has been torn down

    asyncio.run(main())


async def _open(address: tuple[str, int], n: int) -> list[ClientConnection]:
    url = f"ws://{address[0]}:{address[1]}"
    opened: list[ClientConnection] = []
    for start in range(0, n, 100):  # in batches: a thousand handshakes at once overflow SYN queues
        batch = min(100, n - start)
        opened += await asyncio.gather(
            *(connect(url, compression=None, ping_interval=None) for _ in range(batch))
        )
    return opened


def _request(op: str, client: int, n: int) -> str:
    if op == "signal_entry":
        return f'{{"id":"{n}","signal_entry":{{"state":"bench-{client % 10}"}}}}'
    return f'{{"id":"{n}","publish":{{"topic":"bench-pub","payload":{{"c":{client},"n":{n}}}}}}}'


async def _throughput(
    address: tuple[str, int],
    svc: psutil.Process,
    op: str,
    clients: int,
    window: int,
    seconds: float,
) -> dict[str, float]:
    conns = await _open(address, clients)
    errors = 0
    cpu0 = sum(svc.cpu_times()[:2])
    start = time.perf_counter()
    stop_at = start + seconds

    async def run(k: int, ws: ClientConnection) -> int:
        nonlocal errors
        sent = answered = 0
        for _ in range(window):
            await ws.send(_request(op, k, sent))
            sent += 1
        while answered < sent:
            answer = await ws.recv()
            answered += 1
            if '"error":""' not in answer:
                errors += 1
            if time.perf_counter() < stop_at:
                await ws.send(_request(op, k, sent))
                sent += 1
        return answered

    done = sum(await asyncio.gather(*(run(k, ws) for k, ws in enumerate(conns))))
    elapsed = time.perf_counter() - start
    cpu = sum(svc.cpu_times()[:2]) - cpu0
    await asyncio.gather(*(ws.close() for ws in conns))
    return {"ops": done, "ops_s": done / elapsed, "svc_us": cpu / done * 1e6, "errors": errors}


async def _barrier_round(
    address: tuple[str, int], waiters: int, tag: str
) -> tuple[list[float], float]:
    conns = await _open(address, waiters + 1)
    signaller, waiting = conns[0], conns[1:]
    state = f"go-{tag}"
    for ws in waiting:
        await ws.send(f'{{"id":"b","barrier":{{"state":"{state}","target":{waiters}}}}}')
        # Requests on one connection are handled in order: once this answers, the barrier waits.
        await ws.send(f'{{"id":"r","signal_entry":{{"state":"reg-{tag}"}}}}')
    for ws in waiting:
        assert '"id":"r"' in await ws.recv()
    for i in range(waiters - 1):
        await signaller.send(f'{{"id":"{i}","signal_entry":{{"state":"{state}"}}}}')
        await signaller.recv()

    released: list[float] = []

    async def wait(ws: ClientConnection) -> None:
        answer = await ws.recv()
        released.append(time.perf_counter())
        assert '"id":"b"' in answer and '"error":""' in answer, answer

    tasks = [asyncio.create_task(wait(ws)) for ws in waiting]
    await asyncio.sleep(0.05)  # every waiter is parked in recv()
    gc.collect()  # so that a collection of this client's 1,000 connections does not land here
    sent = time.perf_counter()
    await signaller.send(f'{{"id":"last","signal_entry":{{"state":"{state}"}}}}')
    await signaller.recv()
    signal_rtt = time.perf_counter() - sent
    await asyncio.gather(*tasks)
    await asyncio.gather(*(ws.close() for ws in conns))
    return [t - sent for t in released], signal_rtt


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _bench(address: tuple[str, int], pid: int, seconds: float, window: int) -> None:
    svc = psutil.Process(pid)
    me = mp.current_process().pid
    print(f"service pid {pid} at ws://{address[0]}:{address[1]}; clients in pid {me}")
    print()
    header = ("operation", "clients", "window", "ops", "ops/s", "svc µs/op", "errors")
    print("{:<13} {:>7} {:>6} {:>9} {:>9} {:>10} {:>6}".format(*header))
    await _throughput(address, svc, "signal_entry", 10, 4, 0.5)  # warm-up
    for op in ("signal_entry", "publish"):
        for clients in (1, 100):
            for win in (1, window):
                r = await _throughput(address, svc, op, clients, win, seconds)
                print(
                    f"{op:<13} {clients:>7} {win:>6} {r['ops']:>9.0f} {r['ops_s']:>9.0f} "
                    f"{r['svc_us']:>10.1f} {r['errors']:>6.0f}"
                )
    print()
    print("barrier release, from sending the last signal_entry to each waiter's answer (ms)")
    print(f"{'waiters':>7} {'rounds':>6} {'p50':>7} {'p99':>7} {'max':>7} {'signal rtt':>10}")
    for waiters, rounds in ((100, 5), (1000, 3)):
        samples: list[float] = []
        rtts: list[float] = []
        for r in range(rounds):
            latencies, rtt = await _barrier_round(address, waiters, f"{waiters}-{r}")
            samples += latencies
            rtts.append(rtt)
        ms = [s * 1000 for s in samples]
        print(
            f"{waiters:>7} {rounds:>6} {_pct(ms, 0.5):>7.2f} {_pct(ms, 0.99):>7.2f} "
            f"{max(ms):>7.2f} {statistics.median(rtts) * 1000:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="duration of each throughput row"
    )
    parser.add_argument("--window", type=int, default=16, help="requests in flight per client")
    args = parser.parse_args()
    _raise_nofile()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    service = ctx.Process(target=_service_main, args=(child,), daemon=True)
    service.start()
    try:
        address = parent.recv()
        asyncio.run(_bench(address, service.pid or 0, args.seconds, args.window))
        parent.send("stop")
        print()
        print("service statistics:", parent.recv())
    finally:
        service.join(10)
        if service.is_alive():
            service.terminate()


if __name__ == "__main__":
    main()
