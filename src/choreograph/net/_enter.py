"""Become a host of the data network: enter a named network namespace and a new UTS
namespace with this instance's hostname. Standard library only.

Used two ways. Imported, :func:`enter_host` runs in a child between fork and exec (plain
exec launches) and in threads that create sockets or devices inside a namespace
(:func:`in_netns`: ``setns`` moves only the calling thread). Run as a script — how the fork
server starts it, ``python _enter.py SCRIPT ARGS…`` — it enters the host named by
``CHOREO_NETNS`` and ``HOSTNAME``, then runs ``SCRIPT`` as ``__main__``, so Python plans
keep the fork server's preloaded interpreter.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def netns_path(name: str) -> str:
    return name if name.startswith("/") else f"{NETNS_DIR}/{name}"


def setns(path: str, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, nstype), f"setns {path}")
    finally:
        os.close(fd)


def enter_host(netns: str, hostname: str, userns: str = "", mntns: str = "") -> None:
    """Enter ``netns`` and a fresh UTS namespace named ``hostname`` (a single-threaded
    process: the child of a fork, before exec). Without root, the run's namespaces belong
    to a user namespace: ``userns`` and ``mntns`` (``/proc/<pid>/ns/…`` of the process that
    owns them) are entered first, and their owner may enter them without privileges."""
    if userns:
        cwd = os.getcwd()  # entering a mount namespace moves to its root
        setns(userns, CLONE_NEWUSER)
        setns(mntns, CLONE_NEWNS)
        os.chdir(cwd)
    setns(netns_path(netns))
    if hostname:
        _check(_libc.unshare(CLONE_NEWUTS), "unshare(CLONE_NEWUTS)")
        name = hostname.encode()
        _check(_libc.sethostname(name, len(name)), f"sethostname {hostname}")


def become_root_in_new_namespaces() -> None:
    """In a child before exec: become uid 0 of a new user namespace (mapped to our own
    uid, which needs no privilege) with its own mount and network namespaces."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET), "unshare(user, mnt, net)")
    for path, text in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"0 {uid} 1"),
        ("/proc/self/gid_map", f"0 {gid} 1"),
    ):
        with open(path, "w") as map_file:
            map_file.write(text)


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (the runner), so nothing outlives it."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@contextlib.contextmanager
def in_netns(netns: str) -> Iterator[None]:
    """Run the body with this thread in ``netns``; sockets and devices created there stay
    there. Call it from a worker thread, never the event loop's."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(netns_path(netns))
        try:
            yield
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back")
    finally:
        os.close(home)


def _main() -> None:
    import runpy

    env = os.environ
    enter_host(
        env["CHOREO_NETNS"],
        env.get("HOSTNAME", ""),
        env.get("CHOREO_USERNS", ""),
        env.get("CHOREO_MNTNS", ""),
    )
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    _main()
