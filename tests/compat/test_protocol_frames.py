"""The sync service against the exact frames Testground's SDKs put on the wire.

Facts of the wire format (testground/sync-service ``types.go``, sdk-go ``sync/``,
@testground/sdk 0.1.2 ``src/sync``):

- sdk-go marshals ``sync.Request`` with ``encoding/json`` through ``wsjson.Write``: keys in
  struct order, ``"is_cancel":false`` on every request (the field has no ``omitempty``),
  the unused operations left out, ``<``/``>``/``&`` in strings escaped as ``\\u003c``…, and
  a newline after the object (``json.Encoder``). Ids are ``strconv.Itoa`` of a counter
  from 0.
- sdk-js sets ``req.id`` after building the request, so the id comes last; ids count from
  "0". Neither SDK sends ``is_cancel``; it is there for other clients.
- Responses are decoded into ``sync.Response``: ``id`` and ``error`` strings, ``publish``
  and ``signal_entry`` objects with an integer ``seq``, ``subscribe`` a *string* holding
  the payload's JSON text (sdk-js calls ``JSON.parse`` on it, sdk-go ``json.Unmarshal``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import RawClient

RUN = "run:c2kcp5s6ie5gq4r4bqeg:plan:network:case:ping-pong"


def go_request(**fields: Any) -> str:
    """A request exactly as sdk-go's wsjson.Write sends it."""
    body = {"id": fields.pop("id"), "is_cancel": False, **fields}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def js_request(rid: str, **operation: Any) -> str:
    """A request exactly as sdk-js's JSON.stringify sends it: the id after the operation."""
    return json.dumps({**operation, "id": rid}, separators=(",", ":"), ensure_ascii=False)


def as_go_response(frame: dict[str, Any]) -> dict[str, Any]:
    """Decode ``frame`` the way sdk-go decodes into ``sync.Response``; fail where Go would."""

    def seq_of(field: str) -> int | None:
        body = frame.get(field)
        if body is None:
            return None
        assert isinstance(body, dict) and isinstance(body.get("seq"), int), frame
        return int(body["seq"])

    assert isinstance(frame.get("id"), str), frame
    assert isinstance(frame.get("error", ""), str | None), frame
    subscribe = frame.get("subscribe")
    assert subscribe is None or isinstance(subscribe, str), f"subscribe must be text: {frame}"
    return {
        "id": frame["id"],
        "error": frame.get("error") or "",
        "publish": seq_of("publish"),
        "subscribe": subscribe or "",
        "signal_entry": seq_of("signal_entry"),
    }


def present(frame: dict[str, Any]) -> dict[str, Any]:
    """The fields a response sets. Like Testground's Go service, ours writes all five
    (id, error, publish, subscribe, signal_entry), unused ones as null or "" — the Rust
    SDK fails on a response without ``subscribe``."""
    assert list(frame) == ["id", "error", "publish", "subscribe", "signal_entry"], frame
    return {k: v for k, v in frame.items() if v is not None and (k != "subscribe" or v != "")}


async def test_the_contract_frames_verbatim(raw_client) -> None:
    client: RawClient = await raw_client()
    other: RawClient = await raw_client()

    await client.send('{"id":"1","publish":{"topic":"T","payload":{"hello":"world"}}}')
    assert present(await client.recv()) == {"id": "1", "error": "", "publish": {"seq": 1}}

    await client.send('{"id":"2","subscribe":{"topic":"T"}}')
    assert present(await client.recv()) == {
        "id": "2",
        "error": "",
        "subscribe": '{"hello":"world"}',
    }

    await client.send('{"id":"3","barrier":{"state":"S","target":2}}')
    await other.send('{"id":"4","signal_entry":{"state":"S"}}')
    assert present(await other.recv()) == {"id": "4", "error": "", "signal_entry": {"seq": 1}}
    await client.expect_silence()  # one of two entries: the barrier holds
    await other.send('{"id":"4","signal_entry":{"state":"S"}}')
    assert present(await other.recv()) == {"id": "4", "error": "", "signal_entry": {"seq": 2}}
    assert present(await client.recv()) == {"id": "3", "error": ""}

    await client.send('{"id":"3","barrier":{"state":"S","target":0}}')
    assert present(await client.recv()) == {"id": "3", "error": ""}  # target 0: at once

    await client.send('{"id":"2","is_cancel":true}')
    await client.expect_silence()  # a cancel has no answer
    await other.send('{"id":"5","publish":{"topic":"T","payload":"after the cancel"}}')
    assert present(await other.recv()) == {"id": "5", "error": "", "publish": {"seq": 2}}
    await client.expect_silence()  # the cancelled subscription gets nothing more


