"""Each task's progress, one JSON object a line in ``events.jsonl``: every progress event
the engine emitted (:func:`choreograph.progress.to_json`) and, after each run, a
``RunFinished`` record with what its outcome table shows. Lines are flushed as written,
so a reader (the SSE route) follows the file while the task runs, and the log outlives
a daemon restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from choreograph import progress

PULSE_EVERY_S = 5.0
"""Pulses kept in the log: one in five of the engine's once-a-second pulses is enough
for a remote client's status line, and keeps an hour's task log to ~700 pulse lines."""


class EventLog:
    """A progress sink appending to ``path``; close it when the task ends."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self.count = 0
        self._pulsed_at = -PULSE_EVERY_S

    def __call__(self, event: progress.ProgressEvent) -> None:
        if isinstance(event, progress.RunPulse):
            if 0 <= event.elapsed_s - self._pulsed_at < PULSE_EVERY_S:
                return
            self._pulsed_at = event.elapsed_s
        self.record(progress.to_json(event))

    def record(self, data: dict[str, Any]) -> None:
        self._file.write(json.dumps(data) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        self._file.close()


class EventReader:
    """Reads the complete lines appended to an event log since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as stream:
            stream.seek(self._offset)
            chunk = stream.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]
