"""Outcomes other than success: what the user sees, and the exit status."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Choreo

FAILURE = str(EXAMPLES / "failure")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _hanging_pids(run_dir: Path, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [
            int(m)
            for f in run_dir.glob("single/*/run.out")
            for m in re.findall(r"pid (\d+) hanging", f.read_text())
        ]
        if len(pids) >= count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"instances did not start hanging within {timeout}s")


def _wait_run_dir(choreo: Choreo, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if choreo.runs():
            return choreo.runs()[-1]
        time.sleep(0.05)
    raise AssertionError("no run folder appeared")


@pytest.mark.parametrize(
    ("case", "column", "text"),
    [
        ("failure", "failed", "expected 54, got 42"),
        ("error-return", "failed", "the system under test answered 503"),
        ("crash", "crashed", "KeyError"),
        ("silent-exit", "crashed", "exit status 7"),
    ],
)
def test_each_outcome_is_reported(choreo: Choreo, case: str, column: str, text: str) -> None:
    proc = choreo("run", "single", "--plan", FAILURE, "--case", case, "-i", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert text in proc.stdout
    group = choreo.last_run()["outcome"]["groups"][0]
    assert group[{"failed": "failed", "crashed": "crashed"}[column]] == 2
    assert group["ok"] == 0
    assert "0/2" in proc.stdout


def test_crash_shows_traceback_and_silent_exit_shows_stderr_tail(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", FAILURE, "--case", "crash", "-i", "1")
    assert "Traceback" in proc.stdout and "missing-key" in proc.stdout
    proc = choreo("run", "single", "--plan", FAILURE, "--case", "silent-exit", "-i", "1")
    assert "leaving without a word" in proc.stdout


def test_one_failing_instance_fails_the_run(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", FAILURE, "--case", "one-fails", "-i", "3")
    assert proc.returncode == 1
    assert "2/3" in proc.stdout and "single/1 failure: instance 1 disagrees" in proc.stdout


def test_async_test_function(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", FAILURE, "--case", "async-ok", "-i", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_timeout_stops_every_instance(choreo: Choreo) -> None:
    started = time.monotonic()
    proc = choreo("run", "single", "--plan", FAILURE, "--case", "hang", "-i", "3", "--timeout", "3")
    assert proc.returncode == 1
    assert time.monotonic() - started < 30
    assert "timeout after 3s" in proc.stdout
    record = choreo.last_run()
    assert record["stop_reason"] == "timeout after 3s"
    assert {i["status"] for i in record["outcome"]["instances"].values()} == {"stopped"}
    pids = _hanging_pids(choreo.runs()[-1], 3, timeout=1)
    assert not any(_pid_alive(p) for p in pids)


def test_fail_fast_ends_the_run_at_the_first_failure(choreo: Choreo) -> None:
    started = time.monotonic()
    proc = choreo(
        "run",
        "single",
        "--plan",
        FAILURE,
        "--case",
        "hang",
        "-i",
        "4",
        "--tp",
        "fail_index=2",
        "--fail-fast",
        "--timeout",
        "120",
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert elapsed < 20, f"fail-fast took {elapsed:.1f}s"
    assert "fail-fast: single/2 failure" in proc.stdout
    statuses = {k: v["status"] for k, v in choreo.last_run()["outcome"]["instances"].items()}
    assert statuses["single/2"] == "failure"
    assert sorted(v for k, v in statuses.items() if k != "single/2") == ["stopped"] * 3


def test_sigkilled_instance_is_a_crash_at_once_and_fail_fast_ends_the_run(choreo: Choreo) -> None:
    proc = choreo.popen(
        "run",
        "single",
        "--plan",
        FAILURE,
        "--case",
        "hang",
        "-i",
        "3",
        "--fail-fast",
        "--timeout",
        "120",
    )
    try:
        run_dir = _wait_run_dir(choreo)
        victim, *others = _hanging_pids(run_dir, 3)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert time.monotonic() - killed_at < 15
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "crash: exited without an outcome event (killed by SIGKILL)" in out
    assert "fail-fast" in out
    assert not any(_pid_alive(p) for p in others)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_the_run_and_says_so(choreo: Choreo, sig: signal.Signals) -> None:
    proc = choreo.popen("run", "single", "--plan", FAILURE, "--case", "hang", "-i", "2")
    try:
        pids = _hanging_pids(_wait_run_dir(choreo), 2)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert f"interrupted by {sig.name}" in out
    assert choreo.last_run()["stop_reason"] == f"interrupted by {sig.name}"
    assert not any(_pid_alive(p) for p in pids)


def test_runner_killed_with_sigkill_leaves_no_orphans(choreo: Choreo) -> None:
    proc = choreo.popen("run", "single", "--plan", FAILURE, "--case", "hang", "-i", "3")
    try:
        pids = _hanging_pids(_wait_run_dir(choreo), 3)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.kill()
    assert not any(_pid_alive(p) for p in pids)
