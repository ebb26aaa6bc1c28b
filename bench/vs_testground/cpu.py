"""Where a whole run's CPU goes: the tool's own processes, or the plan's instances.

Both tools start the same Go binary per instance, and on this 2-core box a run of 1,000
placebo instances is mostly the instances' own CPU (Go runtime start, sdk-go's set-up, its
sync connection); the wall time alone cannot say how much of a difference is the tool.

* **Choreograph**: ``choreo run`` is the tool (its engine, embedded sync service, sampler)
  and so are its fork servers; the instances are the fork servers' children. The fork
  servers are watched while the run goes (their own CPU and their reaped children's); the
  ``choreo`` process is waited for without reaping it, so its own CPU and its children's
  are read whole from ``/proc`` before it goes.
* **Testground**: the tool is the ``testground`` CLI, its daemon and its Go sync service;
  the instances are the daemon's children. Deltas of the daemon's and the service's own CPU
  and the daemon's reaped children's, around the run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

TICK_S = 0.05


@dataclass(frozen=True)
class Measured:
    wall: float
    tool_cpu: float  # seconds of CPU of the tool's own processes
    instances_cpu: float  # seconds of CPU of the plan's instances


def _own(times: Any) -> float:
    return float(times.user + times.system)


def _reaped(times: Any) -> float:
    return float(times.children_user + times.children_system)


def run_choreo(
    argv: Sequence[str], env: dict[str, str], timeout: float
) -> tuple[Measured, subprocess.CompletedProcess[str]]:
    """Run ``argv`` (a ``choreo run``) and split its CPU; its output (stdout and stderr,
    to a temporary file: a pipe nobody reads while we poll could fill and stall it) is in
    the completed process's ``stdout``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            list(argv), env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        root = psutil.Process(proc.pid)
        servers: dict[int, tuple[float, float]] = {}  # pid -> (own, reaped) last seen
        deadline = started + timeout
        while True:
            _watch_fork_servers(root, servers)
            # WNOWAIT: the process stays a zombie, its /proc figures final and readable.
            done = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if done is not None:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(list(argv), timeout)
            time.sleep(TICK_S)
        wall = time.perf_counter() - started
        final = root.cpu_times()
        code = proc.wait()
        out.seek(0)
        text = out.read()
    instances = sum(reaped for _, reaped in servers.values())
    tool = _own(final) + _reaped(final) - instances
    completed = subprocess.CompletedProcess(list(argv), code, text, "")
    return Measured(wall, tool, instances), completed


def _watch_fork_servers(root: psutil.Process, seen: dict[int, tuple[float, float]]) -> None:
    try:
        children = root.children()
    except psutil.Error:
        return
    for child in children:
        try:
            if child.pid not in seen and "_forkserver_main" not in " ".join(child.cmdline()):
                continue
            times = child.cpu_times()
        except psutil.Error:
            continue  # gone: its last figures stand
        seen[child.pid] = (_own(times), _reaped(times))


class DaemonCpu:
    """CPU deltas of Testground's daemon (own, and its reaped instances') and sync service."""

    def __init__(self, daemon_pid: int, service_pid: int) -> None:
        self.daemon = psutil.Process(daemon_pid)
        self.service = psutil.Process(service_pid)

    def snapshot(self) -> tuple[float, float, float]:
        d, s = self.daemon.cpu_times(), self.service.cpu_times()
        cli = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _own(d) + _own(s), _reaped(d), cli.ru_utime + cli.ru_stime

    @staticmethod
    def split(
        before: tuple[float, float, float], after: tuple[float, float, float], wall: float
    ) -> Measured:
        tool = (after[0] - before[0]) + (after[2] - before[2])  # daemon + service + the CLI
        return Measured(wall, tool, after[1] - before[1])
