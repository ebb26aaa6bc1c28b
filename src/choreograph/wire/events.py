"""Instance events: the one-key JSON objects Testground's SDKs emit, and their parsing.

An SDK writes each event as a JSON line on stdout, with the event under the key
``event``, and publishes the same object on the run's ``run_events`` topic. Choreograph's
SDK adds ``instance`` (``<group>/<index>``), ``seq`` (per-instance, from 1) and ``ts``
(Unix nanoseconds), which let the host attribute, order and deduplicate events; events
from foreign SDKs lack them and are attributed by the channel they arrive on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["start", "message", "success", "failure", "crash", "stage_start", "stage_end"]
KINDS: tuple[EventKind, ...] = (
    "start",
    "message",
    "success",
    "failure",
    "crash",
    "stage_start",
    "stage_end",
)
TERMINAL: frozenset[str] = frozenset({"success", "failure", "crash"})


@dataclass(frozen=True)
class Event:
    kind: EventKind
    group: str = ""
    error: str = ""
    stacktrace: str = ""
    message: str = ""
    name: str = ""
    runenv: dict[str, Any] | None = None
    instance: str = ""
    seq: int | None = None
    ts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL

    def body(self) -> dict[str, Any]:
        """The one-key object ``{"<kind>_event": {...}}`` as Testground's SDKs write it."""
        inner: dict[str, Any]
        if self.kind == "start":
            inner = {"runenv": self.runenv or {}}
        elif self.kind == "message":
            inner = {"message": self.message}
        elif self.kind == "success":
            inner = {"group": self.group}
        elif self.kind == "failure":
            inner = {"group": self.group, "error": self.error}
        elif self.kind == "crash":
            inner = {"group": self.group, "error": self.error, "stacktrace": self.stacktrace}
        else:
            inner = {"name": self.name, "group": self.group}
        return {f"{self.kind}_event": inner}

    def to_payload(self) -> dict[str, Any]:
        """What Choreograph's SDK publishes on ``run_events``: the body plus attribution."""
        out = self.body()
        if self.instance:
            out["instance"] = self.instance
        if self.seq is not None:
            out["seq"] = self.seq
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    def to_line(self) -> str:
        """The stdout JSON line: attribution at the top level, the event under ``event``."""
        line: dict[str, Any] = {}
        if self.ts is not None:
            line["ts"] = self.ts
        if self.seq is not None:
            line["seq"] = self.seq
        if self.instance:
            line["instance"] = self.instance
        line["event"] = self.body()
        return json.dumps(line, separators=(",", ":"), default=str)


# sdk-go before the one-key form used {"type": "...", ...}; accept both spellings.
_LEGACY_TYPES: dict[str, EventKind] = {
    "start": "start",
    "message": "message",
    "finish": "success",
    "success": "success",
    "failure": "failure",
    "crash": "crash",
    "stage_start": "stage_start",
    "stage_end": "stage_end",
}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return None


def parse_event(obj: Any, envelope: dict[str, Any] | None = None) -> Event | None:
    """Read one event object (the value under ``event``, or a ``run_events`` payload).

    ``envelope`` is the surrounding stdout line, where attribution (``instance``, ``seq``,
    ``ts``) lives for stdout events. Returns ``None`` for anything that is not an event.
    """
    if not isinstance(obj, dict):
        return None
    env = envelope or {}
    kind: EventKind | None = None
    inner: dict[str, Any] = {}
    for candidate in KINDS:
        value = obj.get(f"{candidate}_event")
        if isinstance(value, dict):
            kind, inner = candidate, value
            break
    if kind is None:
        legacy = obj.get("type")
        if isinstance(legacy, str) and legacy in _LEGACY_TYPES:
            kind, inner = _LEGACY_TYPES[legacy], obj
        else:
            return None
    stack = inner.get("stacktrace", "")
    return Event(
        kind=kind,
        group=str(inner.get("group", "") or ""),
        error=str(inner.get("error", "") or ""),
        stacktrace=stack if isinstance(stack, str) else json.dumps(stack),
        message=str(inner.get("message", "") or ""),
        name=str(inner.get("name", "") or ""),
        runenv=inner.get("runenv") if isinstance(inner.get("runenv"), dict) else None,
        instance=str(obj.get("instance") or env.get("instance") or ""),
        seq=_int(obj.get("seq", env.get("seq"))),
        ts=_int(obj.get("ts", env.get("ts"))),
    )


def parse_line(line: str) -> Event | None:
    """Read one stdout line; lines that are not JSON events (plain prints) give ``None``."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    inner = obj.get("event")
    if isinstance(inner, dict):
        return parse_event(inner, obj)
    return None
