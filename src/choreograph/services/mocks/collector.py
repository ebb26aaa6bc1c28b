"""The mock collector process: a server that answers like a collector in a chosen mode.

Run as a process of its own, like any ``[[services]]`` command (contained, logged and
stopped the same way)::

    python -m choreograph.services.mocks.collector --port 4318 --mode slow_fail \\
        [--protocol grpc] --metrics services/sat/0/metrics.out

``--protocol`` picks the server: ``http`` (the default, :mod:`.http_collector`: OTLP/HTTP
and any other HTTP/1.1 request) or ``grpc`` (:mod:`.grpc_collector`: OTLP/gRPC, with the
``grpc`` extra). Either drops or answers each request as :func:`.modes.decide` says and
keeps the same :class:`.counters.Counters`; this module owns what they share: the
options, the counters going to the metrics file every ``--flush`` seconds and at
SIGTERM/SIGINT, after which the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
from pathlib import Path
from typing import Any, Protocol

from choreograph.services.mocks import PROTOCOLS, grpc_problem
from choreograph.services.mocks.counters import Counters, append_records
from choreograph.services.mocks.http_collector import HttpCollector
from choreograph.services.mocks.modes import Behaviour, behaviour


class Server(Protocol):
    """What the process needs of a collector, whatever protocol it speaks."""

    behaviour: Behaviour
    counters: Counters

    async def start(self, host: str, port: int) -> None: ...

    async def stop(self) -> None: ...


def server_for(args: argparse.Namespace) -> Server:
    """The collector ``args`` ask for (gRPC's is imported only then: it needs the extra)."""
    chosen, rng = behaviour(_settings(args)), random.Random(args.seed)
    if args.protocol == "grpc":
        from choreograph.services.mocks.grpc_collector import GrpcCollector

        return GrpcCollector(chosen, rng)
    return HttpCollector(chosen, rng)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT, writing counters every ``args.flush`` seconds and at the end."""
    collector = server_for(args)
    head = {"run": args.run, "group": args.group, "instance": args.instance}
    metrics = Path(args.metrics) if args.metrics else None
    if metrics is not None:
        metrics.parent.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await collector.start(args.host, args.port)
    b = collector.behaviour
    print(
        f"mock-collector {args.instance or ''} listening on {args.host}:{args.port}: mode "
        f"{b.mode}, status {b.status}, latency {b.latency}, error_rate {b.error_rate}, "
        f"drop_rate {b.drop_rate}, protocol {args.protocol}",
        flush=True,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            flusher = tg.create_task(_flush_every(args.flush, collector, head, metrics))
            await stop.wait()
            flusher.cancel()
    finally:
        await collector.stop()
        if metrics is not None:
            append_records(metrics, collector.counters.records(head, final=True))


async def _flush_every(
    interval: float, collector: Server, head: dict[str, str], metrics: Path | None
) -> None:
    while True:
        await asyncio.sleep(interval)
        if metrics is not None:
            append_records(metrics, collector.counters.records(head))


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {"mode": args.mode, "error_rate": args.error_rate,
                                "drop_rate": args.drop_rate}  # fmt: skip
    latency = {
        key: value
        for key in ("distribution", "mean", "stddev", "min", "max")
        if (value := getattr(args, f"latency_{key}")) is not None
    }
    if latency:
        settings["latency"] = latency
    return settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m choreograph.services.mocks.collector")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--protocol", default="http", choices=PROTOCOLS,
                   help="http: OTLP/HTTP (HTTP/1.1); grpc: OTLP/gRPC")  # fmt: skip
    p.add_argument("--mode", default="typical", help="typical, slow_succeed or slow_fail")
    p.add_argument("--latency-distribution", help="constant, uniform, normal or exponential")
    for key in ("mean", "stddev", "min", "max"):
        p.add_argument(f"--latency-{key}", type=float, help="seconds")
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--drop-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--metrics", default="", help="file the counters are appended to")
    p.add_argument("--flush", type=float, default=1.0, help="seconds between metric writes")
    p.add_argument("--run", default="")
    p.add_argument("--group", default="")
    p.add_argument("--instance", default="")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        behaviour(_settings(args))
    except (ValueError, TypeError) as exc:
        print(f"mock-collector: {exc}", file=sys.stderr)
        return 2
    if args.protocol == "grpc" and (problem := grpc_problem()):
        print(f"mock-collector: {problem}", file=sys.stderr)
        return 2
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
