"""The mock collector over HTTP/1.1 (``--protocol http``, the default): OTLP/HTTP and any
other request, answered as :func:`.modes.decide` says.

Any method and path is accepted, with keep-alive, ``Content-Length`` or chunked bodies and
gzip/deflate ``Content-Encoding``; ``POST /v1/traces`` bodies (OTLP/HTTP, JSON or
protobuf) also have their spans counted (see :mod:`.otlp`). A dropped request has its
connection closed at once, without an answer. asyncio streams rather than a web framework:
Choreograph takes no dependency for a mock that speaks this little HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from http import HTTPStatus

from choreograph.services.mocks import otlp
from choreograph.services.mocks.counters import Counters
from choreograph.services.mocks.modes import Behaviour, decide


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
        if not 0 <= length <= otlp.MAX_EXPORT:
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
        if sum(map(len, parts)) > otlp.MAX_EXPORT:
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


class HttpCollector:
    """Answers requests as its :class:`Behaviour` says and counts them."""

    def __init__(self, behaviour: Behaviour, rng: random.Random) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.counters = Counters()
        self._connections: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self.handle, host, port)

    async def stop(self) -> None:
        """Stop listening, end every open connection, and wait for the server to close."""
        if self._server is None:
            return
        self._server.close()
        await self.close_connections()
        await self._server.wait_closed()

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
