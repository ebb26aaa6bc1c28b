"""Progress events survive the trip through JSON (the daemon's event log and stream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from choreograph import progress

EVENTS: list[progress.ProgressEvent] = [
    progress.RunnerStatus("containers 3/4"),
    progress.RunStarted("r1", Path("/runs/r1"), "sync", "all", "local:exec", {"single": 5}),
    progress.BuildFinished("exec:python", "b1", ("a", "b"), True, 0.5),
    progress.BuildFinished("docker:go", "b2", ("g",), False, 2.5, "choreograph/p:b2"),
    progress.BuildLog("exec:python", "installing"),
    progress.InstanceStarted("single/0"),
    progress.InstanceFinished("single/0", "failure", "boom <b>", "trace"),
    progress.RunStopping("timeout"),
    progress.Message("single/0", "hello"),
    progress.RunWarning("careful"),
    progress.RunPulse(12.0, 600.0, (("ready", 3, 4, 3), ("done", 0, 4, 1))),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: progress.ProgressEvent) -> None:
    data = json.loads(json.dumps(progress.to_json(event)))
    assert data["type"] == type(event).__name__
    assert progress.from_json(data) == event


def test_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown progress event"):
        progress.from_json({"type": "Nope"})


def test_event_log_keeps_one_pulse_in_five_seconds(tmp_path: Path) -> None:
    from choreograph.daemon.events import EventLog, EventReader

    log = EventLog(tmp_path / "events.jsonl")
    for second in range(1, 12):
        log(progress.RunPulse(float(second), 60.0))
    log(progress.RunPulse(1.0, 60.0))  # the next run of the task starts its clock again
    log.close()
    kept = [e["elapsed_s"] for e in EventReader(tmp_path / "events.jsonl").poll()]
    assert kept == [1.0, 6.0, 11.0, 1.0]
