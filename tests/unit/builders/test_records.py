import json
import os
import time
from pathlib import Path

import pytest

from choreograph.builders.purge import parse_age, purge_builds
from choreograph.builders.records import find_record, load_records, record_build
from choreograph.builders.venv import MARKER, envs_root
from choreograph.errors import InputError
from choreograph.plan.spec import Artifact


def _build(builds: Path, build_id: str, env: str = "", age_s: float = 0) -> None:
    folder = builds / "exec-python" / build_id
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "main.py").write_text("pass\n")
    provenance = {"requirements": ["six==1"], "env": env} if env else {}
    artifact = Artifact("exec:python", build_id, ("python", "main.py"), str(folder), {}, True)
    artifact = Artifact(**{**artifact.__dict__, "provenance": provenance})
    record_build(builds, "p", Path("/plans/p"), ("g",), artifact)
    if age_s:
        path = builds / "_records" / f"{build_id}.json"
        data = json.loads(path.read_text())
        data["last_used"] -= age_s
        path.write_text(json.dumps(data))
    if env:
        env_dir = envs_root(builds) / env
        env_dir.mkdir(parents=True, exist_ok=True)
        (env_dir / MARKER).write_text("{}")
        old = time.time() - age_s - 10
        os.utime(env_dir / MARKER, (old, old))


def test_records_round_trip_and_find_by_prefix(tmp_path: Path) -> None:
    _build(tmp_path, "abc123")
    _build(tmp_path, "abd456")
    record = find_record(tmp_path, "abc")
    assert record.build_id == "abc123" and record.groups == ("g",)
    assert record.artifact.argv == ("python", "main.py") and not record.artifact.from_cache
    with pytest.raises(InputError, match="ambiguous"):
        find_record(tmp_path, "ab")
    with pytest.raises(InputError, match=r"no build .zzz.*choreo builds list"):
        find_record(tmp_path, "zzz")


def test_a_second_use_keeps_created_and_moves_last_used(tmp_path: Path) -> None:
    _build(tmp_path, "abc123", age_s=100)
    before = find_record(tmp_path, "abc123")
    record_build(tmp_path, "p", Path("/plans/p"), ("h",), before.artifact)
    after = find_record(tmp_path, "abc123")
    assert after.created == before.created and after.last_used > before.last_used + 50
    assert after.groups == ("h",)


def test_purge_older_than_keeps_recent_builds_and_their_environments(tmp_path: Path) -> None:
    _build(tmp_path, "old1", env="envold", age_s=10 * 86400)
    _build(tmp_path, "new1", env="envnew")
    summary = purge_builds(tmp_path, parse_age("7d"))
    assert (summary.builds, summary.environments) == (1, 1)
    assert [r.build_id for r in load_records(tmp_path)] == ["new1"]
    assert not (tmp_path / "exec-python" / "old1").exists()
    assert (tmp_path / "exec-python" / "new1").is_dir()
    assert sorted(p.name for p in envs_root(tmp_path).iterdir() if p.is_dir()) == ["envnew"]


def test_purge_all_removes_unrecorded_folders_and_half_built_environments(tmp_path: Path) -> None:
    _build(tmp_path, "b1", env="e1")
    (tmp_path / "exec-node" / "legacy").mkdir(parents=True)
    (envs_root(tmp_path) / "halfbuilt").mkdir(parents=True)
    summary = purge_builds(tmp_path)
    assert summary.builds == 2 and summary.environments == 2
    assert load_records(tmp_path) == []
    assert not any(p.is_dir() for p in envs_root(tmp_path).iterdir())
    assert not (tmp_path / "exec-node" / "legacy").exists()


def test_parse_age() -> None:
    assert parse_age("7d") == 7 * 86400 and parse_age("1.5h") == 5400 and parse_age("30m") == 1800
    for bad in ("7", "d", "-1d", "7y", ""):
        with pytest.raises(InputError, match="expected a number and a unit"):
            parse_age(bad)


def test_purge_spares_a_build_in_progress(tmp_path: Path) -> None:
    mine = tmp_path / "exec-python" / f"abc.partial-{os.getpid()}-x1y2"
    dead = tmp_path / "exec-python" / "abc.partial-999999999-x1y2"
    for folder in (mine, dead):
        folder.mkdir(parents=True)
    purge_builds(tmp_path)
    assert mine.is_dir() and not dead.exists()
