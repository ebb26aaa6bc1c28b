"""Exports traces over OTLP/gRPC to the run's mock collectors ([[services]] kind =
"mock-collector", protocol = "grpc"), with OpenTelemetry's own exporter.

Each instance makes ``exports`` batches of ``spans`` finished spans and exports each batch
with ``OTLPSpanExporter`` (gRPC), round-robin over ``CHOREO_SERVICE_COLLECTOR_ADDRS``, and
fails unless every export comes to ``expect``: a group given slow_fail collectors of its
own expects failure (UNAVAILABLE, retried until ``timeout``).
"""

from __future__ import annotations

import os

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from choreograph.sdk import RunEnv, invoke_map


def export(runenv: RunEnv) -> str | None:
    addrs = os.environ["CHOREO_SERVICE_COLLECTOR_ADDRS"].split(",")
    timeout = runenv.duration_param("timeout").total_seconds()
    exporters = [OTLPSpanExporter(endpoint=a, insecure=True, timeout=timeout) for a in addrs]
    finished = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(finished))
    tracer = provider.get_tracer("mock-collector-grpc")
    spans, expected = runenv.int_param("spans"), runenv.string_param("expect")
    for k in range(runenv.int_param("exports")):
        finished.clear()
        for n in range(spans):
            with tracer.start_as_current_span(f"op-{n}"):
                pass
        result = exporters[k % len(addrs)].export(finished.get_finished_spans())
        got = "success" if result == SpanExportResult.SUCCESS else "failure"
        if got != expected:
            return f"export {k} to {addrs[k % len(addrs)]} came to {got}, expected {expected}"
    for exporter in exporters:
        exporter.shutdown()
    runenv.record_message(f"{len(addrs)} collectors: every export came to {expected}")
    return None


if __name__ == "__main__":
    invoke_map({"export": export})