async def test_seq_counts_from_one_per_topic_and_per_state(raw_client) -> None:
    client: RawClient = await raw_client()
    answers = []
    for rid, topic in enumerate(["a", "b", "a", "a", "b"]):
        await client.send(js_request(str(rid), publish={"topic": topic, "payload": rid}))
        answers.append((topic, (await client.recv())["publish"]["seq"]))
    assert answers == [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]
    # States count apart from topics, even under the same name.
    await client.send(js_request("9", signal_entry={"state": "a"}))
    assert (await client.recv())["signal_entry"] == {"seq": 1}


async def test_an_sdk_go_session(raw_client) -> None:
    """signal_entry, barrier, publish, subscribe and a run event, as a Go plan sends them."""
    go, late = await raw_client(), await raw_client()
    peer = {"ID": "peer <1> & co", "Addrs": ["/ip4/16.0.0.2/tcp/4001"], "Seq": 2**62 + 1}
    peers, ready = f"{RUN}:topics:peers", f"{RUN}:states:ready"

    await go.send(go_request(id="0", signal_entry={"state": ready}))
    assert as_go_response(await go.recv())["signal_entry"] == 1
    await go.send(go_request(id="1", barrier={"state": ready, "target": 1}))
    assert as_go_response(await go.recv()) == {
        "id": "1",
        "error": "",
        "publish": None,
        "subscribe": "",
        "signal_entry": None,
    }
    await go.send(go_request(id="2", publish={"topic": peers, "payload": peer}))
    assert as_go_response(await go.recv())["publish"] == 1
    event = {"success_event": {"group": "single"}}
    await go.send(go_request(id="3", publish={"topic": f"{RUN}:run_events", "payload": event}))
    assert as_go_response(await go.recv())["publish"] == 1

    # A subscriber arriving later gets the payload as JSON text that decodes to the same
    # value, the \u003c escapes read back and the int64 kept exact.
    await late.send(go_request(id="0", subscribe={"topic": peers}))
    answer = as_go_response(await late.recv())
    assert answer["id"] == "0" and answer["error"] == ""
    assert json.loads(answer["subscribe"]) == peer
    await go.send(go_request(id="4", publish={"topic": peers, "payload": {**peer, "Seq": 7}}))
    assert as_go_response(await go.recv())["publish"] == 2
    assert json.loads(as_go_response(await late.recv())["subscribe"])["Seq"] == 7


async def test_an_sdk_js_session(raw_client) -> None:
    """The frames of sdk-js's publishSubscribe and signalAndWait, id last."""
    js = await raw_client()
    roster, here = f"{RUN}:topics:roster", f"{RUN}:states:here"
    entry = {"id": "single-4242", "note": "unicode \u2713 and \u2028 stay intact"}

    await js.send(js_request("0", publish={"topic": roster, "payload": entry}))
    response = await js.recv()
    assert present(response) == {"id": "0", "error": "", "publish": {"seq": 1}}
    await js.send(js_request("1", subscribe={"topic": roster}))
    response = await js.recv()
    assert response["id"] == "1" and not response["error"]
    assert json.loads(response["subscribe"]) == entry  # sdk-js: JSON.parse(res.subscribe)

    await js.send(js_request("2", signal_entry={"state": here}))
    assert (await js.recv())["signal_entry"]["seq"] == 1  # sdk-js: res.signal_entry.seq
    await js.send(js_request("3", barrier={"state": here, "target": 1}))
    assert present(await js.recv()) == {"id": "3", "error": ""}


@pytest.mark.parametrize(
    "frame",
    [
        go_request(id="7", barrier={"state": "S", "target": "two"}),
        js_request("7", frobnicate={"topic": "T"}),
        js_request("7", publish={"payload": 1}),
    ],
    ids=["target not a number", "unknown operation", "publish without topic"],
)
async def test_errors_carry_the_request_id_and_keep_the_connection(raw_client, frame) -> None:
    client: RawClient = await raw_client()
    await client.send(frame)
    response = await client.recv()
    assert set(present(response)) == {"id", "error"}, response
    assert response["id"] == "7"
    assert isinstance(response["error"], str) and response["error"]
    assert as_go_response(response)["error"] == response["error"]
    # The same connection serves the next request.
    await client.send(go_request(id="8", signal_entry={"state": "S"}))
    assert present(await client.recv()) == {"id": "8", "error": "", "signal_entry": {"seq": 1}}
