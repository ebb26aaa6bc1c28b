"""Runs whose owner died read as aborted, and are recorded so (hardening item 3)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from choreograph.results import liveness
from choreograph.results.layout import RunLayout


def _dead_owner() -> dict[str, object]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = {"host": platform.node(), "pid": proc.pid, "started": 1.0}
    proc.wait()
    return owner


def test_live_and_dead_owners() -> None:
    assert liveness.owner_alive(liveness.owner_record()) is True
    assert liveness.owner_alive(_dead_owner()) is False
    assert liveness.owner_alive({"host": "elsewhere", "pid": 1, "started": 0}) is None
    assert liveness.owner_alive(None) is None


def test_a_recycled_pid_is_not_the_owner() -> None:
    me = liveness.owner_record()
    assert liveness.owner_alive({**me, "started": float(me["started"]) - 100}) is False


def test_effective_status() -> None:
    dead = {"status": "running", "owner": _dead_owner()}
    assert liveness.effective_status(dead) == "aborted"
    assert liveness.effective_status({**dead, "status": "success"}) == "success"
    live = {"status": "running", "owner": liveness.owner_record()}
    assert liveness.effective_status(live) == "running"


def test_mark_aborted_rewrites_only_dead_runs(tmp_path: Path) -> None:
    dead, live = RunLayout(tmp_path, "r-dead"), RunLayout(tmp_path, "r-live")
    for layout, owner in ((dead, _dead_owner()), (live, liveness.owner_record())):
        layout.write_run_json({"run_id": layout.run_id, "status": "running", "owner": owner})
        liveness.mark_live(layout, owner)  # type: ignore[arg-type]
    assert liveness.dead_runs(tmp_path) == ["r-dead"]
    assert liveness.mark_aborted(tmp_path) == ["r-dead"]
    record = json.loads(dead.run_json.read_text())
    assert record["status"] == "aborted" and record["aborted_from"] == "running"
    assert not (dead.root / liveness.LIVE_MARK).exists()
    assert json.loads(live.run_json.read_text())["status"] == "running"
    assert liveness.mark_aborted(tmp_path) == []
