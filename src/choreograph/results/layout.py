"""The run folder: ``<home>/runs/<run-id>/run.json`` and ``<group>/<index>/`` per instance.

One place knows the paths so the runner, ``collect`` and later readers agree, and so
one place refuses a path that would leave the run folder: group ids are checked where
the composition is read, and this is the second line behind that check.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph import atomic
from choreograph.errors import InputError, RunNotFoundError

RUN_JSON = "run.json"
TEMP = ".tmp"


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

    @property
    def temp_root(self) -> Path:
        """Scratch space of the run's instances; not part of its results."""
        return self.root / TEMP

    def instance_dir(self, key: str) -> Path:
        """``<group>/<index>/`` of the instance ``key``; InputError if that leaves the run."""
        group, _, index = key.rpartition("/")
        return _inside(self.root, self.root / group / index, key)

    def temp_dir(self, key: str) -> Path:
        return _inside(self.temp_root, self.temp_root / key, key)

    def write_run_json(self, record: dict[str, Any]) -> None:
        """Atomic: a crash mid-write leaves the previous version, never half a file."""
        write_json(self.run_json, record)

    def read_run_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run_json.read_text())
        return data


def instance_order(key: str) -> tuple[tuple[str, int], ...]:
    """Sort key for instance keys (and group ids): runs of digits compare as numbers, so
    ``g/2`` comes before ``g/10`` (as strings, ``g/10`` would sort first)."""
    parts = re.split(r"(\d+)", key)
    numbers = [int(n) for n in parts[1::2]] + [-1]
    return tuple(zip(parts[0::2], numbers, strict=True))


def _inside(folder: Path, path: Path, key: str) -> Path:
    """``path`` when it resolves to below ``folder`` (``..`` and symlinks followed)."""
    resolved, top = path.resolve(), folder.resolve()
    if resolved == top or not resolved.is_relative_to(top):
        raise InputError(f"instance key {key!r} would put files at {resolved}, outside {folder}")
    return path


def list_runs(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if (p / RUN_JSON).exists())


LATEST = ("latest", "last")
"""Names of the most recent run, wherever a run id is taken."""


def find_run(runs_dir: Path, run_id: str) -> RunLayout:
    """Accept a full id or a unique prefix, like git does for commits, or ``latest``
    (also ``last``): the most recent run (run ids sort by their start time)."""
    runs = list_runs(runs_dir)
    if run_id in LATEST:
        if not runs:
            raise RunNotFoundError(f"no runs in {runs_dir}, so no {run_id!r} run")
        return RunLayout(runs_dir, runs[-1])
    found = _unique(runs, run_id, "run")
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
    """Atomic (see :mod:`choreograph.atomic`): readers see the old record or the new one."""
    atomic.write_json(path, record)
