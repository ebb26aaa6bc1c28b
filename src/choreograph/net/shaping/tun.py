"""The kernel pieces the userspace switch needs that the standard library lacks: TUN
devices and a nanosecond timer (``timerfd``).

Why a timerfd: ``epoll``'s timeout has millisecond resolution (``asyncio.sleep`` overshoots
to ~1 ms below that), which would add up to 2 ms to every round trip; an absolute timerfd
deadline in the same epoll set wakes the switch within tens of microseconds, and with
timer slack set to 1 ns (:func:`tight_timer_slack`) closer still.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import struct

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29

_libc = ctypes.CDLL(None, use_errno=True)


def open_tun(name: str, *, persist: bool = False) -> int:
    """A non-blocking file descriptor of a new TUN device ``name`` (IPv4 packets, no
    header) in the calling thread's network namespace.

    A device that does not ``persist`` disappears when its last descriptor is closed, one
    at a time: ~15 ms each here (every removal waits for the whole network stack to
    synchronise). One that persists is removed with its namespace, in one batch with every
    other device of the namespaces removed at the same time."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        if persist:
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
    except OSError:
        os.close(fd)
        raise
    return fd


def tight_timer_slack() -> None:
    """Let this thread's timers fire within 1 ns of their deadline (default slack: 50 µs)."""
    _libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


class Timer:
    """One absolute CLOCK_MONOTONIC deadline (``time.monotonic_ns`` units) on a timerfd."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_create: {os.strerror(errno)}")
        self.fd: int = fd
        self.armed_at = 0
        """The deadline set, 0 when disarmed."""
        self._spec = (ctypes.c_long * 4)()

    def arm(self, deadline_ns: int) -> None:
        spec = self._spec
        spec[2], spec[3] = divmod(max(deadline_ns, 1), 1_000_000_000)
        _libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, spec, None)
        self.armed_at = deadline_ns

    def clear(self) -> None:
        """Consume an expiry (the fd is readable once the deadline passed)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)
        self.armed_at = 0

    def close(self) -> None:
        os.close(self.fd)
