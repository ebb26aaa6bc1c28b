"""Runs end, and leave nothing: detached grandchildren, SIGKILL of ``choreo``, dead runs
recorded as aborted, large params (hardening items 1-4)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Choreo
from tests.processes import alive

# Each instance starts a child in a session of its own (immune to killpg) and one in its
# own session, writes their pids to its outputs, then loops forever.
SPAWNER = """
import os, subprocess, sys, time
from choreograph.sdk import invoke_map

def spawn(runenv):
    detached = subprocess.Popen(["sleep", "600"], start_new_session=True)
    attached = subprocess.Popen(["sleep", "601"])
    path = os.path.join(str(runenv.outputs_path), "pids")
    with open(path + ".tmp", "w") as f:
        f.write(f"{detached.pid} {attached.pid} {os.getpid()}")
    os.replace(path + ".tmp", path)
    runenv.record_message("children started")
    while True:
        time.sleep(0.1)

def big(runenv):
    value = runenv.string_param("blob")
    assert len(value) == 300_000 and set(value) == {"x"}, len(value)
    runenv.record_message(f"blob of {len(value)} characters")

if __name__ == "__main__":
    invoke_map({"spawn": spawn, "big": big})
"""

MANIFEST = """
name = "spawner"

[defaults]
builder = "exec:python"
runner = "local:exec"

[builders."exec:python"]
entry = "main.py"

[runners."local:exec"]

[[testcases]]
name = "spawn"
instances = { min = 1, max = 100, default = 1 }

[[testcases]]
name = "big"
instances = { min = 1, max = 10, default = 1 }
  [testcases.params.blob]
  type = "string"
  default = ""
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    folder = tmp_path / "spawner"
    folder.mkdir()
    (folder / "manifest.toml").write_text(MANIFEST)
    (folder / "main.py").write_text(SPAWNER)
    return folder


def _child_pids(run_dir: Path) -> list[int]:
    return [int(p) for f in sorted(run_dir.glob("*/*/pids")) for p in f.read_text().split()]


def _wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_timeout_ends_the_run_whatever_instances_leave_behind(choreo: Choreo, plan: Path) -> None:
    """50 instances each leave a detached `sleep 600`: the run still ends at its timeout
    plus the grace, and no process of it survives."""
    started = time.monotonic()
    proc = choreo(
        "run", "single", "--plan", str(plan), "--case", "spawn", "-i", "50", "--timeout", "8",
        timeout=300,
    )  # fmt: skip
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "timeout after 8s" in proc.stdout
    # Before the fix it waited ~600 s for the sleeps to close the pipes; allow for a slow,
    # loaded box (build, 50 starts) but nothing near that.
    assert took < 120, f"the run took {took:.0f} s"
    run_dir = choreo.runs()[-1]
    pids = _child_pids(run_dir)
    assert len(pids) >= 3 * 40, f"only {len(pids)} pids recorded"
    assert _wait_until(lambda: not any(alive(p) for p in pids), 10), [p for p in pids if alive(p)]
    statuses = {o["status"] for o in choreo.last_run()["outcome"]["instances"].values()}
    assert statuses == {"stopped"}


def test_sigkill_of_choreo_leaves_nothing_and_the_run_reads_aborted(
    choreo: Choreo, plan: Path
) -> None:
    proc = choreo.popen("run", "single", "--plan", str(plan), "--case", "spawn", "-i", "50")
    try:
        assert _wait_until(
            lambda: bool(choreo.runs()) and len(_child_pids(choreo.runs()[-1])) == 150, 120
        ), "instances did not start their children"
        run_dir = choreo.runs()[-1]
        pids = _child_pids(run_dir)
        assert all(alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_until(lambda: not any(alive(p) for p in pids), 15), [
            p for p in pids if alive(p)
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    listing = choreo("runs", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if run_dir.name[:15] in line)
    assert "aborted" in row, listing.stdout
    check = choreo("healthcheck")
    assert "runs whose owner died" in check.stdout and run_dir.name in check.stdout
    fixed = choreo("healthcheck", "--fix")
    assert run_dir.name in fixed.stdout, fixed.stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "aborted" and record["aborted_from"] == "running"
    again = choreo("healthcheck")
    assert "runs whose owner died: none" in again.stdout, again.stdout


def _composition(tmp_path: Path, plan: Path, launcher: str) -> Path:
    comp = tmp_path / f"big-{launcher}.toml"
    comp.write_text(
        f"""
[global]
plan = "{plan}"
case = "big"
total_instances = 2
runner = "local:exec"

[global.run_config]
launcher = "{launcher}"

[[groups]]
id = "g"
instances = {{ count = 2 }}
  [groups.run]
  test_params = {{ blob = "{"x" * 300_000}" }}
"""
    )
    return comp


def test_a_large_param_works_with_the_fork_launcher(
    choreo: Choreo, plan: Path, tmp_path: Path
) -> None:
    proc = choreo("run", "composition", "-f", str(_composition(tmp_path, plan, "fork")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert choreo.last_run()["status"] == "success"


def test_a_large_param_is_refused_before_launch_with_exec(
    choreo: Choreo, plan: Path, tmp_path: Path
) -> None:
    proc = choreo("run", "composition", "-f", str(_composition(tmp_path, plan, "exec")))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "TEST_INSTANCE_PARAMS" in out and "131,072" in out and "MAX_ARG_STRLEN" in out, out
    assert "Traceback" not in out
    record = choreo.last_run()
    assert record["status"] not in ("running", "building"), record["status"]
