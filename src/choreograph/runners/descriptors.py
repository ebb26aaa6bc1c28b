"""Open files in ``choreo``'s own process, planned before a local run starts.

Why: ``choreo`` holds, for every running instance on this host, the read ends of its stdout
and stderr pipes and the server side of its sync connection (the embedded service): three
descriptors an instance it cannot do without, plus what it keeps open to be fast (the
instance's ``run.out`` and ``run.err``, the sampler's counters). Measured with 200 idle
instances: 406 pipes, 204 sockets, 400 output files. At 5,000 instances that came to ~25,000
against this host's limit of 20,000 (a hard limit root cannot raise without
``CAP_SYS_RESOURCE``), and the run failed with "Too many open files" at its 4,663rd launch.

So: the soft limit is raised to the hard one (as Go's runtime does at start), a run that
cannot fit its indispensable descriptors is refused before anything starts, and what is
left is one :class:`FdBudget` the output files and the sampler draw from; past it they open
their files per use (slower, never failing).
"""

from __future__ import annotations

import resource

from choreograph.errors import InputError
from choreograph.runners.resource_readers import FdBudget

PER_INSTANCE = 3
"""Descriptors an instance needs in ``choreo``: stdout and stderr pipes, sync connection."""
RESERVE = 1024
"""For everything else ``choreo`` opens: its own files, fork servers, builds, requests."""


def open_files_limit() -> int:
    """Raise this process's soft limit on open files to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


def plan_budget(instances: int, where: str) -> FdBudget:
    """The budget of files a run of ``instances`` may keep open beyond what each instance
    needs; :class:`InputError` when even those do not fit (``where``: the runner)."""
    limit = open_files_limit()
    if limit == resource.RLIM_INFINITY:
        return FdBudget(1 << 20)
    needed = instances * PER_INSTANCE + RESERVE
    if needed > limit:
        most = max(0, (limit - RESERVE) // PER_INSTANCE)
        raise InputError(
            f"{where}: {instances:,} instances need about {needed:,} open files in choreo "
            f"({PER_INSTANCE} each: the stdout and stderr pipes and the sync connection, "
            f"plus {RESERVE:,}), and this process may open {limit:,} (`ulimit -n`); at most "
            f"{most:,} instances fit. Raise the limit (e.g. `ulimit -n {needed:,}` as root, "
            "or LimitNOFILE in a systemd unit) or run fewer instances on this host"
        )
    return FdBudget(limit - needed)
