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
    progress.BuildLog("exec:python", "installing"),
    progress.InstanceStarted("single/0"),
    progress.InstanceFinished("single/0", "failure", "boom <b>", "trace"),
    progress.RunStopping("timeout"),
    progress.Message("single/0", "hello"),
    progress.RunWarning("careful"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: progress.ProgressEvent) -> None:
    data = json.loads(json.dumps(progress.to_json(event)))
    assert data["type"] == type(event).__name__
    assert progress.from_json(data) == event


def test_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown progress event"):
        progress.from_json({"type": "Nope"})
