"""Resource sampling: each running instance's CPU % and RSS, without the plan doing anything.

Every ``interval`` seconds (run config ``sample_interval``, default 1 s, ``0`` disables;
a number of seconds or a duration such as ``"500ms"``) the sampler reads each instance's
usage (the instance and everything it started) and appends two records to
``resources.out`` in the instance's outputs folder, in the SDK's metric format::

    {"run":…,"group":…,"instance":"g/0","name":"cpu_percent","type":"gauge","unit":"%",
     "ts":…,"value":87.5}
    {… "name":"rss_bytes","type":"gauge","unit":"B", … "value":41943040}

A file of its own, not ``diagnostics.out``: that one belongs to the plan's process, and
two writers appending buffered chunks to one file could interleave partial lines.

CPU % is CPU time (user + system) over wall time since the previous sample (100 = one
core). Where the instance lives in a cgroup (see :mod:`choreograph.runners.cgroups`) both
figures are the cgroup's own counters: one file read each, exact even for processes that
came and went between samples, and RSS counts shared pages once. Otherwise psutil walks the
process tree: a process that appeared since the previous sample counts all its CPU time,
one that exited loses its last partial interval. Sampling runs in a worker thread so a run
with many instances does not stall the event loop that supervises them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from choreograph.errors import InputError
from choreograph.runners.supervise import Running
from choreograph.wire.durations import parse_duration_ns

DEFAULT_INTERVAL_S = 1.0
RESOURCES_FILE = "resources.out"


def sample_interval(run_config: Mapping[str, Any]) -> float:
    """``sample_interval`` from the run config, in seconds (0: do not sample)."""
    raw = run_config.get("sample_interval", DEFAULT_INTERVAL_S)
    try:
        seconds = (
            parse_duration_ns(raw) / 1e9
            if isinstance(raw, str)
            else float(raw)
            if isinstance(raw, int | float) and not isinstance(raw, bool)
            else -1.0
        )
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise InputError(
            f"run config sample_interval = {raw!r}: expected seconds ≥ 0 or a duration "
            "such as '500ms' (0 disables resource sampling)"
        )
    return seconds


class _Tree:
    """CPU accounting of one instance's process tree between samples."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.cpu: dict[int, float] = {}
        # The first sample covers the tree's whole life so far.
        self.wall = self.root.create_time()
        self.at = time.monotonic() - max(0.0, time.time() - self.wall)

    def sample(self) -> tuple[float, int]:
        """``(cpu %, rss bytes)`` since the previous call."""
        now, wall = time.monotonic(), time.time()
        procs = [self.root, *self.root.children(recursive=True)]
        used, rss, seen = 0.0, 0, {}
        for proc in procs:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    total = times.user + times.system
                    rss += proc.memory_info().rss
                    born_since = proc.create_time() >= self.wall - 0.01
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            before = self.cpu.get(proc.pid, 0.0 if born_since else total)
            used += max(0.0, total - before)
            seen[proc.pid] = total
        elapsed = max(now - self.at, 1e-6)
        self.cpu, self.at, self.wall = seen, now, wall
        return 100.0 * used / elapsed, rss


class _CellCounters:
    """CPU accounting of one instance's cgroup between samples."""

    def __init__(self, running: Running) -> None:
        cell = running.cell or (running.cage.cell if running.cage is not None else None)
        assert cell is not None
        self.cell = cell
        self.pid = running.pid
        # The first sample covers the instance's whole life so far.
        try:
            born = psutil.Process(running.pid).create_time()
        except psutil.Error:
            born = time.time()
        self.at = time.monotonic() - max(0.0, time.time() - born)
        self.cpu = 0.0

    def sample(self) -> tuple[float, int] | None:
        cpu, rss = self.cell.cpu_seconds(), self.cell.memory_bytes()
        if cpu is None or rss is None:
            return None
        now = time.monotonic()
        used = max(0.0, cpu - self.cpu)
        elapsed = max(now - self.at, 1e-6)
        self.cpu, self.at = cpu, now
        return 100.0 * used / elapsed, rss


class ResourceSampler:
    """Samples the instances ``running()`` names until cancelled."""

    def __init__(self, run_id: str, interval: float, instance_dir: Callable[[str], Path]) -> None:
        self.run_id = run_id
        self.interval = interval
        self.instance_dir = instance_dir
        self._trees: dict[str, _Tree | _CellCounters] = {}
        self.samples = 0

    async def run(self, running: Callable[[], Mapping[str, Running]]) -> None:
        if self.interval <= 0:
            return
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.sample_once, dict(running()))

    def sample_once(self, instances: Mapping[str, Running | int]) -> None:
        """One sample of each instance (given as its :class:`Running`, or just a pid)."""
        for key in list(self._trees):
            if key not in instances:
                del self._trees[key]
        for key, found in instances.items():
            running = found if isinstance(found, Running) else Running(found, None)
            if (figures := self._sample(key, running)) is not None:
                self._write(key, *figures)

    def _sample(self, key: str, running: Running) -> tuple[float, int] | None:
        counters = self._trees.get(key)
        if counters is not None and _pid_of(counters) != running.pid:
            counters = None
        if counters is None:
            try:
                if running.cell is not None or (
                    running.cage is not None and running.cage.cell is not None
                ):
                    counters = _CellCounters(running)
                    if counters.cell.cpu_seconds() is None or counters.cell.memory_bytes() is None:
                        counters = _Tree(running.pid)  # a layout without both counters
                else:
                    counters = _Tree(running.pid)
            except psutil.Error:
                return None
            self._trees[key] = counters
        try:
            return counters.sample()
        except psutil.Error:
            return None

    def _write(self, key: str, cpu: float, rss: int) -> None:
        group = key.rpartition("/")[0]
        ts = time.time_ns()
        head = {"run": self.run_id, "group": group, "instance": key}
        lines = [
            {**head, "name": "cpu_percent", "type": "gauge", "unit": "%", "ts": ts,
             "value": round(cpu, 2)},
            {**head, "name": "rss_bytes", "type": "gauge", "unit": "B", "ts": ts, "value": rss},
        ]  # fmt: skip
        folder = self.instance_dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / RESOURCES_FILE).open("a", encoding="utf-8") as out:
            out.write("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
        self.samples += 1


def _pid_of(counters: _Tree | _CellCounters) -> int:
    return counters.root.pid if isinstance(counters, _Tree) else counters.pid
