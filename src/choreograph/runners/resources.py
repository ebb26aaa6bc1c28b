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
core; the first sample covers the instance's life so far). Where the instance lives in a
cgroup (see :mod:`choreograph.runners.cgroups`) both figures are the cgroup's own counters:
one file read each, exact even for processes that came and went between samples, and RSS
counts shared pages once. Otherwise each instance's process tree is walked in one scan of
the process table per interval: a process that appeared since the previous sample counts
all its CPU time, one that exited loses its last partial interval. What is read, and what
each way costs, is in :mod:`choreograph.runners.resource_readers`.

A tree that is gone is never recorded, in particular never as zero memory: a sample whose
memory is 0 is skipped (every process has exited, while its cgroup still exists with empty
counters until the supervisor removes it; a zombie's memory is 0), and the series ends for
good once the instance's root process is gone (a zombie, or not in the process table, or
its cgroup's files answer ``ENODEV``/``ENOENT``).

Schedule: a thread of the sampler's own sleeps to absolute due times, ``start + n ·
interval``, so time spent sampling and late wake-ups never shift later samples; a tick more
than one interval late is skipped (``statistics()["missed_ticks"]``), not served in a burst.
Each tick reads the series under way first, then follows who runs (asked of the event loop,
whose answer it awaits for 5 % of the interval at most: a busy loop delays who is sampled,
never when). Beginning a series costs ~10 samples (its file is created: 0.2 ms of CPU), so
new ones begin for half an interval per tick at most. Spreading the instances over
``slots`` per interval is possible, not the default: with 2,000 cgroup instances 20 slots
cost 5.4 to 5.9 % of a core against 4.4 to 4.9 % for one, and the event loop woke no more
punctually (lag p99 3.6 to 4.2 ms against 2.9 to 3.8), the thread giving up the GIL at
every read. At that size every instance is sampled every 1 s ± 1 to 3 %, for 4.0 to 4.8 %
of one core with cgroups and 3.4 to 3.5 % without (``bench/sampling_bench.py``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from choreograph.runners.resource_readers import FdBudget, ProcScanner
from choreograph.runners.resource_schedule import (
    DEFAULT_INTERVAL_S,
    Ask,
    Deadlines,
    run_in_thread,
    sample_interval,
    wait_on,
)
from choreograph.runners.resource_series import RESOURCES_FILE, Result, Series, begin, has_cell
from choreograph.runners.supervise import Running

__all__ = ["DEFAULT_INTERVAL_S", "RESOURCES_FILE", "ResourceSampler", "sample_interval"]

FIRST_SAMPLE_SLACK = 0.05
"""How late in its turn (a fraction of the turn) a new series may have its first sample."""


class ResourceSampler:
    """Samples the instances ``running()`` names until cancelled.

    ``slots`` spreads each interval's reads (not by default: see above); ``clock`` and
    ``wait`` are its thread's time, for tests to replace; ``fd_budget`` bounds the files it
    keeps open.
    """

    def __init__(
        self,
        run_id: str,
        interval: float,
        instance_dir: Callable[[str], Path],
        *,
        slots: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Event, float], bool] = wait_on,
        fd_budget: FdBudget | None = None,
    ) -> None:
        self.run_id = run_id
        self.interval = interval
        self.instance_dir = instance_dir
        self.slots = max(1, slots or 1)
        self._clock, self._wait = clock, wait
        self._budget = fd_budget or FdBudget()
        self._scanner = ProcScanner(self._budget)
        self._keys: dict[str, int] = {}  # every instance seen running → its pid
        self._by_slot: list[dict[str, Series | Running]] = [{} for _ in range(self.slots)]
        self._trees: dict[str, Series] = {}  # read from the process table
        self._waiting: dict[str, Series | Running] = {}  # for the above, not yet begun
        self._deadlines = Deadlines(interval / self.slots, 0.0, interval)
        self.samples = 0
        self._gone = 0

    async def run(self, running: Callable[[], Mapping[str, Running]]) -> None:
        """Sample until cancelled (not at all for an interval of 0)."""
        if self.interval > 0:
            await run_in_thread("choreo-sampler", self._work, lambda: dict(running()))

    def _work(self, ask: Ask[dict[str, Running]], stop: threading.Event) -> None:
        """The sampler's thread: at each due time read the series under way, then follow
        who runs (asked of the event loop once per interval; its answer is awaited only
        within the slack of a first sample, so a busy loop delays who is sampled, never
        when); close every file on the way out."""
        step = self.interval / self.slots
        self._deadlines = ticks = Deadlines(step, self._clock(), self.interval)
        period, answer = -1, None
        try:
            while True:
                n, due = ticks.next(self._clock())
                if self._wait(stop, due - self._clock()):
                    return
                if answer is None and n // self.slots != period:
                    period, answer = n // self.slots, ask()
                    if answer is None:  # the event loop is closed
                        return
                self._read(n % self.slots)
                instances = None
                if answer is not None:
                    with contextlib.suppress(TimeoutError):
                        slack = due + step * FIRST_SAMPLE_SLACK - self._clock()
                        instances, answer = answer.result(timeout=max(0.0, slack)), None
                self._follow(n % self.slots, instances, due)
        finally:
            self.close()

    def sample_once(self, instances: Mapping[str, Running | int]) -> None:
        """One sample of each instance (given as its :class:`Running`, or just a pid), now.
        Files may stay open until :meth:`close`."""
        self._follow(0, {k: v if isinstance(v, Running) else Running(v, None)
                         for k, v in instances.items()}, None)  # fmt: skip
        for slot in range(self.slots):
            self._read(slot)

    def statistics(self) -> dict[str, int]:
        """Counts for debugging, safe to ask from another thread while it samples."""
        groups = (self._waiting, *self._by_slot)
        # list() copies a dict's values in one step, which its thread cannot interleave.
        waiting = sum(isinstance(item, Running) for g in groups for item in list(g.values()))
        return {
            "instances": len(self._keys),
            "waiting": waiting,  # to begin their series
            "samples": self.samples,
            "gone_skipped": self._gone,
            "missed_ticks": self._deadlines.missed,
            "slots": self.slots,
            "open_files": self._budget.held,
        }

    def close(self) -> None:
        for key in list(self._keys):
            self._forget(key)
        self._scanner.close()

    def _read(self, slot: int) -> None:
        """Sample the series under way in ``slot``; at slot 0, the trees too."""
        for key, item in list(self._by_slot[slot].items()):
            if isinstance(item, Series):
                self._count(key, item.sample_cell())
        if slot == 0 and self._trees:  # processes without a cgroup: one scan of them all
            table = self._scanner.scan()
            now = time.clock_gettime(time.CLOCK_BOOTTIME)
            for key, tree in list(self._trees.items()):
                self._count(key, tree.sample_tree(table, now))
            self._scanner.follow({pid for tree in self._trees.values() for pid, _ in tree.tree_cpu})

    def _follow(
        self, slot: int, instances: Mapping[str, Running] | None, due: float | None
    ) -> None:
        """Follow who runs (when ``instances`` is given) and begin new series: for half a
        slot at most (at least one), the rest at a later turn. A new series in ``slot``
        has its first sample now if that is within the slack of ``due``, else at its next
        turn: never an interval cut short. ``due`` None: begin every series, sample none."""
        if instances is not None:
            self._reconcile(instances, slot)
        if due is None:
            for group in (self._waiting, *self._by_slot):
                self._begin(group, None)
            return
        step = self.interval / self.slots
        until = self._clock() + step / 2
        for key, series in self._begin(self._by_slot[slot], until):
            if self._clock() <= due + step * FIRST_SAMPLE_SLACK:
                self._count(key, series.sample_cell())
        self._begin(self._waiting, until)  # read from the next scan on

    def _reconcile(self, instances: Mapping[str, Running], slot: int) -> None:
        """Follow who runs. A new instance with a cgroup waits in the least loaded slot
        (the nearest first) for its series to begin there and keeps that slot; one
        without is read from the scan at slot 0."""
        for key, pid in list(self._keys.items()):
            if key not in instances or instances[key].pid != pid:
                self._forget(key)
        loads = self._by_slot
        for key, running in instances.items():
            if key in self._keys:
                continue
            self._keys[key] = running.pid
            if not has_cell(running):
                self._waiting[key] = running
                continue
            best = min(range(self.slots), key=lambda s: (len(loads[s]), (s - slot) % self.slots))
            loads[best][key] = running

    def _begin(
        self, group: dict[str, Series | Running], until: float | None
    ) -> list[tuple[str, Series]]:
        """Begin the series waiting in ``group`` while there is time (see _sample_slot);
        those with cgroup counters stay there, the others join the trees."""
        begun: list[tuple[str, Series]] = []
        tried = 0
        for key, item in list(group.items()):
            if isinstance(item, Series):
                continue
            if tried and until is not None and self._clock() >= until:
                break
            tried += 1
            series = begin(self.run_id, key, item, self.instance_dir(key), self._budget)
            if series is None:  # already gone
                del group[key]
            elif series.cell is None:
                del group[key]
                self._trees[key] = series
            else:
                group[key] = series
                begun.append((key, series))
        return begun

    def _forget(self, key: str) -> None:
        self._keys.pop(key, None)
        self._end(key)

    def _end(self, key: str) -> None:
        """The series is over: close it and read nothing more for this pid."""
        if (tree := self._trees.pop(key, None)) is not None:
            tree.close()
        for group in (self._waiting, *self._by_slot):
            if isinstance(item := group.pop(key, None), Series):
                item.close()

    def _count(self, key: str, result: Result) -> None:
        if result == "written":
            self.samples += 1
        elif result == "empty":
            self._gone += 1
        else:
            self._end(key)
