import json

from choreograph.wire.events import Event, parse_event, parse_line


def test_line_round_trip_keeps_attribution() -> None:
    event = Event("crash", group="g", error="boom", stacktrace="tb", instance="g/1", seq=3, ts=99)
    line = event.to_line()
    obj = json.loads(line)
    assert obj["event"] == {"crash_event": {"group": "g", "error": "boom", "stacktrace": "tb"}}
    assert parse_line(line) == event


def test_payload_round_trip() -> None:
    event = Event("success", group="g", instance="g/0", seq=2, ts=5)
    assert parse_event(event.to_payload()) == event


def test_foreign_sdk_lines() -> None:
    # sdk-js (winston JSON) and sdk-go (zap JSON) put the event under "event" beside
    # their own fields.
    js = '{"level":"info","message":"","event":{"success_event":{"group":"single"}}}'
    go = (
        '{"ts":1700000000.1,"msg":"","group_id":"g","run_id":"r",'
        '"event":{"failure_event":{"group":"g","error":"bad"}}}'
    )
    assert parse_line(js) == Event("success", group="single")
    parsed = parse_line(go)
    assert parsed is not None and parsed.kind == "failure" and parsed.error == "bad"


def test_legacy_type_form() -> None:
    assert parse_event({"type": "finish", "outcome": "ok"}) is not None


def test_non_events_are_ignored() -> None:
    for line in ["hello", "{broken", "[1,2]", '{"event": 3}', '{"event": {"odd_event": {}}}']:
        assert parse_line(line) is None


def test_terminal_kinds() -> None:
    assert Event("success").terminal and Event("failure").terminal and Event("crash").terminal
    assert not Event("message").terminal and not Event("start").terminal
