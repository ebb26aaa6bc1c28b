"""The Python half of the tracer-overhead study: a controller and a client.

- Group ``controller``: serves units of work over HTTP on its data address
  (``GET /work?client=K&n=N`` → ``{"items": [...], "done": false}``), giving each client
  ``duration`` of work from its first request, and publishes its URL on topic
  ``controller``. It ends once every client has signalled ``clients-done``.
- Any other group is a client: it learns the URL from the topic, fetches ``batch``
  units at a time, runs each (``unit_iters`` SHA-256 rounds) and pauses ``sleep_ms``
  after it (the knob calibrated to a CPU share). With ``traced`` each unit is a span of
  the OpenTelemetry Python SDK, batched and exported to the run's mock collector,
  ``CHOREO_SERVICE_COLLECTOR_ADDR``: over OTLP/HTTP (protobuf), or over OTLP/gRPC with
  ``exporter = "grpc"`` (the collector's ``protocol`` must be ``grpc`` then).
- In a single-group run (``choreo run single``, ``choreo calibrate``) instance 0 also
  serves the work from a thread, so the untraced client can be calibrated on its own.

Results: ``unit_cpu`` (process CPU µs per unit, one sample per batch: the overhead
measure, exporter threads included), ``unit_time`` (ms per unit, the pause left out),
and at the end ``program_time`` and ``clock_time`` (s, the work phase), ``cpu_share`` (% of
one core), ``close_time`` (s, the tracer's shut-down, left out of the others),
``units``, ``spans_started``, ``spans_exported``, ``spans_failed`` (in exports the
collector refused) and ``spans_dropped`` (started but never accepted: refused, dropped
from a full queue, or still queued when the exporter was given up).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.request
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke_map

TOPIC = "controller"
DONE = "clients-done"
EXPORTERS = ("http", "grpc")


class WorkServer(ThreadingHTTPServer):
    """Hands out numbered units of work, ``duration`` seconds' worth per client."""

    daemon_threads = True

    def __init__(self, host: str, duration: float) -> None:
        super().__init__((host, 0), _WorkHandler)
        self.duration = duration
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.handed_out = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/work"

    def take(self, client: str, n: int) -> dict[str, Any]:
        with self.lock:
            first = self.started.setdefault(client, time.monotonic())
            if time.monotonic() - first >= self.duration:
                return {"items": [], "done": True}
            items = list(range(self.handed_out, self.handed_out + n))
            self.handed_out += n
        return {"items": items, "done": False}


class _WorkHandler(BaseHTTPRequestHandler):
    server: WorkServer

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        answer = self.server.take(query.get("client", ["?"])[0], int(query.get("n", ["1"])[0]))
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(runenv: RunEnv, host: str) -> tuple[WorkServer, threading.Thread]:
    server = WorkServer(host, runenv.duration_param("duration").total_seconds())
    thread = threading.Thread(target=server.serve_forever, name="work-server")
    thread.start()
    return server, thread


def controller(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    host = str(ctx.net_client.get_data_network_ip())
    server, thread = serve(runenv, host)
    try:
        ctx.sync_client.publish(TOPIC, {"url": server.url})
        clients = runenv.test_instance_count - runenv.test_group_instance_count
        ctx.sync_client.barrier(DONE, clients, timeout=_end_timeout(runenv))
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    runenv.R().point("units_handed_out", server.handed_out)
    runenv.record_message(f"handed out {server.handed_out} units to {len(server.started)} clients")
    return None


class Tracing:
    """The OpenTelemetry SDK set up for one client, with counts of what it exported."""

    def __init__(self, runenv: RunEnv, addr: str) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        self.timeout = runenv.duration_param("export_timeout").total_seconds()
        self.exported = 0
        self.failed = 0
        counts = self

        class Counting(SpanExporter):  # type: ignore[misc]
            """Counts spans by the answer their export got."""

            def __init__(self, inner: SpanExporter) -> None:
                self.inner = inner

            def export(self, spans: Any) -> Any:
                result = self.inner.export(spans)
                if result == SpanExportResult.SUCCESS:
                    counts.exported += len(spans)
                else:
                    counts.failed += len(spans)
                return result

            def shutdown(self) -> None:
                self.inner.shutdown()

            def force_flush(self, timeout_millis: int = 30000) -> bool:
                return bool(self.inner.force_flush(timeout_millis))

        exporter = _exporter(runenv.string_param("exporter"), addr, self.timeout)
        resource = Resource.create({"service.name": f"client-{runenv.instance_key}"})
        # No exit hook: close() bounds the shut-down, a hook at exit would not be.
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(
            BatchSpanProcessor(Counting(exporter), export_timeout_millis=self.timeout * 1000)
        )
        self.tracer = self.provider.get_tracer("tracer-overhead")

    def close(self) -> None:
        """Shut the provider down, giving the last exports ``export_timeout`` (a collector
        that refuses everything would otherwise hold the run in retries)."""
        closing = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        closing.start()
        closing.join(self.timeout * 2)


def _exporter(kind: str, addr: str, timeout: float) -> Any:
    """OpenTelemetry's OTLP exporter for ``kind``: ``http`` (protobuf, ``POST /v1/traces``)
    or ``grpc`` (``TraceService/Export``, plaintext as the mock collector speaks it)."""
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=addr, insecure=True, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=f"http://{addr}/v1/traces", timeout=timeout)


