"""``latest`` (or ``last``) names the most recent run wherever a run id is taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from choreograph.errors import RunNotFoundError
from choreograph.results.layout import find_run, new_run_id
from choreograph.results.locate import locate
from choreograph.results.tables import locate_run


def make_runs(runs_dir: Path, ids: list[str]) -> None:
    for run_id in ids:
        (runs_dir / run_id).mkdir(parents=True)
        (runs_dir / run_id / "run.json").write_text(json.dumps({"run_id": run_id}))


def test_latest_and_last_name_the_newest_run(tmp_path: Path) -> None:
    ids = ["20261130-094853-001aaaaaa", "20261130-101010-002bbbbbb", "20261129-235959-003cccccc"]
    make_runs(tmp_path / "runs", ids)
    for name in ("latest", "last"):
        assert find_run(tmp_path / "runs", name).run_id == ids[1]
        assert locate_run(name, tmp_path / "runs").run_id == ids[1]
        assert locate(name, tmp_path).name == ids[1]


def test_latest_follows_run_ids_which_sort_by_time(tmp_path: Path) -> None:
    ids = [new_run_id() for _ in range(3)]
    make_runs(tmp_path / "runs", ids)
    assert find_run(tmp_path / "runs", "latest").run_id == max(ids)


def test_latest_without_runs_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no runs in"):
        find_run(tmp_path / "runs", "latest")
