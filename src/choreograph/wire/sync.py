"""Sync-service frames (testground/sync-service's websocket protocol): encode, decode, validate.

A request is a JSON object with a string ``id`` and exactly one operation
(``publish``, ``subscribe``, ``barrier``, ``signal_entry``) or ``is_cancel: true``.
A response echoes the ``id`` and carries ``error`` ("" on success) plus at most one
result field. :func:`decode_request` is strict and raises :class:`ProtocolError` with
the request id whenever one could be read, so the server can answer malformed input
precisely instead of dropping the connection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from choreograph.errors import ProtocolError

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""Largest request frame the service accepts (Testground's SDKs send far smaller ones)."""


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN/Infinity, but they are not JSON: a payload holding one could
    # not be re-sent to SDKs in other languages, so the request is refused at the door.
    raise ValueError(f"{name} is not valid JSON")


# Module-level coders: json.dumps/loads with keyword arguments build a new coder per call,
# which costs more than the encoding itself for the small frames of this protocol.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_PAYLOAD_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_ENCODER = json.JSONEncoder(separators=(",", ":"))

OPERATIONS = ("publish", "subscribe", "barrier", "signal_entry")


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: Any


@dataclass(frozen=True)
class Subscribe:
    topic: str


@dataclass(frozen=True)
class Barrier:
    state: str
    target: int


@dataclass(frozen=True)
class SignalEntry:
    state: str


@dataclass(frozen=True)
class Cancel:
    """Cancels the earlier request (subscription or barrier) that used the same id."""


Operation = Publish | Subscribe | Barrier | SignalEntry | Cancel


@dataclass(frozen=True)
class Request:
    id: str
    op: Operation


def _field(body: Any, name: str, kind: type, op: str, rid: str) -> Any:
    if not isinstance(body, dict):
        raise ProtocolError(f"{op}: expected an object, found {type(body).__name__}", rid)
    if name not in body:
        raise ProtocolError(f"{op}: missing field {name!r}", rid)
    value = body[name]
    # bool is an int in Python; a target of `true` is a type error, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"{op}.{name}: expected {kind.__name__}, found {type(value).__name__}", rid
        )
    return value


def frame_size(frame: str | bytes) -> int:
    """Size of ``frame`` in bytes on the wire (UTF-8), encoding only when it could matter."""
    if isinstance(frame, bytes):
        return len(frame)
    # ASCII text (the usual case) is one byte per character: only other text is encoded.
    return len(frame) if frame.isascii() else len(frame.encode("utf-8", "surrogatepass"))


PEEK_CHARS = 1024
"""How much of an oversized frame :func:`peek_request_id` reads."""

# A request whose first member is its id, as the SDKs write it ({"id":"…", …}); an id that
# comes later is not looked for.
_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*("(?:[^"\\]|\\.)*")')


def peek_request_id(frame: str | bytes) -> str | None:
    """Best-effort id of a frame about to be refused for its size, to label the error.

    Reads only the frame's start: decoding all of a 15 MB frame just to find its id held the
    service's event loop, and so every connection, for up to a second (0.3 s for a frame of
    numbers, 1.3 s for one of empty lists).
    """
    head = frame[:PEEK_CHARS]
    text = head.decode("utf-8", "ignore") if isinstance(head, bytes) else head
    match = _LEADING_ID.match(text)
    if match is None:
        return None
    try:
        rid = _DECODER.decode(match.group(1))
    except ValueError:  # an invalid escape inside the id
        return None
    return rid if isinstance(rid, str) and rid else None


def decode_request(frame: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Request:
    """Parse and validate one request frame; raise :class:`ProtocolError` on any fault.

    ``max_bytes`` bounds the frame's UTF-8 size; an oversized frame's error still carries
    its id when one can be read.
    """
    size = frame_size(frame)
    if size > max_bytes:
        raise ProtocolError(
            f"frame of {size} bytes exceeds the {max_bytes} byte limit", peek_request_id(frame)
        )
    try:
        obj = _DECODER.decode(frame.decode("utf-8") if isinstance(frame, bytes) else frame)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and NaN/Infinity;
        # RecursionError a hostile nesting depth.
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"request must be a JSON object, found {type(obj).__name__}")
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        raise ProtocolError("request needs a non-empty string 'id'")
    present = [k for k in OPERATIONS if obj.get(k) is not None]
    if obj.get("is_cancel") is True:
        if present:
            raise ProtocolError(f"is_cancel cannot be combined with {present[0]}", rid)
        return Request(rid, Cancel())
    if not present:
        unknown = sorted(set(obj) - {"id", "is_cancel", *OPERATIONS})
        hint = f" (unknown: {', '.join(unknown)})" if unknown else ""
        raise ProtocolError(f"request holds no operation{hint}; expected one of {OPERATIONS}", rid)
    if len(present) > 1:
        raise ProtocolError(f"request holds several operations: {', '.join(present)}", rid)
    name = present[0]
    body = obj[name]
    op: Operation
    if name == "publish":
        topic = _field(body, "topic", str, name, rid)
        if "payload" not in body:
            raise ProtocolError("publish: missing field 'payload'", rid)
        op = Publish(topic, body["payload"])
    elif name == "subscribe":
        op = Subscribe(_field(body, "topic", str, name, rid))
    elif name == "barrier":
        state = _field(body, "state", str, name, rid)
        target = _field(body, "target", int, name, rid)
        if target < 0:
            raise ProtocolError(f"barrier.target: expected >= 0, found {target}", rid)
        op = Barrier(state, target)
    else:
        op = SignalEntry(_field(body, "state", str, name, rid))
    return Request(rid, op)


