"""Counting spans in an OTLP trace export (``POST /v1/traces``, or ``TraceService/Export``).

JSON bodies are counted with the standard library: ``resourceSpans[].scopeSpans[].spans[]``
(``instrumentationLibrarySpans`` in exporters older than OTLP 0.15). Protobuf bodies are
counted only when ``opentelemetry-proto`` happens to be installed: Choreograph does not
depend on it, and without it a protobuf export counts as a request and its bytes. The
gRPC collector (extra ``grpc``) has it, and counts its parsed requests with
:func:`spans_in`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
MAX_EXPORT = 64 << 20
"""Bytes of the largest export body a mock collector accepts, whatever its protocol."""


def decoded(body: bytes, encoding: str) -> bytes | None:
    """The body without its ``Content-Encoding`` (None when it cannot be undone)."""
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error):
        return None
    return body


def count_spans(body: bytes, content_type: str) -> int | None:
    """Spans in an export request; None when the body cannot be read as one."""
    if content_type.startswith(PROTOBUF):
        return _count_protobuf(body)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    total = 0
    for resource in _entries(data, "resourceSpans"):
        for scope in _entries(resource, "scopeSpans") + _entries(
            resource, "instrumentationLibrarySpans"
        ):
            total += len(_entries(scope, "spans"))
    return total


def _entries(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _count_protobuf(body: bytes) -> int | None:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        return None
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception:  # protobuf's DecodeError has no stable import path across versions
        return None
    return spans_in(request)


def spans_in(request: Any) -> int:
    """Spans in a parsed ``ExportTraceServiceRequest``."""
    return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
