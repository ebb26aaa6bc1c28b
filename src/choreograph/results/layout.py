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
        write_json(self.run_json, record)

    def read_run_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run_json.read_text())
        return data


def list_runs(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if (p / RUN_JSON).exists())


def find_run(runs_dir: Path, run_id: str) -> RunLayout:
    """Accept a full id or a unique prefix, like git does for commits."""
    found = _unique(list_runs(runs_dir), run_id, "run")
    if found is None:
        raise RunNotFoundError(f"no run {run_id!r} in {runs_dir} (`choreo runs list` shows them)")
    return RunLayout(runs_dir, found)


def _unique(ids: list[str], wanted: str, what: str) -> str | None:
    """``wanted`` itself or the one id it prefixes; None when none does."""
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.startswith(wanted)]
    if len(matches) > 1:
        raise RunNotFoundError(f"{what} id {wanted!r} is ambiguous: {', '.join(matches[:5])}")
    return matches[0] if matches else None


# --- series: repeated runs of one spec, <home>/series/<id>/series.json ---------------

SERIES_JSON = "series.json"


def new_series_id() -> str:
    return "s-" + new_run_id()


def list_series(series_dir: Path) -> list[str]:
    if not series_dir.is_dir():
        return []
    return sorted(p.name for p in series_dir.iterdir() if (p / SERIES_JSON).exists())


def find_series(series_dir: Path, series_id: str) -> Path | None:
    """The folder of the series ``series_id`` (or a unique prefix), None when there is none."""
    found = _unique(list_series(series_dir), series_id, "series")
    return None if found is None else series_dir / found


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic, like ``run.json``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path)
