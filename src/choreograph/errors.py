"""The one exception hierarchy of Choreograph (stdlib only, importable by the SDK).

Exceptions are for when Choreograph itself cannot do what was asked; a failing
test is data (an outcome), never an exception.

    ChoreographError
    ├── InputError                 the user gave us something we cannot use
    │   ├── PlanError              manifest / composition / params invalid (carries Issues)
    │   ├── PlanNotFoundError
    │   └── RunNotFoundError
    ├── ProtocolError              a sync-service frame that breaks the wire protocol
    ├── SyncError                  the sync service answered with an error, or went away
    ├── BuildError                 a builder could not produce an artifact
    ├── RunnerError                a runner could not start or supervise instances
    └── HostError                  this host cannot do what was asked (a port in use, …)
"""

from __future__ import annotations

from dataclasses import dataclass


class ChoreographError(Exception):
    """Base of every exception Choreograph raises on purpose."""


class InputError(ChoreographError):
    """Something the user supplied (file, flag, name) cannot be used as given."""


@dataclass(frozen=True)
class Issue:
    """One validation problem, located precisely enough for the user to fix it.

    ``line`` is 1-based and ``None`` when the source gives no position (a ``--tp``
    flag, an environment variable).
    """

    source: str
    field: str
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.problem}"


class PlanError(InputError):
    """A manifest, composition or parameter is invalid; every issue is reported at once."""

    def __init__(self, issues: list[Issue] | Issue) -> None:
        self.issues: list[Issue] = [issues] if isinstance(issues, Issue) else list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class PlanNotFoundError(InputError):
    """No plan by that name in the home folder, and no folder at that path."""


class RunNotFoundError(InputError):
    """No run with that id (or unique id prefix) in the home folder."""


class ProtocolError(ChoreographError):
    """A sync-service frame is malformed. ``request_id`` is kept when the frame had one."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        self.request_id = request_id
        super().__init__(message)


class SyncError(ChoreographError):
    """The sync service reported an error for a request, or the connection to it was lost."""


class BuildError(ChoreographError):
    """A builder could not produce an artifact; the message carries the tool's own output."""


class RunnerError(ChoreographError):
    """A runner could not start or supervise the instances of a run."""


class HostError(ChoreographError):
    """The host cannot do what was asked, though the input is fine: a port already in use,
    a full disk. Kept apart from InputError because the fix is on the machine (stop the
    other process, free space), not in the plan or the flags, and scripts need to tell
    the two apart (the CLI exits 4, not 2)."""
