"""``choreo builds purge``: free the disk builds take. Builds unused for longer than
asked go with their folders (by their records' "last used"); build folders nobody
recorded (older layouts, killed builds) go by age; then every environment no remaining
build uses, unless a build holds its lock right now.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from choreograph.builders import records
from choreograph.builders.venv import MARKER, envs_root
from choreograph.errors import InputError


@dataclass(frozen=True)
class PurgeSummary:
    builds: int
    environments: int
    bytes_freed: int


def purge_builds(builds_dir: Path, older_than_s: float | None = None) -> PurgeSummary:
    """Remove builds not used for ``older_than_s`` seconds (all when None), then the
    environments no remaining build uses."""
    cutoff = time.time() - (older_than_s or 0.0)
    kept, removed, freed = set(), 0, 0
    for record in records.load_records(builds_dir):
        if older_than_s is None or record.last_used < cutoff:
            freed += records.forget(builds_dir, record)
            removed += 1
        elif env := record.artifact.provenance.get("env"):
            kept.add(str(env))
    orphans, orphan_bytes = _purge_unrecorded(builds_dir, cutoff)
    envs, env_bytes = purge_environments(builds_dir, kept, cutoff)
    return PurgeSummary(removed + orphans, envs, freed + orphan_bytes + env_bytes)


def _purge_unrecorded(builds_dir: Path, cutoff: float) -> tuple[int, int]:
    """Build folders without a record (made before records existed, or left by a killed
    build) that are older than ``cutoff``."""
    recorded = {r.build_id for r in records.load_records(builds_dir)}
    removed = freed = 0
    if not builds_dir.is_dir():
        return 0, 0
    roots = [p for p in builds_dir.iterdir() if not p.name.startswith("_")]
    for folder in (f for root in roots if root.is_dir() for f in root.iterdir()):
        key, _, pid = folder.name.partition(".partial-")
        if (not pid and key in recorded) or folder.stat().st_mtime >= cutoff or _alive(pid):
            continue
        freed += records.folder_size(folder)
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed, freed


def _alive(owner: str) -> bool:
    """Whether a partial build's owner (``<pid>`` or ``<pid>-<random>``, as staging names
    it) still runs; "" means not a partial build."""
    pid = owner.split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` → seconds; InputError otherwise."""
    value, unit = text[:-1], text[-1:]
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in _AGE_UNITS or number < 0:
        raise InputError(f"--older-than {text!r}: expected a number and a unit, e.g. 7d, 12h, 30m")
    return number * _AGE_UNITS[unit]


def purge_environments(builds_dir: Path, keep: set[str], cutoff: float) -> tuple[int, int]:
    """Remove environments not in ``keep`` whose marker is older than ``cutoff`` (epoch s)
    and that no build holds right now; returns ``(count, bytes)``."""
    removed = freed = 0
    root = envs_root(builds_dir)
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or path.name in keep:
            continue
        marker = path / MARKER
        if marker.exists() and marker.stat().st_mtime >= cutoff:
            continue
        with open(root / f"{path.name}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built
            freed += records.folder_size(path)
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed, freed