def encode_request(request: Request) -> str:
    op = request.op
    body: dict[str, Any] = {"id": request.id}
    if isinstance(op, Publish):
        body["publish"] = {"topic": op.topic, "payload": op.payload}
    elif isinstance(op, Subscribe):
        body["subscribe"] = {"topic": op.topic}
    elif isinstance(op, Barrier):
        body["barrier"] = {"state": op.state, "target": op.target}
    elif isinstance(op, SignalEntry):
        body["signal_entry"] = {"state": op.state}
    else:
        body["is_cancel"] = True
    return _ENCODER.encode(body)


# --- payloads ----------------------------------------------------------------


_PAYLOAD_C_ENCODER = (
    c_make_encoder(
        None,  # no circular-reference table (see below)
        _PAYLOAD_ENCODER.default,
        encode_basestring_ascii,  # ensure_ascii, as _PAYLOAD_ENCODER
        _PAYLOAD_ENCODER.indent,
        _PAYLOAD_ENCODER.key_separator,
        _PAYLOAD_ENCODER.item_separator,
        _PAYLOAD_ENCODER.sort_keys,
        _PAYLOAD_ENCODER.skipkeys,
        _PAYLOAD_ENCODER.allow_nan,
    )
    if c_make_encoder is not None
    else None
)
"""``_PAYLOAD_ENCODER``'s C encoder, made once: ``JSONEncoder.encode`` makes a new one per
call, which took more than half of a small payload's encoding (4.1 µs → 1.7 µs measured
for a three-field payload; once per publish). It keeps no circular-reference table (made
per call too): a circular payload, which no decoded frame can hold, ends in the
interpreter's recursion limit instead, raised as ``ValueError`` like a NaN."""


def encode_payload(payload: Any) -> str:
    """The JSON text of a published payload (compact; NaN/Infinity refused with ValueError).

    The service makes this text once per publish and sends the same text to every subscriber.
    """
    if _PAYLOAD_C_ENCODER is None:  # pragma: no cover - CPython has the C encoder
        return _PAYLOAD_ENCODER.encode(payload)
    try:
        return "".join(_PAYLOAD_C_ENCODER(payload, 0))
    except RecursionError:
        raise ValueError("payload is circular or nested too deep for JSON") from None


def quote_payload(payload_json: str) -> str:
    """``payload_json`` as a JSON string literal: the value of a subscribe response's field."""
    return encode_basestring_ascii(payload_json)


# --- responses ---------------------------------------------------------------
# Every response carries all five fields, in the order Testground's Go service writes them
# (its Response struct has no omitempty): id, error, publish, subscribe, signal_entry.
# The Rust SDK (crate `testground`) fails to decode a response that lacks `subscribe`.
# Assembled by hand (the output is exactly json.dumps(..., separators=(",", ":"))): these run
# once per request, and building a dict then encoding it costs ten times more.

SUBSCRIBE_TAIL = ',"signal_entry":null}'
"""What follows the quoted payload in a subscribe response."""


def ok_response(rid: str) -> str:
    """The barrier's answer: no result, empty error."""
    return (
        '{"id":'
        + encode_basestring_ascii(rid)
        + ',"error":"","publish":null,"subscribe":"","signal_entry":null}'
    )


def publish_response(rid: str, seq: int) -> str:
    return (
        '{"id":'
        + encode_basestring_ascii(rid)
        + ',"error":"","publish":{"seq":'
        + f"{seq:d}"
        + '},"subscribe":"","signal_entry":null}'
    )


def signal_entry_response(rid: str, seq: int) -> str:
    return (
        '{"id":'
        + encode_basestring_ascii(rid)
        + ',"error":"","publish":null,"subscribe":"","signal_entry":{"seq":'
        + f"{seq:d}}}}}"
    )


def subscribe_response_head(rid: str) -> str:
    """The constant start of every response of one subscription.

    ``subscribe_response_head(rid) + quote_payload(text) + SUBSCRIBE_TAIL`` equals
    ``subscribe_response(rid, text)``; the service keeps the head per subscription and the
    quoted payload per message, so a delivery costs one concatenation.
    """
    return '{"id":' + encode_basestring_ascii(rid) + ',"error":"","publish":null,"subscribe":'


def subscribe_response(rid: str, payload_json: str) -> str:
    """``payload_json`` is the payload already serialised: Testground sends it as a JSON string."""
    return subscribe_response_head(rid) + quote_payload(payload_json) + SUBSCRIBE_TAIL


def error_response(rid: str | None, message: str) -> str:
    quoted_id, quoted_message = encode_basestring_ascii(rid or ""), encode_basestring_ascii(message)
    return (
        '{"id":'
        + quoted_id
        + ',"error":'
        + quoted_message
        + ',"publish":null,"subscribe":"","signal_entry":null}'
    )


@dataclass(frozen=True)
class Response:
    """A decoded response, as the client sees it."""

    id: str
    error: str
    seq: int | None = None
    payload_json: str | None = None


def decode_response(frame: str | bytes) -> Response:
    obj = json.loads(frame)
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ProtocolError(f"malformed response from the sync service: {frame!r:.200}")
    seq: int | None = None
    for key in ("publish", "signal_entry"):
        body = obj.get(key)
        if isinstance(body, dict) and isinstance(body.get("seq"), int):
            seq = body["seq"]
    sub = obj.get("subscribe")
    return Response(
        id=obj["id"],
        error=obj.get("error") or "",
        seq=seq,
        # Testground's service sends subscribe: "" on responses that are not deliveries.
        payload_json=sub if isinstance(sub, str) and sub else None,
    )
