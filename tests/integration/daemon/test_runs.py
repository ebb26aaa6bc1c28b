"""Runs through a daemon started as a subprocess: the CLI through ``--endpoint`` prints
and exits as embedded, logs follow a live run, tasks are canceled, and a daemon killed
mid-run leaves nothing behind once restarted."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from tests.processes import alive

from choreograph.daemon.client import DaemonClient
from choreograph.daemon.schemas import Task, TaskRequest

from .conftest import EXAMPLES, DaemonProcess

_VARYING = [
    (re.compile(r"\d{8}-\d{6}-\w+"), "RUN"),
    (re.compile(r"\b\d+\.\ds\b"), "Ns"),  # durations, the run's own and the build's
    (re.compile(r"^build .*$", re.M), "BUILD"),  # cached or not depends on who built first
]


def _same(text: str) -> str:
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text


def _wait(daemon: DaemonClient, task_id: str, check: Any, timeout: float = 60) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = daemon.task(task_id)
        if check(task):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never got there: {daemon.task(task_id)}")


def _hang(daemon: DaemonClient, timeout_s: float = 120) -> str:
    request = TaskRequest(case="hang", instances=2, timeout_s=timeout_s)
    return daemon.submit(request, EXAMPLES / "failure")


def _hanging_pids(daemon: DaemonClient, task_id: str) -> list[int]:
    """The instances' pids, from their messages, once both have started."""
    pids: list[int] = []
    for event, data in daemon.events(task_id):
        if event == "progress" and data["type"] == "Message" and "hanging" in data["text"]:
            pids.append(int(data["text"].split()[1]))
            if len(pids) == 2:
                return pids
    raise AssertionError("the task ended before its instances hung")


def test_cli_through_the_daemon_prints_and_exits_as_embedded(started: DaemonProcess) -> None:
    for args, status in [
        (("--plan", str(EXAMPLES / "sync"), "--case", "all", "-i", "5"), 0),
        (("--plan", str(EXAMPLES / "failure"), "--case", "failure"), 1),
    ]:
        remote = started.choreo("run", "single", *args, "--metadata-branch", "main")
        embedded = started.choreo("run", "single", *args, endpoint=False)
        assert (remote.returncode, embedded.returncode) == (status, status), remote.stderr
        assert _same(remote.stdout) == _same(embedded.stdout)
        assert "group" in remote.stdout and "ok/total" in remote.stdout
    listed = started.choreo("tasks", "--branch", "main")
    assert listed.returncode == 0 and listed.stdout.count("complete") == 2
    bad = started.choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_log_follow_and_cancel_running(started: DaemonProcess) -> None:
    daemon = DaemonClient(started.url)
    task_id = _hang(daemon)
    lines: list[dict[str, Any]] = []
    ends: list[dict[str, Any]] = []

    def follow() -> None:
        for event, data in DaemonClient(started.url).logs(task_id, follow=True):
            (ends if event == "end" else lines).append(data)

    follower = threading.Thread(target=follow)
    follower.start()
    _hanging_pids(daemon, task_id)
    deadline = time.monotonic() + 20
    while not any("hanging" in line["text"] for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("hanging" in line["text"] for line in lines)  # shown while it runs
    assert not ends
    proc = started.choreo("terminate", "-t", task_id)
    assert proc.returncode == 0, proc.stderr
    task = _wait(daemon, task_id, lambda t: t.state == "canceled")
    follower.join(timeout=30)
    assert ends and ends[0]["state"] == "canceled"
    assert task.outcome == "canceled" and task.exit_code == 1
    status = started.choreo("status", "-t", task_id)
    assert "canceled by local" in status.stdout
    archive = started.home / "out.tgz"
    assert started.choreo("collect", "-t", task_id, "-o", str(archive)).returncode == 0
    assert archive.stat().st_size > 0


def test_restart_mid_run(daemon_process: DaemonProcess) -> None:
    daemon_process.start()
    daemon = DaemonClient(daemon_process.url)
    running = _hang(daemon)
    pids = _hanging_pids(daemon, running)
    queued = daemon.submit(TaskRequest(case="all", instances=3), EXAMPLES / "sync")
    assert daemon.task(queued).state == "scheduled"
    daemon_process.kill()  # SIGKILL: no chance to tidy up
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "instances outlived their daemon"
    daemon_process.start()
    task = daemon.task(running)
    assert (task.state, task.error) == ("canceled", "daemon restart")
    assert (daemon_process.home / "runs" / task.run_id / "run.json").is_file()  # kept
    finished = _wait(daemon, queued, lambda t: t.state == "complete")
    assert finished.outcome == "success" and finished.exit_code == 0
    check = daemon_process.choreo("healthcheck", "--runner", "local:exec", endpoint=False)
    assert check.returncode == 0, check.stdout
    assert "leftovers of dead runs: none" in check.stdout
    runs = daemon_process.choreo("runs", "list", endpoint=False).stdout
    assert "aborted" in runs


def test_build_task(started: DaemonProcess) -> None:
    daemon = DaemonClient(started.url)
    task_id = daemon.submit(TaskRequest(kind="build", case="all"), EXAMPLES / "sync")
    kinds = [data.get("type") for event, data in daemon.events(task_id) if event == "progress"]
    task = daemon.task(task_id)
    assert (task.state, task.outcome, task.exit_code) == ("complete", "success", 0)
    assert "BuildFinished" in kinds and "InstanceStarted" not in kinds
