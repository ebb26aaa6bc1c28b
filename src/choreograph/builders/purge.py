"""``choreo builds purge``: free the disk builds take. Builds unused for longer than
asked go with their folders (by their records' "last used"); build folders nobody
recorded (older layouts, killed builds) go by age; then every environment no remaining
build uses, unless a build holds its lock right now.

A ``docker:*`` build is an image as well as a folder: its image goes with its record
(``docker rmi``). An image a container still uses stays, and so does its record, so a
later purge (once the container is gone) finds it again. Purging everything also drops
the ``docker:go`` build cache images (as Testground's purge does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from choreograph.builders import records
from choreograph.builders.venv import MARKER, envs_root
from choreograph.containers import client
from choreograph.containers.build import REPOSITORY, remove_images
from choreograph.errors import InputError

T = TypeVar("T")
GO_BUILD_CACHE = f"{REPOSITORY}/go-build-cache-*"


@dataclass(frozen=True)
class PurgeSummary:
    builds: int
    environments: int
    bytes_freed: int
    images: int = 0
    images_kept: tuple[str, ...] = ()
    """Images Docker would not remove (a container uses them): Docker's reason each."""


def purge_builds(builds_dir: Path, older_than_s: float | None = None) -> PurgeSummary:
    """Remove builds not used for ``older_than_s`` seconds (all when None), then the
    environments no remaining build uses."""
    cutoff = time.time() - (older_than_s or 0.0)
    everything = older_than_s is None
    kept, removed, freed = set(), 0, 0
    every = records.load_records(builds_dir)
    old = [r.build_id for r in every if everything or r.last_used < cutoff]
    # Only images a docker:* builder made: a prebuilt image named by the user is theirs.
    images = [i for r in every if r.build_id in old and (i := r.artifact.image) and _ours(i)]
    refused: dict[str, str] = {}
    if images or (everything and client.docker_binary()):
        refused = _run(_remove_images(images, everything))
    for record in every:
        if record.build_id in old and record.artifact.image not in refused:
            freed += records.forget(builds_dir, record)
            removed += 1
        elif env := record.artifact.provenance.get("env"):
            kept.add(str(env))
    orphans, orphan_bytes = _purge_unrecorded(builds_dir, cutoff)
    envs, env_bytes = purge_environments(builds_dir, kept, cutoff)
    return PurgeSummary(
        removed + orphans,
        envs,
        freed + orphan_bytes + env_bytes,
        images=len(images) - len(refused),
        images_kept=tuple(f"{name}: {why}" for name, why in refused.items()),
    )


def _ours(image: str) -> bool:
    return image.startswith(f"{REPOSITORY}/")


async def _remove_images(names: list[str], everything: bool) -> dict[str, str]:
    """Remove build images and, when purging everything, the Go build cache images;
    name → Docker's reason, for those it kept. (Their bytes are not counted as freed:
    most of an image is base layers that stay.)"""
    refused = await remove_images(names)
    if everything:
        listed = await client.docker(
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"reference={GO_BUILD_CACHE}",
            check=False,
        )
        await remove_images(listed.split())
    return refused


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` from this sync code, even when the caller has a loop running:
    on a thread of its own with a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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
