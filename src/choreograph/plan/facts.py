"""Facts runners report about instances. Outcomes are decided from these, elsewhere.

Runners and results are siblings that never import each other; they meet here.
"""

from __future__ import annotations

from dataclasses import dataclass

from choreograph.wire.events import Event


@dataclass(frozen=True)
class InstanceStarted:
    key: str
    pid: int
    at: float


@dataclass(frozen=True)
class InstanceEvent:
    """An event an instance printed on stdout (``channel="stdout"``) or published on
    ``run_events`` (``channel="sync"``)."""

    key: str
    event: Event
    channel: str


@dataclass(frozen=True)
class InstanceExited:
    key: str
    returncode: int
    """Negative: killed by that signal number (asyncio/subprocess convention)."""
    stderr_tail: str
    at: float


@dataclass(frozen=True)
class RunnerNote:
    """Progress of the runner itself (containers created, images started), shown live;
    not about any one instance's outcome."""

    message: str
    at: float


Fact = InstanceStarted | InstanceEvent | InstanceExited | RunnerNote
