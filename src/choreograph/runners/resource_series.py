"""One instance's resource series: where its figures come from, the previous reading that
CPU % is measured against, and the two lines each sample appends to ``resources.out``.

The rules for a tree that is gone live here (see :mod:`choreograph.runners.resources`):
memory 0 means nothing is left alive, so the sample is skipped (``"empty"``); a root process
that is no longer there, or a cgroup that was removed, ends the series (``"over"``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal

from choreograph.runners.launch import APPEND
from choreograph.runners.resource_readers import (
    CLK_TCK,
    CellCounters,
    FdBudget,
    ProcessTable,
    read_stat,
)
from choreograph.runners.supervise import Running

RESOURCES_FILE = "resources.out"

Result = Literal["written", "empty", "over"]


class Series:
    """The samples of one instance process (a new pid under the same key is a new series)."""

    __slots__ = ("_budget", "at", "cell", "cpu", "head", "out", "path", "pid", "start", "tree_cpu")

    def __init__(
        self,
        pid: int,
        start: int,
        cell: CellCounters | None,
        head: str,
        path: str,
        budget: FdBudget | None = None,
    ) -> None:
        self.pid, self.start, self.cell, self.head, self.path = pid, start, cell, head, path
        self._budget = budget
        # resources.out stays open when the budget allows (writes cost 2.3 µs instead of
        # 6.3 µs for open, write, close); the counters' files have the first claim on it.
        self.out: int | None = None
        if budget is not None and budget.take(1):
            try:
                self.out = self._open()
            except OSError:
                budget.give(1)  # written per sample instead, which reports the error
        self.cpu = 0.0  # a new cgroup's counter starts at 0
        self.at = start / CLK_TCK  # seconds since boot: the first sample covers the life so far
        self.tree_cpu: dict[tuple[int, int], float] = {}

    def sample_cell(self) -> Result:
        """Read the cgroup's two counters and write a sample."""
        assert self.cell is not None
        try:
            figures = self.cell.read()
        except OSError:  # the cgroup was removed: the instance is over
            return "over"
        if figures is None or figures[1] == 0:
            return "empty"  # nothing left alive in it, not an instance using no memory
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        cpu, rss = figures
        self._write(100.0 * max(0.0, cpu - self.cpu) / max(now - self.at, 1e-6), rss)
        self.cpu, self.at = cpu, now
        return "written"

    def sample_tree(self, table: ProcessTable, now: float) -> Result:
        """Add up the process tree in ``table`` (read at ``now``, seconds since boot)."""
        root = table.stats.get(self.pid)
        if root is None or root.start != self.start or not root.alive:
            return "over"
        since = int(self.at * CLK_TCK) - 1
        used, rss, seen = 0.0, 0, {}
        for pid, stat in table.tree(self.pid):
            ident = (pid, stat.start)
            # New since the previous sample: all its CPU time is ours to count.
            before = self.tree_cpu.get(ident, 0.0 if stat.start >= since else stat.cpu)
            used += max(0.0, stat.cpu - before)
            seen[ident] = stat.cpu
            rss += stat.rss if stat.alive else 0
        if rss == 0:
            return "empty"
        self._write(100.0 * used / max(now - self.at, 1e-6), rss)
        self.tree_cpu, self.at = seen, now
        return "written"

    def close(self) -> None:
        if self.cell is not None:
            self.cell.close()
        if self.out is not None and self._budget is not None:
            os.close(self.out)
            self.out = None
            self._budget.give(1)

    def _write(self, cpu: float, rss: int) -> None:
        # Formatted by hand, as json.dumps would (floats by repr), from a head made once.
        ts, head = time.time_ns(), self.head
        lines = (
            f'{head},"name":"cpu_percent","type":"gauge","unit":"%","ts":{ts},'
            f'"value":{round(cpu, 2)!r}}}\n'
            f'{head},"name":"rss_bytes","type":"gauge","unit":"B","ts":{ts},"value":{rss}}}\n'
        )
        data = lines.encode()
        if self.out is not None:
            os.write(self.out, data)
            return
        fd = self._open()
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _open(self) -> int:
        try:
            return os.open(self.path, APPEND, 0o644)
        except FileNotFoundError:  # the supervisor makes the folder; without one, we do
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, APPEND, 0o644)


def begin(run_id: str, key: str, running: Running, folder: Path, budget: FdBudget) -> Series | None:
    """A series for a running instance, or None when its process is already gone."""
    stat = read_stat(running.pid)
    if stat is None or not stat.alive:
        return None
    counters = _counters(running, budget)
    head = {"run": run_id, "group": key.rpartition("/")[0], "instance": key}
    return Series(
        running.pid,
        stat.start,
        counters,
        json.dumps(head, separators=(",", ":"))[:-1],
        str(folder / RESOURCES_FILE),
        budget,
    )


def has_cell(running: Running) -> bool:
    """Whether the instance has cgroup counters to read (else its tree is walked)."""
    return _files(running) is not None


def _files(running: Running) -> tuple[tuple[str, int], tuple[str, int]] | None:
    cell = running.cell or (running.cage.cell if running.cage is not None else None)
    return cell.counter_files() if cell is not None else None


def _counters(running: Running, budget: FdBudget) -> CellCounters | None:
    """The instance's cgroup counters, or None when it has none to read (walk its tree)."""
    files = _files(running)
    if files is None:
        return None
    try:
        counters = CellCounters(files, budget)
    except OSError:
        return None
    try:
        if counters.read() is not None:
            return counters
    except OSError:
        pass
    counters.close()  # a layout without both figures, or a cgroup already gone
    return None
