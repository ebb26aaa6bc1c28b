"""Spawn instance processes, tee their output, report exit facts, and kill whole instances.

Every instance runs in its own session, with ``PR_SET_PDEATHSIG``, inside a cage of the
run's :class:`~choreograph.runners.containment.RunContainment` (a cgroup where the host
allows): when its main process ends, whatever it started is killed with it, so its output
pipes close and the run never waits on a detached grandchild; a stop signals every process
of every instance; and the run's keeper sweeps the cages if the runner itself dies.
Output is appended to ``run.out``/``run.err`` as it arrives (nothing lost on a crash;
append because sdk-js also writes its log lines to ``run.out`` itself); stdout lines that
are events are parsed and reported the moment they are complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from choreograph.errors import InputError
from choreograph.plan.facts import Fact, InstanceEvent, InstanceExited, InstanceStarted
from choreograph.runners.cgroups import Cell
from choreograph.runners.containment import Cage, RunContainment
from choreograph.runners.launch import APPEND, ExecLauncher, Launcher, write_all
from choreograph.runners.resource_readers import FdBudget
from choreograph.wire.events import parse_line

_STDERR_TAIL_LINES = 20
_CHUNK = 65536
DRAIN_S = 2.0
"""After an instance is gone, how long its output may take to drain before we close it."""


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one instance."""

    key: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    out_dir: Path
    launcher: Launcher | None = None


@dataclass(frozen=True)
class Running:
    """A running instance, as the resource sampler sees it."""

    pid: int
    cage: Cage | None
    cell: Cell | None = None
    """Counters kept by someone else (a container's cgroups); else the cage's."""


class Supervisor:
    """Owns the processes of one run on this host."""

    def __init__(
        self,
        report: Callable[[Fact], None],
        launcher: Launcher | None = None,
        containment: RunContainment | None = None,
        admit: Callable[[], AbstractAsyncContextManager[object]] | None = None,
        fd_budget: FdBudget | None = None,
    ) -> None:
        """``admit``: a context around each launch until the instance has started; entering
        it waits until the instance may start (memory merging holds launches while memory
        is short and bounds how many are under way, see :meth:`Merging.admitted
        <choreograph.runners.memory_merge.Merging.admitted>`). ``fd_budget``: how many
        output files may stay open (past it, each write opens its file); unbounded if None."""
        self._budget = fd_budget
        self._report = report
        self._admit = admit
        self._stopping = False
        self._launcher: Launcher = launcher or ExecLauncher()
        self._containment = containment
        self._pids: dict[str, int] = {}
        self._cages: dict[str, Cage] = {}
        self._running: set[str] = set()

    def check(self, launches: Sequence[Launch]) -> None:
        """Refuse, before anything starts, a launch its launcher cannot perform."""
        for launch in launches:
            launcher = launch.launcher or self._launcher
            if problem := launcher.check(launch.argv, launch.env):
                raise InputError(
                    f"cannot start instance {launch.key}: {problem}. Pass large data through a "
                    "file (TEST_TEMP_PATH), or, for a Python plan, use the fork launcher"
                )

    async def run_all(
        self, launches: Sequence[Launch], stop: asyncio.Event, grace_s: float
    ) -> None:
        """Start every instance, stop them all when ``stop`` is set, return when all ended."""
        self.check(launches)
        try:
            await self._run_all(launches, stop, grace_s)
        except BaseExceptionGroup as group:
            # One instance that cannot start fails the run with its own error, not a group.
            first = group.exceptions[0]
            if isinstance(first, Exception) and not isinstance(first, BaseExceptionGroup):
                raise first from None
            raise

    async def _run_all(
        self, launches: Sequence[Launch], stop: asyncio.Event, grace_s: float
    ) -> None:
        async with asyncio.TaskGroup() as tg:
            instances = [
                tg.create_task(
                    self.run_instance(
                        launch.key,
                        launch.argv,
                        launch.env,
                        launch.cwd,
                        launch.out_dir,
                        launch.launcher,
                    )
                )
                for launch in launches
            ]
            watcher = tg.create_task(self._stop_when(stop, grace_s))
            if instances:
                await asyncio.wait(instances)
            watcher.cancel()

    async def _stop_when(self, stop: asyncio.Event, grace_s: float) -> None:
        await stop.wait()
        self._stopping = True
        await self.stop_all(grace_s)

    async def run_instance(
        self,
        key: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str,
        out_dir: Path,
        launcher: Launcher | None = None,
    ) -> int:
        """Start one instance and return its exit code once it and everything it started
        are gone."""
        os.makedirs(out_dir, exist_ok=True)
        admission = self._admit() if self._admit is not None else contextlib.nullcontext()
        async with admission:
            if self._admit is not None and self._stopping:
                # The run stopped while this one waited to start: it never does.
                self._report(InstanceExited(key, -signal.SIGKILL, "", time.time()))
                return -signal.SIGKILL
            cage = self._containment.cage(key) if self._containment is not None else None
            if cage is not None:
                env = {**env, **self._containment.env(cage)}  # type: ignore[union-attr]
            try:
                proc = await (launcher or self._launcher).spawn(
                    key, argv, env, cwd, cage.join_files if cage is not None else ()
                )
            except BaseException:
                if cage is not None:
                    cage.release()
                raise
        self._pids[key] = proc.pid
        if cage is not None:
            cage.pgid = proc.pid
            self._cages[key] = cage
        self._running.add(key)
        self._report(InstanceStarted(key=key, pid=proc.pid, at=time.time()))
        tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        try:
            tees = [
                asyncio.create_task(
                    _tee(
                        proc.stdout,
                        out_dir / "run.out",
                        self._budget,
                        lambda line, _: self._parse(key, line),
                    )
                ),
                asyncio.create_task(
                    _tee(
                        proc.stderr,
                        out_dir / "run.err",
                        self._budget,
                        lambda line, complete: tail.append(
                            line.decode("utf-8", "replace") + ("\n" if complete else "")
                        ),
                    )
                ),
            ]
            try:
                returncode = await proc.wait()
            finally:
                # The instance is over: so is everything it started (which may hold its
                # pipes open). Then let the output drain, briefly, and close what is left.
                if cage is not None:
                    await asyncio.to_thread(cage.release)
                else:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                _, pending = await asyncio.wait(tees, timeout=DRAIN_S)
                proc.close()
                if pending:
                    await asyncio.wait(pending, timeout=DRAIN_S)
                for task in tees:
                    if not task.done():
                        task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            self._running.discard(key)
            self._cages.pop(key, None)
        self._report(
            InstanceExited(
                key=key, returncode=returncode, stderr_tail="".join(tail), at=time.time()
            )
        )
        return returncode

    def _parse(self, key: str, raw: bytes) -> None:
        if b'"event"' not in raw:  # cheap pre-filter: most output is not an event
            return
        event = parse_line(raw.decode("utf-8", "replace"))
        if event is not None:
            self._report(InstanceEvent(key=key, event=event, channel="stdout"))

    @property
    def running(self) -> int:
        return len(self._running)

    def running_instances(self) -> dict[str, Running]:
        """Key → pid and cage of the instances still running (what the sampler reads)."""
        return {key: Running(self._pids[key], self._cages.get(key)) for key in self._running}

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process of every running instance."""
        for key in list(self._running):
            cage = self._cages.get(key)
            if cage is not None:
                cage.signal(sig)
            else:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._pids[key], sig)

    async def stop_all(self, grace_s: float) -> None:
        """SIGTERM every instance's processes, then kill what is left after ``grace_s``."""
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for key in list(self._running):
            cage = self._cages.get(key)
            if cage is not None:
                cage.kill()
        self.signal_all(signal.SIGKILL)