def client(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    embedded = runenv.test_group_id == "single" and runenv.global_index == 0
    server = thread = None
    if embedded:  # no controller group: this instance serves the work too
        server, thread = serve(runenv, "127.0.0.1")
        ctx.sync_client.publish(TOPIC, {"url": server.url})
    try:
        url = ctx.sync_client.subscribe(TOPIC).get(timeout=60)["url"]
        error = _work(runenv, url)
        ctx.sync_client.signal_entry(DONE)
        if embedded:
            clients = runenv.test_instance_count
            ctx.sync_client.barrier(DONE, clients, timeout=_end_timeout(runenv))
    finally:
        if server is not None and thread is not None:
            server.shutdown()
            thread.join()
            server.server_close()
    return error


def _work(runenv: RunEnv, url: str) -> str | None:
    iters = runenv.int_param("unit_iters")
    pause = runenv.float_param("sleep_ms") / 1000
    batch = runenv.int_param("batch")
    tracing = None
    if runenv.bool_param("traced"):
        if (exporter := runenv.string_param("exporter")) not in EXPORTERS:
            return f"exporter {exporter!r}: expected one of {', '.join(EXPORTERS)}"
        tracing = Tracing(runenv, os.environ["CHOREO_SERVICE_COLLECTOR_ADDR"])
    r = runenv.R()
    unit_cpu = r.histogram("unit_cpu", unit="us")
    unit_time = r.timer("unit_time", unit="ms")
    started = units = 0
    cpu0, clock0 = time.process_time(), time.perf_counter()
    while True:
        with urllib.request.urlopen(f"{url}?client={runenv.instance_key}&n={batch}") as answer:
            work = json.load(answer)
        if work["done"]:
            break
        batch_cpu = time.process_time()
        for item in work["items"]:
            with unit_time.time():
                span = (
                    tracing.tracer.start_as_current_span("unit", attributes={"item": item})
                    if tracing
                    else nullcontext()
                )
                with span:
                    _unit(item, iters)
            started += tracing is not None
            time.sleep(pause)
        units += len(work["items"])
        unit_cpu.observe((time.process_time() - batch_cpu) / len(work["items"]) * 1e6)
    program, clock = time.process_time() - cpu0, time.perf_counter() - clock0
    if tracing is not None:
        closing = time.perf_counter()
        tracing.close()
        r.point("close_time", time.perf_counter() - closing, unit="s")
    r.point("program_time", program, unit="s")
    r.point("clock_time", clock, unit="s")
    r.point("cpu_share", 100 * program / clock, unit="%")
    r.point("units", units)
    exported = tracing.exported if tracing else 0
    failed = tracing.failed if tracing else 0
    r.point("spans_started", started)
    r.point("spans_exported", exported)
    r.point("spans_failed", failed)
    r.point("spans_dropped", started - exported)
    runenv.record_message(
        f"{units} units in {clock:.1f}s, cpu {100 * program / clock:.1f}%, "
        f"spans started {started} exported {exported} failed {failed}"
    )
    return None if units else "the controller handed out no work"


def _unit(item: int, iters: int) -> bytes:
    digest = item.to_bytes(8, "little")
    for _ in range(iters):
        digest = hashlib.sha256(digest).digest()
    return digest


def _end_timeout(runenv: RunEnv) -> float:
    return runenv.duration_param("duration").total_seconds() + 120


def overhead(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    if runenv.test_group_id == "controller":
        return controller(runenv, ctx)
    return client(runenv, ctx)


if __name__ == "__main__":
    invoke_map({"overhead": overhead})
