"""The keeper of one run's containment: outlives the runner to sweep what it leaves.

Cgroups do not die with the process that made them, and ``PR_SET_PDEATHSIG`` reaches only
an instance's own process, not what it started. So each run starts this small process (in a
session of its own, ignoring terminal signals) holding the read end of a pipe whose write
end only the runner has. When the runner ends by any means, including SIGKILL, the pipe
reads end-of-file and the keeper kills everything in the run's cgroups, removes them, and
exits. On a normal end the runner has already emptied them and the keeper has nothing to do.

Without cgroups (an unprivileged runner on a host that delegates none) the keeper finds the
run's processes by the ``CHOREO_CELL`` variable every instance is started with, which its
descendants inherit: a best effort that a process clearing its environment escapes.

``python -m choreograph.runners._keeper_main VERSION MARKER [RUN_DIR …]``; stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from choreograph.runners.cgroups import remove_tree

MARKER_VAR = "CHOREO_CELL"


def marked_pids(marker: str, *, exact: bool = False) -> list[int]:
    """Processes whose environment holds ``CHOREO_CELL=<marker>/…`` (a run's instances), or
    exactly ``CHOREO_CELL=<marker>`` (one instance) with ``exact``."""
    needle = f"{MARKER_VAR}={marker}{'' if exact else '/'}".encode()
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        items = environ.split(b"\0")
        if needle in items if exact else any(item.startswith(needle) for item in items):
            found.append(int(entry))
    return found


def sweep_marked(marker: str, rounds: int = 5) -> int:
    """SIGKILL the run's marked processes, a few rounds to catch what forks meanwhile."""
    killed = 0
    for _ in range(rounds):
        pids = marked_pids(marker)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def main() -> None:
    version, marker, *dirs = sys.argv[1:]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    # Block until the runner closes the pipe (exits, crashes or is killed).
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    if dirs:
        remove_tree([Path(d) for d in dirs], int(version), wait_s=10.0)
    sweep_marked(marker)


if __name__ == "__main__":
    main()
