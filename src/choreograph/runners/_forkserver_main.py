"""The fork server's own process: preload a Python plan's imports once, fork per instance.

Started by :mod:`choreograph.runners.forkserver` as
``python -m choreograph.runners._forkserver_main FD MODULE…``. A fresh interpreter that
imports asyncio and websockets costs ~120 ms of CPU here; a fork of one that already has
them costs ~2 ms and shares their memory. The preloaded objects are frozen out of the
garbage collector (``gc.freeze``) before each fork: a child's collections would otherwise
walk them and copy every page they sit on (an idle Python instance measured 7.6 MB PSS
without it, 6.6 MB with it, 200 instances of a plan waiting on a barrier). Stdlib only,
single-threaded (forking a threaded process is unsafe), so the children start clean.

Wire: one SOCK_SEQPACKET socket. In: ``{"id"}`` with three file descriptors: stdout,
stderr, and a memfd holding the request ``{"id", "argv", "env", "cwd", "join"}`` (a memfd
because a datagram cannot carry a large environment; ``join``: cgroup ``procs`` files the
child moves itself into before anything else). Out: ``{"id", "pid"}`` or
``{"id", "error"}`` per request and ``{"exited": pid, "code": returncode}`` (negative:
killed by that signal) per child.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode())


def _child(
    sock: socket.socket, wakeup: tuple[int, int], req: dict[str, Any], fds: list[int]
) -> None:
    """In the forked child: become the instance, run its script, never return."""
    code: int = 1
    try:
        os.setsid()
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for fd in wakeup:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (devnull, *fds):
            os.close(fd)
        pid = str(os.getpid()).encode()
        for path in req.get("join", ()):
            fd = os.open(path, os.O_WRONLY)  # an error here is printed to run.err, below
            os.write(fd, pid)
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        script = req["argv"][1]
        sys.argv = list(req["argv"][1:])
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        # What interpreter shutdown would do: join non-daemon threads, run atexit.
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the pipe may be gone; exit regardless
                stream.flush()
        os._exit(code)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    _die_with_parent()
    for name in sys.argv[2:]:
        with contextlib.suppress(Exception):  # a failed preload only costs speed
            importlib.import_module(name)
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when instances stop
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    _send(sock, {"ready": os.getpid()})
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                data, fds, _, _ = socket.recv_fds(sock, 4096, 3)
                if not data:
                    return  # the runner closed the socket: we are done
                try:
                    req = _read_request(fds.pop())
                except (OSError, ValueError, IndexError) as exc:
                    _send(sock, {"id": json.loads(data)["id"], "error": f"bad request: {exc}"})
                    for fd in fds:
                        os.close(fd)
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                gc.freeze()  # what this server made since: out of the children's collections
                try:
                    pid = os.fork()
                except OSError as exc:
                    _send(sock, {"id": req["id"], "error": str(exc)})
                    for fd in fds:
                        os.close(fd)
                    continue
                if pid == 0:
                    _child(sock, (wake_r, wake_w), req, fds)
                for fd in fds:
                    os.close(fd)
                _send(sock, {"id": req["id"], "pid": pid})
            else:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            _reap(sock)


def _read_request(fd: int) -> dict[str, Any]:
    try:
        with os.fdopen(fd, "rb", closefd=False) as body:
            body.seek(0)
            request: dict[str, Any] = json.loads(body.read())
    finally:
        os.close(fd)
    return request


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
