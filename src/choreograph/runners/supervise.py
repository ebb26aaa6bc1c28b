"""Spawn instance processes, tee their output, report exit facts, and kill whole trees.

Every instance runs in its own session (process group) so one ``killpg`` reaches
everything it started, and with ``PR_SET_PDEATHSIG`` so that even a SIGKILL of the
runner itself takes the instances down: no orphan survives a run, whatever happens.
Output is appended to ``run.out``/``run.err`` as it arrives (nothing lost on a crash;
append because sdk-js also writes its log lines to ``run.out`` itself);
stdout lines that are events are parsed and reported the moment they are complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from choreograph.plan.facts import Fact, InstanceEvent, InstanceExited, InstanceStarted
from choreograph.runners.launch import ExecLauncher, Launcher
from choreograph.wire.events import parse_line

_STDERR_TAIL_LINES = 20
_CHUNK = 65536


class Supervisor:
    """Owns the processes of one run on this host."""

    def __init__(self, report: Callable[[Fact], None], launcher: Launcher | None = None) -> None:
        self._report = report
        self._launcher: Launcher = launcher or ExecLauncher()
        self._pgids: dict[str, int] = {}
        self._running: set[str] = set()

    async def run_instance(
        self,
        key: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str,
        out_dir: Path,
        launcher: Launcher | None = None,
    ) -> int:
        """Start one instance and return its exit code once it and its pipes are done."""
        out_dir.mkdir(parents=True, exist_ok=True)
        proc = await (launcher or self._launcher).spawn(key, argv, env, cwd)
        self._pgids[key] = proc.pid
        self._running.add(key)
        self._report(InstanceStarted(key=key, pid=proc.pid, at=time.time()))
        tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(
                    _tee(proc.stdout, out_dir / "run.out", lambda line, _: self._parse(key, line))
                )
                tg.create_task(
                    _tee(
                        proc.stderr,
                        out_dir / "run.err",
                        lambda line, complete: tail.append(
                            line.decode("utf-8", "replace") + ("\n" if complete else "")
                        ),
                    )
                )
                returncode = await proc.wait()
        finally:
            self._running.discard(key)
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

    def running_pids(self) -> dict[str, int]:
        """Key → pid of the instances still running (what the resource sampler walks)."""
        return {key: self._pgids[key] for key in self._running}

    def signal_all(self, sig: int) -> None:
        for pgid in self._pgids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)

    async def stop_all(self, grace_s: float) -> None:
        """SIGTERM every instance's group, then SIGKILL what is left after ``grace_s``."""
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.signal_all(signal.SIGKILL)


async def _tee(
    stream: asyncio.StreamReader, path: Path, on_line: Callable[[bytes, bool], None]
) -> None:
    """Append ``stream`` to ``path`` as it arrives (flushed: nothing lost on a crash) and
    hand each line to ``on_line`` (``complete`` is False only for a last unterminated one)."""
    pending = b""
    with path.open("ab") as out:
        while chunk := await stream.read(_CHUNK):
            out.write(chunk)
            out.flush()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line, True)
        if pending:
            on_line(pending, False)
