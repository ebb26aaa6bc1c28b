"""The frame helpers the service relies on (choreograph.wire.sync): exact bytes, strict decoding.

The responses are assembled by hand for speed, so they are pinned here against json.dumps.
"""

from __future__ import annotations

import json

import pytest

from choreograph.errors import ProtocolError
from choreograph.wire import sync

IDS = ["1", "", 'quote " back \\ slash', "é ✓ 😀", "\u2028\n\t"]


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _go(
    rid: str,
    *,
    error: str = "",
    publish: object = None,
    subscribe: str = "",
    signal_entry: object = None,
) -> str:
    """What Testground's Go service writes: all five fields, in its struct's order."""
    return _compact(
        {
            "id": rid,
            "error": error,
            "publish": publish,
            "subscribe": subscribe,
            "signal_entry": signal_entry,
        }
    )


@pytest.mark.parametrize("rid", IDS)
def test_responses_are_exactly_the_compact_json_of_the_go_service(rid):
    assert sync.ok_response(rid) == _go(rid)
    assert sync.publish_response(rid, 12) == _go(rid, publish={"seq": 12})
    assert sync.signal_entry_response(rid, 3) == _go(rid, signal_entry={"seq": 3})
    text = '{"a":"é \\"q\\""}'
    assert sync.subscribe_response(rid, text) == _go(rid, subscribe=text)
    assert sync.subscribe_response_head(rid) + sync.quote_payload(text) + sync.SUBSCRIBE_TAIL == (
        sync.subscribe_response(rid, text)
    )
    assert sync.error_response(rid, 'bad "x"\n') == _go(rid, error='bad "x"\n')
    assert sync.error_response(None, "m") == _go("", error="m")


def test_decoding_treats_the_empty_subscribe_field_as_no_payload():
    assert sync.decode_response(sync.ok_response("1")).payload_json is None
    assert sync.decode_response(sync.publish_response("1", 4)).seq == 4
    assert sync.decode_response(sync.subscribe_response("1", "[]")).payload_json == "[]"


def test_encode_payload_is_compact_and_refuses_what_is_not_json():
    assert sync.encode_payload({"a": [1, None, "é"]}) == '{"a":[1,null,"\\u00e9"]}'
    for bad in (float("nan"), float("-inf"), {"x": object()}):
        with pytest.raises((TypeError, ValueError)):
            sync.encode_payload(bad)


@pytest.mark.parametrize(
    "payload",
    ["plain", "é\u2028\n\"", 0, -7, 2**70, 1.5, 1e300, True, None, [], {},
     {"b": [1, {"c": None}], "a": "x", "n": -0.0}, [["deep"] * 3] * 3],
)  # fmt: skip
def test_encode_payload_writes_what_json_dumps_writes(payload):
    assert sync.encode_payload(payload) == json.dumps(payload, separators=(",", ":"))


def test_a_circular_or_too_deep_payload_is_refused_as_not_json():
    circular: list[object] = []
    circular.append(circular)
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    for bad in (circular, deep):
        with pytest.raises(ValueError, match="circular or nested too deep"):
            sync.encode_payload(bad)


def test_decode_request_measures_frames_in_utf8_bytes():
    frame = '{"id":"1","publish":{"topic":"t","payload":"' + "é" * 60 + '"}}'
    assert sync.frame_size(frame) == len(frame.encode())
    sync.decode_request(frame, max_bytes=len(frame.encode()))
    with pytest.raises(ProtocolError, match="exceeds") as raised:
        sync.decode_request(frame, max_bytes=len(frame.encode()) - 1)
    assert raised.value.request_id == "1"  # the oversized frame's id is still reported


@pytest.mark.parametrize(
    "frame",
    [
        '{"id":"1","publish":{"topic":"t","payload":NaN}}',
        '{"id":"1","publish":{"topic":"t","payload":-Infinity}}',
        '{"id":"1","publish":{"topic":"t","payload":' + "[" * 50_000 + "]" * 50_000 + "}}",
        b'{"id":"1","signal_entry":{"state":"\xff"}}',
    ],
    ids=["NaN", "Infinity", "deep nesting", "invalid UTF-8"],
)
def test_decode_request_refuses_what_other_sdks_could_not_read(frame):
    with pytest.raises(ProtocolError, match="not JSON"):
        sync.decode_request(frame)


def test_peek_request_id_is_best_effort():
    assert sync.peek_request_id(b'{"id":"7","x":1}') == "7"
    assert sync.peek_request_id('{"id":7}') is None
    assert sync.peek_request_id("[") is None
    assert sync.peek_request_id(b"\xff") is None
