"""Run a build tool (npm, go, cargo, make…), streaming its output as progress and
keeping the tail for the error message when it fails.

The tool runs in its own process group, and the build is over when the tool itself
exits: whatever it left behind (a background job, a daemon holding its output pipe) is
killed then, and so is the whole group when the build is interrupted. Otherwise a
leftover process could hold the build open, or outlive a cancelled run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from choreograph.errors import BuildError

_TAIL_LINES = 40
_EXIT_POLL_S = 0.05


async def run_tool(
    argv: Sequence[str],
    cwd: Path,
    log: Callable[[str], None],
    what: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv``; return its output, or raise BuildError naming ``what`` with the tail.

    ``what`` says whose build this is (plan and groups), so the message stands alone.
    """
    if shutil.which(argv[0], path=(env or {}).get("PATH")) is None and not Path(argv[0]).exists():
        raise BuildError(f"{what}: the build tool {argv[0]!r} is not installed (not on PATH)")
    proc = await _start(argv, cwd, env)
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    lines: list[str] = []

    async def pump(stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            lines.append(line)
            log(line)

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pump(proc.stdout))
            # proc.wait() also waits for the output pipe to close, which a leftover
            # process holds open: watch the tool's own exit instead.
            while proc.returncode is None:
                await asyncio.sleep(_EXIT_POLL_S)
            _kill_group(proc.pid)
            code = await proc.wait()
    except BaseException:
        _kill_group(proc.pid)
        await proc.wait()
        raise
    if code != 0:
        shown = "\n".join(tail)
        raise BuildError(f"{what}: `{' '.join(argv)}` failed with exit status {code}:\n{shown}")
    return "\n".join(lines)


async def _start(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None
) -> asyncio.subprocess.Process:
    """Start the tool in a process group of its own.

    Cancelled while starting, asyncio would kill the tool alone, not what it already
    started: so the start is shielded, completed, and the whole group killed instead.
    """
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            proc = await starting
            _kill_group(proc.pid)
            await proc.wait()
        raise


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
