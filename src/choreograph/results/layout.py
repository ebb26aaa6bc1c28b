"""The run folder: ``<home>/runs/<run-id>/run.json`` and ``<group>/<index>/`` per instance.

One place knows the paths so the runner, ``collect`` and later readers agree.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph.errors import RunNotFoundError

RUN_JSON = "run.json"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time to the millisecond, unique without coordination:
    ``20261123-194853-123a1b2c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunLayout:
    runs_dir: Path
    run_id: str

    @property
    def root(self) -> Path:
        return self.runs_dir / self.run_id

    @property
    def run_json(self) -> Path:
        return self.root / RUN_JSON

    def instance_dir(self, key: str) -> Path:
        group, _, index = key.rpartition("/")
        return self.root / group / index

    def temp_dir(self, key: str) -> Path:
        return self.root / ".tmp" / key

    def write_run_json(self, record: dict[str, Any]) -> None:
        """Atomic: a crash mid-write leaves the previous version, never half a file."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.run_json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        os.replace(tmp, self.run_json)

    def read_run_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run_json.read_text())
        return data


def list_runs(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if (p / RUN_JSON).exists())


def find_run(runs_dir: Path, run_id: str) -> RunLayout:
    """Accept a full id or a unique prefix, like git does for commits."""
    runs = list_runs(runs_dir)
    if run_id in runs:
        return RunLayout(runs_dir, run_id)
    matches = [r for r in runs if r.startswith(run_id)]
    if len(matches) == 1:
        return RunLayout(runs_dir, matches[0])
    if not matches:
        raise RunNotFoundError(f"no run {run_id!r} in {runs_dir} (`choreo runs list` shows them)")
    raise RunNotFoundError(f"run id {run_id!r} is ambiguous: {', '.join(matches[:5])}")
