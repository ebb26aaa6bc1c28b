"""Run a build tool (npm, go, cargo, make…), streaming its output as progress and
keeping the tail for the error message when it fails."""

from __future__ import annotations

import asyncio
import shutil
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from choreograph.errors import BuildError

_TAIL_LINES = 40


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
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    lines: list[str] = []
    try:
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            lines.append(line)
            log(line)
        code = await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if code != 0:
        shown = "\n".join(tail)
        raise BuildError(f"{what}: `{' '.join(argv)}` failed with exit status {code}:\n{shown}")
    return "\n".join(lines)
