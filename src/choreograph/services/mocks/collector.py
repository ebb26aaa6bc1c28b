"""The mock collector: an HTTP/1.1 server that answers like a collector in a chosen mode.

Run as a process of its own, like any ``[[services]]`` command (contained, logged and
stopped the same way)::

    python -m choreograph.services.mocks.collector --port 4318 --mode slow_fail \\
        --metrics services/sat/0/metrics.out

Any method and path is accepted, with keep-alive, ``Content-Length`` or chunked bodies and
gzip/deflate ``Content-Encoding``; ``POST /v1/traces`` bodies (OTLP/HTTP, JSON or
protobuf) also have their spans counted (see :mod:`.otlp`). Each request is dropped or
answered after a latency as :func:`.modes.decide` says. Counters go to the metrics file
every ``--flush`` seconds and at SIGTERM/SIGINT, after which the process exits 0.

No gRPC: OTLP/gRPC needs HTTP/2 framing, which the standard library lacks, and
Choreograph takes no dependency for a mock. asyncio streams rather than a web framework
for the same reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from choreograph.services.mocks import otlp
from choreograph.services.mocks.counters import Counters, append_records
from choreograph.services.mocks.modes import Behaviour, behaviour, decide

_MAX_BODY = 64 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class BadRequest(Exception):
    """The bytes on a connection are not HTTP/1.x this server understands."""


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on a connection; None at a clean end of the connection."""
    line = await reader.readline()
    if not line.strip():
        return None
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError:
        raise BadRequest(f"bad request line {line[:80]!r}") from None
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length", "0") or 0)
        if not 0 <= length <= _MAX_BODY:
            raise BadRequest(f"content-length {length}")
        body = await reader.readexactly(length)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, target.partition("?")[0], headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
        parts.append(await reader.readexactly(size))
        await reader.readline()
        if sum(map(len, parts)) > _MAX_BODY:
            raise BadRequest("chunked body too large")
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # trailers
    return b"".join(parts)


def response(status: int, request: Request, mode: str) -> bytes:
    """An OTLP-shaped answer: an empty export response, or a status message on error."""
    protobuf = request.headers.get("content-type", "").startswith(otlp.PROTOBUF)
    if protobuf:
        body, content_type = b"", otlp.PROTOBUF
    elif status < 400:
        body, content_type = b"{}", "application/json"
    else:
        message = f'{{"code":{status},"message":"mock-collector mode {mode}"}}'
        body, content_type = message.encode(), "application/json"
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("" if request.keep_alive else "Connection: close\r\n")
        + "\r\n"
    )
    return head.encode("latin-1") + body


class Collector:
    """Answers requests as its :class:`Behaviour` says and counts them."""

    def __init__(self, behaviour: Behaviour, rng: random.Random) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.counters = Counters()
        self._connections: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while (request := await read_request(reader, writer)) is not None:
                if not await self._answer(request, writer):
                    break
        except (BadRequest, ValueError, asyncio.IncompleteReadError, ConnectionError):
            pass  # a client that breaks the protocol or hangs up loses its connection
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer (or drop) one request; whether the connection stays open."""
        start = time.perf_counter()
        counters = self.counters
        counters.requests += 1
        counters.bytes += len(request.body)
        if request.method == "POST" and request.path == otlp.TRACES_PATH:
            body = otlp.decoded(request.body, request.headers.get("content-encoding", ""))
            spans = None if body is None else otlp.count_spans(
                body, request.headers.get("content-type", "")
            )  # fmt: skip
            counters.spans += spans or 0
        answer = decide(self.behaviour, self.rng)
        if answer.drop:
            counters.dropped += 1
            return False
        await asyncio.sleep(answer.delay)
        writer.write(response(answer.status, request, self.behaviour.mode))
        await writer.drain()
        if answer.status >= 400:
            counters.failed += 1
        counters.latencies.append(time.perf_counter() - start)
        return request.keep_alive

    async def close_connections(self) -> None:
        """Cancel every open connection's handler and wait for each one to end."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT, writing counters every ``args.flush`` seconds and at the end."""
    collector = Collector(behaviour(_settings(args)), random.Random(args.seed))
    head = {"run": args.run, "group": args.group, "instance": args.instance}
    metrics = Path(args.metrics) if args.metrics else None
    if metrics is not None:
        metrics.parent.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(collector.handle, args.host, args.port)
    b = collector.behaviour
    print(
        f"mock-collector {args.instance or ''} listening on {args.host}:{args.port}: mode "
        f"{b.mode}, status {b.status}, latency {b.latency}, error_rate {b.error_rate}, "
        f"drop_rate {b.drop_rate}",
        flush=True,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            flusher = tg.create_task(_flush_every(args.flush, collector, head, metrics))
            await stop.wait()
            flusher.cancel()
    finally:
        server.close()
        await collector.close_connections()
        await server.wait_closed()
        if metrics is not None:
            append_records(metrics, collector.counters.records(head, final=True))


async def _flush_every(
    interval: float, collector: Collector, head: dict[str, str], metrics: Path | None
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
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
