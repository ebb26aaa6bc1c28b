import io
import json
import threading
import time
from typing import Any

import pytest

from choreograph.sdk import RunEnv
from choreograph.wire.events import Event, parse_line


@pytest.fixture
def runenv() -> RunEnv:
    env = {
        "TEST_PLAN": "p",
        "TEST_CASE": "c",
        "TEST_RUN": "r",
        "TEST_INSTANCE_COUNT": "3",
        "TEST_GROUP_ID": "g",
        "CHOREO_GROUP_INDEX": "1",
    }
    return RunEnv.from_env(env)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_each_recorder_writes_one_json_line(
    runenv: RunEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time_ns()
    runenv.record_start()
    runenv.record_message("hello")
    runenv.record_stage_start("warmup")
    runenv.record_stage_end("warmup")
    runenv.record_failure("bad")
    runenv.record_success()
    runenv.record_crash("boom", "trace")
    lines = _lines(capsys)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6, 7]
    assert all(line["instance"] == "g/1" for line in lines)
    assert all(isinstance(line["ts"], int) and line["ts"] >= before for line in lines)
    bodies = [line["event"] for line in lines]
    assert bodies[0]["start_event"]["runenv"]["plan"] == "p"
    assert bodies[1] == {"message_event": {"message": "hello"}}
    assert bodies[2] == {"stage_start_event": {"name": "warmup", "group": "g"}}
    assert bodies[3] == {"stage_end_event": {"name": "warmup", "group": "g"}}
    assert bodies[4] == {"failure_event": {"group": "g", "error": "bad"}}
    assert bodies[5] == {"success_event": {"group": "g"}}
    assert bodies[6] == {"crash_event": {"group": "g", "error": "boom", "stacktrace": "trace"}}


def test_lines_parse_back_with_attribution(
    runenv: RunEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    runenv.record_failure(ValueError("no quorum"))
    event = parse_line(capsys.readouterr().out)
    assert event is not None
    assert (event.kind, event.error, event.instance, event.seq) == (
        "failure",
        "no quorum",
        "g/1",
        1,
    )


def test_crash_with_an_exception_brings_its_traceback(
    runenv: RunEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError as exc:
        runenv.record_crash(exc)
    crash = _lines(capsys)[0]["event"]["crash_event"]
    assert crash["error"] == "disk on fire"
    assert (
        "Traceback" in crash["stacktrace"] and "RuntimeError: disk on fire" in crash["stacktrace"]
    )


def test_attached_publisher_gets_the_same_stamped_events(
    runenv: RunEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    published: list[Event] = []
    runenv._events.publisher = published.append
    runenv.record_message("one")
    runenv.record_success()
    lines = _lines(capsys)
    assert [e.seq for e in published] == [line["seq"] for line in lines] == [1, 2]
    assert [e.to_line() for e in published] == [
        json.dumps(line, separators=(",", ":")) for line in lines
    ]


def test_threads_never_interleave_lines_or_reuse_seqs(
    runenv: RunEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)

    def spam(n: int) -> None:
        for i in range(200):
            runenv.record_message(f"thread {n} message {i} " + "x" * 200)

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 1601))
