"""The fork server's own process: preload a Python plan's imports once, fork per instance.

Started by :mod:`choreograph.runners.forkserver` as
``python -m choreograph.runners._forkserver_main FD [--merge] MODULE…`` (``--merge``: mark
this process and every instance it forks for kernel same-page merging). A fresh interpreter that
imports asyncio and websockets costs ~120 ms of CPU here; a fork of one that already has
them costs ~2 ms and shares their memory. The preloaded objects are frozen out of the
garbage collector (``gc.freeze``) before each fork: a child's collections would otherwise
walk them and copy every page they sit on (an idle Python instance measured 7.6 MB PSS
without it, 6.6 MB with it, 200 instances of a plan waiting on a barrier). Stdlib only,
single-threaded (forking a threaded process is unsafe), so the children start clean.

Exec mode (``exec: true`` in a request): the child sets itself up the same way and then
execs ``argv`` with exactly ``env`` (``PATH`` searched in ``env``, as ``subprocess`` does).
Started without preloads, this is how ``local:exec`` launches every other instance (Go,
Node, generic binaries): the fork of this small process and the wait for the exec happen
here, on the other core, instead of in the engine's thread, where ``subprocess.Popen`` with
a ``preexec_fn`` (which forces a fork of the whole engine) cost 2.9 ms per instance of its
main thread (py-spy, 1,000 Go instances of Testground's ``placebo``). A failed exec is
reported as that request's error (the child is reaped here), as ``Popen`` raises it.

Wire: one SOCK_SEQPACKET socket. In: ``{"id"}`` with three file descriptors: stdout,
stderr, and a memfd holding the request ``{"id", "argv", "env", "cwd", "join", "exec"}``
(a memfd because a datagram cannot carry a large environment; ``join``: cgroup ``procs``
files the child moves itself into before anything else). Out: ``{"id", "pid"}`` or
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
import pkgutil  # noqa: F401  # what runpy.run_path imports: once here, not in every child
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_MEMORY_MERGE = 67
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


OOM_SCORE_ADJ = b"500"
"""This server and every instance it starts (inherited through fork and exec) are the
kernel's OOM killer's choice before ``choreo`` (score 0): a run that outgrows the host's
memory then loses instances, reported as crashed, instead of choreo and with it the whole
run (5,000 instances of ``examples/sync`` had choreo killed). Raising a score needs no
privilege. Docker does alike: its daemon runs at -500, containers at 0."""


def _prefer_for_oom() -> None:
    with contextlib.suppress(OSError):
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, OOM_SCORE_ADJ)
        finally:
            os.close(fd)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode())


def _setup(
    sock: socket.socket, wakeup: tuple[int, int], req: dict[str, Any], fds: list[int]
) -> None:
    """In the forked child: its own session, death with the server, stdio, cgroups, cwd."""
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
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, pid)
        os.close(fd)
    os.chdir(req["cwd"])


def _exec_child(
    sock: socket.socket,
    wakeup: tuple[int, int],
    req: dict[str, Any],
    fds: list[int],
    report: int,
) -> None:
    """In the forked child, exec mode: set up, exec; on any failure write why to
    ``report`` (close-on-exec: a successful exec closes it unwritten) and exit 127."""
    try:
        _setup(sock, wakeup, req, fds)
        # What an exec'd program expects, as subprocess restores it: Python ignores SIGPIPE
        # and SIGXFSZ, and this server ignores SIGINT; ignored dispositions survive exec.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        argv = req["argv"]
        os.execvpe(argv[0], argv, req["env"])
    except BaseException as exc:  # whatever it is, the server must hear of it
        with contextlib.suppress(Exception):
            os.write(report, f"{req['argv'][0]}: {exc}".encode()[:4000])
    os._exit(127)


def _child(
    sock: socket.socket, wakeup: tuple[int, int], req: dict[str, Any], fds: list[int]
) -> None:
    """In the forked child: become the instance, run its script, never return."""
    code: int = 1
    try:
        _setup(sock, wakeup, req, fds)  # an error here is printed to run.err, below
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
    _prefer_for_oom()
    modules = sys.argv[2:]
    if modules[:1] == ["--merge"]:  # memory_merge: see runners/memory_merge.py
        modules = modules[1:]
        _libc.prctl(_PR_SET_MEMORY_MERGE, 1, 0, 0, 0)  # checked by the runner beforehand
    for name in modules:
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
                _fork(sock, (wake_r, wake_w), req, fds)
            else:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            _reap(sock)


def _fork(
    sock: socket.socket, wakeup: tuple[int, int], req: dict[str, Any], fds: list[int]
) -> None:
    """Fork the instance of ``req`` and answer with its pid, or with why it did not start."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # what this server made since: out of the children's collections
    exec_mode = bool(req.get("exec"))
    report_r, report_w = os.pipe2(os.O_CLOEXEC) if exec_mode else (-1, -1)
    try:
        pid = os.fork()
    except OSError as exc:
        _send(sock, {"id": req["id"], "error": str(exc)})
        for fd in (*fds, report_r, report_w):
            if fd >= 0:
                os.close(fd)
        return
    if pid == 0:
        if exec_mode:
            os.close(report_r)
            _exec_child(sock, wakeup, req, fds, report_w)
        _child(sock, wakeup, req, fds)
    for fd in fds:
        os.close(fd)
    if exec_mode:
        os.close(report_w)
        failure = _read_all(report_r)
        if failure:
            os.waitpid(pid, 0)  # reaped here: the runner never learns this pid
            _send(sock, {"id": req["id"], "error": failure.decode(errors="replace")})
            return
    _send(sock, {"id": req["id"], "pid": pid})


def _read_all(fd: int) -> bytes:
    """Everything until EOF (the child's exec closed its end, or it wrote and exited)."""
    chunks = []
    try:
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


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
