"""How an instance process comes to life: a plain exec, or a fork of a preloaded server.

The supervisor only needs a pid, two output streams, an exit code and a way to close the
streams; launchers hide whether the process is our child (exec) or the fork server's (fork).
Either way the new process joins its cage (``join``: the cgroup ``procs`` files of
:mod:`choreograph.runners.containment`) before any plan code runs.

Exit codes are awaited through a pidfd registered with the event loop: no thread per child
(asyncio's default child watcher on 3.11 starts one per process, 1,000 threads for 1,000
instances).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from choreograph.errors import InputError, RunnerError
from choreograph.eventloop import pipe_file

_PR_SET_PDEATHSIG = 1
MAX_ARG_STRLEN = 32 * 4096
"""Linux's limit on one argument or one ``NAME=value`` environment string, NUL included."""

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - non-glibc platforms
    _libc = None


def die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL me when my parent dies, so even
    a SIGKILL of the runner takes its instances down."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def join_cage(procs_files: Sequence[str]) -> None:
    """In the new process: move myself into my cage's cgroups (a failure aborts the start,
    so that no instance ever runs uncontained)."""
    pid = str(os.getpid()).encode()
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
"""How an instance's output files are opened: created if need be, every write at the end."""


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may take part of it: a pipe, a socket)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def exec_limit_problem(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Why the kernel would refuse to exec ``argv`` with ``env`` (E2BIG), or None."""
    for name, value in env.items():
        size = len(name.encode()) + 1 + len(value.encode()) + 1
        if size > MAX_ARG_STRLEN:
            return (
                f"environment variable {name} is {size:,} bytes; Linux limits one variable "
                f"to {MAX_ARG_STRLEN:,} bytes (MAX_ARG_STRLEN) for a process started with exec"
            )
    for arg in argv:
        if len(arg.encode()) + 1 > MAX_ARG_STRLEN:
            size = len(arg.encode()) + 1
            return f"an argument is {size:,} bytes; Linux limits one to {MAX_ARG_STRLEN:,}"
    total = sum(len(a.encode()) + 9 for a in argv) + sum(
        len(k.encode()) + len(v.encode()) + 10 for k, v in env.items()
    )
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        return (
            f"arguments and environment take {total:,} bytes; this host limits them to "
            f"{limit:,} bytes (ARG_MAX, a quarter of the stack limit) for a process started "
            "with exec"
        )
    return None


class Launched(Protocol):
    pid: int
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    async def wait(self) -> int: ...

    def close(self) -> None:
        """Close our ends of the output pipes (something the instance left may hold the
        other ends open forever)."""
        ...


class Launcher(Protocol):
    def check(self, argv: tuple[str, ...], env: Mapping[str, str]) -> str | None:
        """Why this launcher cannot start ``argv`` with ``env``, before anything starts."""
        ...

    async def spawn(
        self,
        key: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str,
        join: tuple[str, ...] = (),
    ) -> Launched: ...


@dataclass
class Process:
    """A launched instance: its pid, output readers, and its exit code when it comes."""

    pid: int
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader
    exit_code: asyncio.Future[int] = field(repr=False)
    transports: list[asyncio.BaseTransport] = field(default_factory=list, repr=False)

    async def wait(self) -> int:
        return await asyncio.shield(self.exit_code)

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


async def output_readers(
    out_r: int, err_r: int
) -> tuple[asyncio.StreamReader, asyncio.StreamReader, list[asyncio.BaseTransport]]:
    """Stream readers over the read ends of an instance's stdout and stderr pipes."""
    loop = asyncio.get_running_loop()
    readers: list[asyncio.StreamReader] = []
    transports: list[asyncio.BaseTransport] = []
    for fd in (out_r, err_r):
        reader = asyncio.StreamReader(limit=1 << 20)
        transport, _ = await loop.connect_read_pipe(
            lambda r=reader: asyncio.StreamReaderProtocol(r),  # type: ignore[misc]
            pipe_file(fd),
        )
        readers.append(reader)
        transports.append(transport)
    return readers[0], readers[1], transports


def watch_exit(popen: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future for ``popen``'s exit code, resolved when its pidfd becomes readable."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(popen.pid)

    def ready() -> None:
        code = popen.poll()
        if code is None:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not future.done():
            future.set_result(code)

    loop.add_reader(pidfd, ready)
    return future


class ExecLauncher:
    """One fork+exec per instance, in its own session, in its cage, dying with the runner.

    ``preexec`` runs in the child after that set-up, before exec (a runner uses it to
    enter the instance's namespaces).
    """

    def __init__(self, preexec: Callable[[], None] | None = None, where: str = "") -> None:
        self._preexec = preexec
        self._where = f" in {where}" if where else ""

    def check(self, argv: tuple[str, ...], env: Mapping[str, str]) -> str | None:
        return exec_limit_problem(argv, env)

    async def spawn(
        self,
        key: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str,
        join: tuple[str, ...] = (),
    ) -> Launched:
        if problem := exec_limit_problem(argv, env):
            raise InputError(f"cannot start instance {key}: {problem}")

        def child_setup() -> None:
            die_with_parent()
            join_cage(join)
            if self._preexec is not None:
                self._preexec()

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                preexec_fn=child_setup,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            close_quietly((out_r, err_r))
            raise RunnerError(
                f"cannot start instance {key}{self._where}: {argv[0]}: {exc}"
            ) from exc
        finally:
            os.close(out_w)
            os.close(err_w)
        stdout, stderr, transports = await output_readers(out_r, err_r)
        return Process(popen.pid, stdout, stderr, watch_exit(popen), transports)


def close_quietly(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
