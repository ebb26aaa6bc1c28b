"""How an instance process comes to life: a plain exec, or a fork of a preloaded server.

The supervisor only needs a pid, two output streams and an exit code; launchers hide
whether the process is our child (exec) or the fork server's (fork).
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from choreograph.errors import RunnerError

_PR_SET_PDEATHSIG = 1

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - non-glibc platforms
    _libc = None


def die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL me when my parent dies, so even
    a SIGKILL of the runner takes its instances down."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Launched(Protocol):
    pid: int
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    async def wait(self) -> int: ...


class Launcher(Protocol):
    async def spawn(
        self, key: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: str
    ) -> Launched: ...


@dataclass
class _ExecProcess:
    process: asyncio.subprocess.Process
    pid: int
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    async def wait(self) -> int:
        return await self.process.wait()


class ExecLauncher:
    """One fork+exec per instance, in its own session, dying with the runner.

    ``preexec`` runs in the child after that set-up, before exec (a runner uses it to
    enter the instance's namespaces).
    """

    def __init__(self, preexec: Callable[[], None] | None = None, where: str = "") -> None:
        self._preexec = preexec
        self._where = f" in {where}" if where else ""

    def _child_setup(self) -> None:
        die_with_parent()
        if self._preexec is not None:
            self._preexec()

    async def spawn(
        self, key: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: str
    ) -> Launched:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=self._child_setup,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise RunnerError(
                f"cannot start instance {key}{self._where}: {argv[0]}: {exc}"
            ) from exc
        assert proc.stdout is not None and proc.stderr is not None
        return _ExecProcess(proc, proc.pid, proc.stdout, proc.stderr)
