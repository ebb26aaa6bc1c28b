"""Typed progress events: the engine emits them, the CLI (or daemon) renders them.

Keeping them typed and free of formatting is what lets one engine serve a terminal,
a web dashboard and tests alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    run_dir: Path
    plan: str
    case: str
    runner: str
    groups: dict[str, int]


@dataclass(frozen=True)
class BuildFinished:
    builder: str
    build_id: str
    groups: tuple[str, ...]
    from_cache: bool
    seconds: float
    artifact: str = ""
    """What a run takes to reuse the build: the image of a ``docker:*`` build, else the
    build id (``--use-build``, Testground's ``generated build artifact``)."""


@dataclass(frozen=True)
class BuildLog:
    builder: str
    line: str


@dataclass(frozen=True)
class InstanceStarted:
    key: str


@dataclass(frozen=True)
class InstanceFinished:
    key: str
    status: str
    error: str
    detail: str


@dataclass(frozen=True)
class RunStopping:
    reason: str


@dataclass(frozen=True)
class Message:
    """An instance's ``message_event``, shown live."""

    key: str
    text: str


@dataclass(frozen=True)
class RunnerStatus:
    """What the runner is doing before instances run (e.g. containers created 40/100)."""

    text: str


@dataclass(frozen=True)
class RunWarning:
    """Something the user should know about the run that is not an instance's outcome
    (e.g. publishes the sync service refused)."""

    text: str


@dataclass(frozen=True)
class RunPulse:
    """Every second while instances run: time used and left before the run's timeout,
    and the barriers instances are waiting on, so a large run that hangs shows where.

    ``waits``: ``(state, signalled, target, waiting)`` per barrier target being waited on,
    most waiters first (at most :data:`PULSE_WAITS`): ``signalled`` instances have reached
    ``state`` and ``waiting`` barriers wait for it to reach ``target``."""

    elapsed_s: float
    timeout_s: float
    waits: tuple[tuple[str, int, int, int], ...] = ()


PULSE_WAITS = 5
"""Barriers a pulse names: enough to see a stuck one among a few concurrent phases."""


ProgressEvent = (
    RunnerStatus
    | RunStarted
    | BuildFinished
    | BuildLog
    | InstanceStarted
    | InstanceFinished
    | RunStopping
    | Message
    | RunWarning
    | RunPulse
)
ProgressSink = Callable[[ProgressEvent], None]


def discard(_: ProgressEvent) -> None:
    """A sink for callers that want no progress."""


_TYPES: dict[str, type[ProgressEvent]] = {
    cls.__name__: cls
    for cls in (
        RunnerStatus,
        RunStarted,
        BuildFinished,
        BuildLog,
        InstanceStarted,
        InstanceFinished,
        RunStopping,
        Message,
        RunWarning,
        RunPulse,
    )
}


def to_json(event: ProgressEvent) -> dict[str, Any]:
    """``event`` as a JSON object whose ``type`` names its class (the daemon records and
    streams events this way; :func:`from_json` reads them back)."""
    data = asdict(event)
    for name, value in data.items():
        if isinstance(value, Path):
            data[name] = str(value)
        elif isinstance(value, tuple):
            data[name] = list(value)
    return {"type": type(event).__name__, **data}


def from_json(data: dict[str, Any]) -> ProgressEvent:
    """The event :func:`to_json` wrote; ValueError for an unknown ``type``."""
    cls = _TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown progress event type {data.get('type')!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = data[f.name]
        # Annotations are strings here (postponed evaluation): enough to restore the two
        # types JSON does not keep.
        if f.type == "Path":
            value = Path(value)
        elif str(f.type).startswith("tuple"):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[f.name] = value
    return cls(**values)
