"""The runner's side of the fork server (see ``_forkserver_main``): start it, ask it for
instances, and turn its reports into the same Launched shape as a plain exec.

Used for Python plans run by the host's interpreter, where interpreter start-up and
imports dominate launch time; and, with ``exec_mode=True`` and nothing preloaded, for every
other ``local:exec`` instance, so that the fork and the wait for the exec happen off the
engine's thread (see ``_forkserver_main``). The server dies with the runner (PDEATHSIG) and
its children die with it, so the no-orphan guarantee is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from choreograph.errors import InputError, RunnerError
from choreograph.runners.launch import (
    Launched,
    Process,
    close_quietly,
    die_with_parent,
    exec_limit_problem,
    output_readers,
    write_all,
)

PRELOAD = ("choreograph.sdk",)


class ForkServer:
    """One preloaded interpreter that forks instances on request. Use ``async with``.
    ``merge``: the server and its instances are marked for kernel same-page merging
    (:mod:`choreograph.runners.memory_merge`)."""

    def __init__(
        self,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        preload: Sequence[str] = PRELOAD,
        exec_mode: bool = False,
        merge: bool = False,
    ) -> None:
        self._python = python
        self._exec = exec_mode
        self._merge = merge
        self._env = dict(os.environ if env is None else env)
        self._preload = tuple(preload)
        self._sock: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._requests: dict[str, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._early_exits: dict[int, int] = {}
        self._ready: asyncio.Future[int] | None = None
        self._next_id = 0
        self._send_lock = asyncio.Lock()
        self._writable: asyncio.Future[None] | None = None

    async def __aenter__(self) -> ForkServer:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        ours.setblocking(False)
        env = dict(self._env, PYTHONUNBUFFERED="1")
        self._process = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "choreograph.runners._forkserver_main",
            str(theirs.fileno()),
            *(("--merge",) if self._merge else ()),
            *self._preload,
            env=env,
            pass_fds=(theirs.fileno(),),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=None,
            preexec_fn=die_with_parent,
        )
        theirs.close()
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_message)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), 30)
        except (TimeoutError, RunnerError):
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sock is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._sock.fileno())
            if self._writable is not None:  # a launch waits for room: it fails now
                loop.remove_writer(self._sock.fileno())
                if not self._writable.done():
                    self._writable.set_exception(OSError("the fork server stopped"))
            self._sock.close()
            self._sock = None
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
            self._process = None
        _fail_all((*self._requests.values(), *self._exits.values()), "the fork server stopped")

    def _on_message(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return
            if not data:
                self._server_gone()
                return
            self._dispatch(json.loads(data))

    def _server_gone(self) -> None:
        assert self._sock is not None
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        error = "the fork server exited unexpectedly"
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(RunnerError(error))
        _fail_all((*self._requests.values(), *self._exits.values()), error)

    async def _send(self, data: bytes, fds: list[int]) -> None:
        """One request, with its descriptors, to the server (the caller holds the send lock).

        The socket's buffer holds 278 requests here (its 208 KiB send buffer, each with its
        three descriptors): past that, while the server forks, a full socket is waited on
        for writability by one sender at a time, the others queued on the lock in order.
        Each launch polling it every millisecond instead took 18 % of the engine thread's
        samples in 1,000 Go launches (py-spy; 45,000 tries in a 0.3 s stall of 400), CPU
        the server needed to fork."""
        assert self._send_lock.locked()
        while True:
            if self._sock is None:
                raise OSError("the fork server stopped")
            try:
                socket.send_fds(self._sock, [data], fds)
                return
            except BlockingIOError:
                await self._until_writable(self._sock)

    async def _until_writable(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._writable = writable = loop.create_future()

        def ready() -> None:
            if not writable.done():
                writable.set_result(None)

        loop.add_writer(sock.fileno(), ready)
        try:
            await writable
        finally:
            self._writable = None
            if self._sock is sock:
                loop.remove_writer(sock.fileno())

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            assert self._ready is not None
            self._ready.set_result(message["ready"])
        elif "exited" in message:
            pid, code = int(message["exited"]), int(message["code"])
            future = self._exits.pop(pid, None)
            if future is None:
                self._early_exits[pid] = code
            elif not future.done():
                future.set_result(code)
        else:
            request = self._requests.pop(message["id"], None)
            if request is None or request.done():
                # Its launch was cancelled (the run stopped) while the server forked: no
                # one will run this instance, so it must not run at all.
                if "pid" in message:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(message["pid"]), signal.SIGKILL)
            elif "error" in message:
                request.set_exception(RunnerError(message["error"]))
            else:
                request.set_result(int(message["pid"]))

    def check(self, argv: tuple[str, ...], env: Mapping[str, str]) -> str | None:
        """Forking a Python plan: nothing to check (the request travels in a memfd and
        nothing is exec'd, so any size of environment works). Exec mode: the kernel's
        limits on an exec's arguments and environment, as for a plain exec."""
        return exec_limit_problem(argv, env) if self._exec else None

    async def spawn(
        self,
        key: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str,
        join: tuple[str, ...] = (),
    ) -> Launched:
        if self._sock is None:
            raise RunnerError("the fork server is not running")
        if self._exec and (problem := exec_limit_problem(argv, env)):
            raise InputError(f"cannot start instance {key}: {problem}")
        loop = asyncio.get_running_loop()
        self._next_id += 1
        rid = str(self._next_id)
        request: asyncio.Future[int] = loop.create_future()
        self._requests[rid] = request
        payload = json.dumps(
            {
                "id": rid,
                "argv": list(argv),
                "env": dict(env),
                "cwd": cwd,
                "join": list(join),
                "exec": self._exec,
            }
        ).encode()
        # The request rides in a memfd: a datagram is capped near 200 KiB (EMSGSIZE), and a
        # test param may be larger than that.
        # Its descriptors are made under the send lock: made first, 5,000 launches waiting
        # for their turn held five each and ran a run out of descriptors (EMFILE).
        fds: list[int] = []
        try:
            async with self._send_lock:
                fds.append(os.memfd_create("choreograph-request", os.MFD_CLOEXEC))
                fds.extend(os.pipe())
                fds.extend(os.pipe())
                body, out_r, out_w, err_r, err_w = fds
                write_all(body, payload)
                await self._send(json.dumps({"id": rid}).encode(), [out_w, err_w, body])
        except OSError as exc:
            self._requests.pop(rid, None)
            close_quietly(fds)
            raise RunnerError(f"cannot start instance {key}: fork server: {exc}") from exc
        except BaseException:
            self._requests.pop(rid, None)
            close_quietly(fds)
            raise
        close_quietly((out_w, err_w, body))
        try:
            pid = await request
        except BaseException as exc:
            close_quietly((out_r, err_r))
            if isinstance(exc, RunnerError):
                raise RunnerError(f"cannot start instance {key}: {exc}") from exc
            raise
        exit_code: asyncio.Future[int] = loop.create_future()
        if pid in self._early_exits:
            exit_code.set_result(self._early_exits.pop(pid))
        else:
            self._exits[pid] = exit_code
        stdout, stderr, transports = await output_readers(out_r, err_r)
        return Process(pid, stdout, stderr, exit_code, transports)


def _fail_all(futures: Iterable[asyncio.Future[int]], error: str) -> None:
    """Fail every pending future with ``error``, marked as retrieved: a launch cancelled
    with its run never awaits its own, and 5,000 of them logged "exception was never
    retrieved" 5,000 times."""
    for future in futures:
        if not future.done():
            future.set_exception(RunnerError(error))
            future.exception()
