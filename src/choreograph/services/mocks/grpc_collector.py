"""The mock collector over OTLP/gRPC (``--protocol grpc``): ``TraceService/Export`` answered
as :func:`.modes.decide` says, like the HTTP collector answers ``POST /v1/traces``.

Served by ``grpc.aio`` with the stubs ``opentelemetry-proto`` ships; both come with the
``grpc`` extra (``pip install 'choreograph[grpc]'``), which is why this module is imported
only when a collector is asked for gRPC. Per call, after the same counting as over HTTP
(``requests``; ``bytes``, the serialized request, after any gRPC compression is undone;
``spans``):

- dropped: never answered. HTTP/2 carries a channel's calls on one connection, so closing
  it (what the HTTP collector does) would fail calls that were not dropped; the call is
  held instead until the client's deadline passes or it cancels, or the collector stops.
- otherwise answered after the latency: OK with an empty ``ExportTraceServiceResponse``,
  or the mode's HTTP status as gRPC's HTTP-to-gRPC mapping has it (:func:`grpc_code`):
  ``slow_fail``'s 503 is UNAVAILABLE, which OTLP exporters retry, and ``error_rate``'s 500
  is UNKNOWN, which they do not retry, as OTLP/HTTP exporters do not retry a 500.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from choreograph.services.mocks import otlp
from choreograph.services.mocks.counters import Counters
from choreograph.services.mocks.modes import Behaviour, decide

# https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INTERNAL,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code(status: int) -> grpc.StatusCode:
    """The gRPC status a call gets where an HTTP request would get ``status``."""
    if status < 400:
        return grpc.StatusCode.OK
    return _HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN)


class GrpcCollector:
    """Answers ``Export`` calls as its :class:`Behaviour` says and counts them."""

    def __init__(self, behaviour: Behaviour, rng: random.Random) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.counters = Counters()
        self._server: grpc.aio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        # As large an export as the HTTP collector takes (gRPC's default is 4 MiB).
        options = [("grpc.max_receive_message_length", otlp.MAX_EXPORT)]
        server = grpc.aio.server(options=options)
        # The stubs are generated untyped; they take any object with an async ``Export``.
        add_servicer = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
        add_servicer(self, server)  # type: ignore[no-untyped-call]
        if server.add_insecure_port(f"{host}:{port}") == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop at once: calls still waiting (their latency, or dropped) are cancelled."""
        if self._server is not None:
            await self._server.stop(None)

    async def Export(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        """One ``TraceService/Export`` call (the stubs call it by the RPC's name): counted,
        then dropped or answered."""
        start = time.perf_counter()
        counters = self.counters
        counters.requests += 1
        counters.bytes += request.ByteSize()
        counters.spans += otlp.spans_in(request)
        answer = decide(self.behaviour, self.rng)
        if answer.drop:
            counters.dropped += 1
            await asyncio.Event().wait()  # cancelled by gRPC at the deadline or cancel
        await asyncio.sleep(answer.delay)
        code = grpc_code(answer.status)
        if code != grpc.StatusCode.OK:
            counters.failed += 1
            context.set_code(code)
            context.set_details(f"mock-collector mode {self.behaviour.mode}")
        counters.latencies.append(time.perf_counter() - start)
        return trace_service_pb2.ExportTraceServiceResponse()