async def _tee(
    stream: asyncio.StreamReader,
    path: Path,
    budget: FdBudget | None,
    on_line: Callable[[bytes, bool], None],
) -> None:
    """Append ``stream`` to ``path`` as it arrives (unbuffered: nothing lost on a crash) and
    hand each line to ``on_line`` (``complete`` is False only for a last unterminated one).

    A raw file descriptor rather than ``Path.open``: two files per instance, and measured
    here, making the folder and opening, writing and closing one file costs 266 µs through
    pathlib and a buffered file, 56 µs through ``os``; at 2,000 instances that is a second
    of the event loop's time the launch of the others waits for. Kept open while
    ``budget`` allows (see :class:`_Sink`)."""
    pending = b""
    sink = _Sink(path, budget)
    try:
        while chunk := await stream.read(_CHUNK):
            sink.write(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line, True)
        if pending:
            on_line(pending, False)
    finally:
        sink.close()


class _Sink:
    """An output file, created at once and appended to: kept open while ``budget`` allows,
    else opened for each write (a run whose instances' pipes and connections take most
    of the descriptor limit, see :mod:`choreograph.runners.descriptors`)."""

    def __init__(self, path: Path, budget: FdBudget | None) -> None:
        self._path = path
        self._budget = budget
        fd = os.open(path, APPEND, 0o644)
        if budget is None or budget.take(1):
            self._fd: int | None = fd
        else:
            os.close(fd)
            self._fd = None

    def write(self, chunk: bytes) -> None:
        if self._fd is not None:
            write_all(self._fd, chunk)
            return
        fd = os.open(self._path, APPEND, 0o644)
        try:
            write_all(fd, chunk)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._budget is not None:
                self._budget.give(1)
