"""Which exit status an exception stands for, decided once for every face of Choreograph:
the CLI exits with it, the daemon records it on the task so a client through
``--endpoint`` exits with the same status as an embedded run.

2 for bad input (plan, composition, flags, run ids), 3 for a failed build, 4 when the
host cannot do what was asked (a port in use, a full disk). Stdlib and errors only.
"""

from __future__ import annotations

import errno

from choreograph.errors import BuildError, ChoreographError, HostError

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_BUILD, EXIT_HOST = 0, 1, 2, 3, 4

# errno values that say the machine, not the input, is the problem. The sync service and
# other listeners wrap the OSError (``raise SyncError(...) from exc``), so the cause chain
# is searched too.
_HOST_ERRNOS = frozenset({errno.EADDRINUSE, errno.ENOSPC, errno.EDQUOT})


def host_problem(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is a HostError or an
    OSError such as "address already in use" or "no space left on device"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, HostError):
            return True
        if isinstance(seen, OSError) and seen.errno in _HOST_ERRNOS:
            return True
        seen = seen.__cause__
    return False


def exit_status(exc: BaseException) -> int | None:
    """The exit status for ``exc``; None when it is no error of the input, the build or
    the host (a bug: it should propagate)."""
    if host_problem(exc):
        return EXIT_HOST
    if isinstance(exc, BuildError):
        return EXIT_BUILD
    if isinstance(exc, ChoreographError):
        return EXIT_INPUT
    return None


def message(exc: BaseException) -> str:
    """What the user reads after ``error:`` for ``exc``."""
    return f"build failed: {exc}" if exit_status(exc) == EXIT_BUILD else str(exc)
