"""One log for the whole run: every instance's ``run.out`` interleaved by time, with the
events that arrived out of sequence flagged.

Choreograph's SDK stamps each event line with a per-instance ``seq`` (from 1) and ``ts``
(Unix ns). An instance's events must therefore come with ``seq`` going up by exactly one
and ``ts`` never going back. A ``gap`` (events lost), a ``reversal`` (seq going back or
repeating) or a timestamp earlier than that instance's previous one is flagged on the
line where it shows. Lines without a stamp (plain prints, foreign SDKs) take the time of
the stamped line before them in their instance, so they stay next to it.

An event line that repeats an earlier one of its instance exactly (same ``ts``, same
event) is a copy, not a new event, and is dropped: sdk-go and sdk-js write ``run.out``
themselves in ``TEST_OUTPUTS_PATH`` while the runner tees their stdout into the same
file, so each of their events arrives twice. Unstamped lines are never dropped (a plan
may print the same line twice on purpose).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from choreograph.wire.events import Event, parse_line


@dataclass(frozen=True)
class LogLine:
    instance: str
    number: int
    """1-based line number in the instance's ``run.out``."""
    text: str
    event: Event | None = None
    ts: int | None = None
    """The line's own stamp; ``None`` for unstamped lines."""
    sort_ts: int = 0
    """Where the line goes in the merged view."""
    flags: tuple[str, ...] = field(default=())

    @property
    def out_of_sequence(self) -> bool:
        return bool(self.flags)


def parse_lines(instance: str, lines: Iterable[str], start: int = 1) -> Iterator[LogLine]:
    """The lines of one instance's ``run.out``, events parsed (no checks yet)."""
    for number, raw in enumerate(lines, start):
        text = raw.rstrip("\n")
        event = parse_line(text) if '"event"' in text else None
        ts = event.ts if event is not None else None
        yield LogLine(instance, number, text, event, ts)


@dataclass
class SequenceCheck:
    """Per-instance state of the checks; feed lines in file order (``--follow`` keeps
    feeding the same check as lines arrive)."""

    last_seq: int | None = None
    last_ts: int | None = None
    last_sort_ts: int = 0
    seen: set[tuple[int, str]] = field(default_factory=set)

    def is_copy(self, line: LogLine) -> bool:
        """True for a stamped event line this instance already had (same ts, same event);
        the first of them is kept."""
        if line.event is None or line.ts is None:
            return False
        key = (line.ts, repr(line.event))
        if key in self.seen:
            return True
        self.seen.add(key)
        return False

    def check(self, line: LogLine) -> LogLine:
        flags: list[str] = []
        event = line.event
        if event is not None and event.seq is not None:
            expected = 1 if self.last_seq is None else self.last_seq + 1
            if event.seq > expected:
                flags.append(f"gap: expected seq {expected}, got {event.seq}")
            elif event.seq < expected:
                flags.append(f"reversal: seq {event.seq} after {expected - 1}")
            self.last_seq = max(event.seq, self.last_seq or 0)
        if line.ts is not None:
            if self.last_ts is not None and line.ts < self.last_ts:
                back_ms = (self.last_ts - line.ts) / 1e6
                flags.append(f"time went back {back_ms:.3f} ms from the previous event")
            self.last_ts = line.ts if self.last_ts is None else max(self.last_ts, line.ts)
            self.last_sort_ts = line.ts
        return replace(line, sort_ts=self.last_sort_ts, flags=tuple(flags))


def check_instance(lines: Iterable[LogLine]) -> list[LogLine]:
    """Checked lines of one instance, exact copies of an event dropped."""
    check = SequenceCheck()
    return [check.check(line) for line in lines if not check.is_copy(line)]


def merge(per_instance: Iterable[list[LogLine]]) -> list[LogLine]:
    """Interleave checked lines of every instance by time; ties keep instance and file order."""
    ordered = [
        (line.sort_ts, k, line.number, line)
        for k, lines in enumerate(per_instance)
        for line in lines
    ]
    ordered.sort(key=lambda item: item[:3])
    return [item[3] for item in ordered]


def read_instance(instance: str, path: Path) -> list[LogLine]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", errors="replace") as lines:
        return check_instance(parse_lines(instance, lines))


def describe(event: Event) -> str:
    """A short human reading of one event."""
    if event.kind == "message":
        return event.message
    if event.kind in ("failure", "crash"):
        return f"{event.kind.upper()}: {event.error}"
    if event.kind in ("stage_start", "stage_end"):
        return f"{event.kind.replace('_', ' ')} {event.name}"
    return event.kind.upper() if event.kind == "success" else event.kind


class LogFollower:
    """Reads what was appended to each instance's ``run.out`` since the last call (for
    ``--follow``); each instance keeps its sequence check across calls."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self._sources = sources
        self._offsets = dict.fromkeys(sources, 0)
        self._partial = dict.fromkeys(sources, b"")
        self._lines = dict.fromkeys(sources, 0)
        self._checks = {key: SequenceCheck() for key in sources}

    def poll(self) -> list[LogLine]:
        """New complete lines of every instance, merged by time."""
        batches = []
        for key, path in self._sources.items():
            if not path.is_file():
                continue
            with path.open("rb") as stream:
                stream.seek(self._offsets[key])
                chunk = stream.read()
            self._offsets[key] += len(chunk)
            *complete, self._partial[key] = (self._partial[key] + chunk).split(b"\n")
            texts = [raw.decode("utf-8", "replace") for raw in complete]
            parsed = list(parse_lines(key, texts, self._lines[key] + 1))
            self._lines[key] += len(parsed)
            check = self._checks[key]
            batches.append([check.check(line) for line in parsed if not check.is_copy(line)])
        return merge(batches)
