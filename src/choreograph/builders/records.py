"""Records of finished builds: what ``choreo builds list`` shows, what a group's
``[groups.run] artifact = "<build id>"`` names, and what ``choreo builds purge`` weighs.

One JSON file per build, ``<builds>/_records/<build id>.json``, rewritten atomically each
time the build is used, so "last used" is what ``purge --older-than`` compares.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from choreograph import atomic
from choreograph.builders.staging import build_root
from choreograph.errors import InputError
from choreograph.plan.spec import Artifact

RECORDS_DIR = "_records"


@dataclass(frozen=True)
class BuildRecord:
    build_id: str
    builder: str
    plan: str
    plan_dir: str
    groups: tuple[str, ...]
    """The groups that last used this build."""
    artifact: Artifact
    created: float
    last_used: float

    def folder(self, builds_dir: Path) -> Path:
        return build_root(builds_dir, self.builder) / self.build_id

    @property
    def dependencies(self) -> list[str]:
        return [str(r) for r in self.artifact.provenance.get("requirements", [])]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildRecord:
        artifact = dict(data["artifact"])
        artifact["argv"] = tuple(artifact["argv"])
        return cls(
            build_id=data["build_id"],
            builder=data["builder"],
            plan=data["plan"],
            plan_dir=data["plan_dir"],
            groups=tuple(data.get("groups", ())),
            artifact=Artifact(**artifact),
            created=float(data["created"]),
            last_used=float(data["last_used"]),
        )


def records_dir(builds_dir: Path) -> Path:
    return builds_dir / RECORDS_DIR


def record_build(
    builds_dir: Path, plan: str, plan_dir: Path, groups: tuple[str, ...], artifact: Artifact
) -> BuildRecord:
    """Write (or refresh) the record of ``artifact``; returns it."""
    now = time.time()
    path = records_dir(builds_dir) / f"{artifact.build_id}.json"
    created = now
    if (old := _load(path)) is not None:
        created = old.created
    stored = replace(artifact, from_cache=False)
    record = BuildRecord(
        artifact.build_id, artifact.builder, plan, str(plan_dir), groups, stored, created, now
    )
    atomic.write_json(path, record.to_json())
    return record


def load_records(builds_dir: Path) -> list[BuildRecord]:
    """Every recorded build, least recently used first."""
    folder = records_dir(builds_dir)
    found = [r for p in sorted(folder.glob("*.json")) if (r := _load(p)) is not None]
    return sorted(found, key=lambda r: r.last_used)


def find_record(builds_dir: Path, ref: str) -> BuildRecord:
    """The build whose id is ``ref`` or starts with it (unique); InputError otherwise."""
    records = load_records(builds_dir)
    matches = [r for r in records if r.build_id == ref] or [
        r for r in records if r.build_id.startswith(ref)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(
            f"no build {ref!r} in {records_dir(builds_dir)}; see `choreo builds list` "
            "(purged builds must be built again)"
        )
    ids = ", ".join(r.build_id for r in matches)
    raise InputError(f"build id {ref!r} is ambiguous: it starts {ids}")


def forget(builds_dir: Path, record: BuildRecord) -> int:
    """Remove a record and its build folder; returns the bytes freed."""
    freed = folder_size(record.folder(builds_dir))
    shutil.rmtree(record.folder(builds_dir), ignore_errors=True)
    (records_dir(builds_dir) / f"{record.build_id}.json").unlink(missing_ok=True)
    return freed


def folder_size(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _load(path: Path) -> BuildRecord | None:
    try:
        return BuildRecord.from_json(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None  # a record from an older layout, or being replaced: ignore it
