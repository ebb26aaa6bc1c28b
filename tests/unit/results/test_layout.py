from datetime import UTC, datetime
from pathlib import Path

import pytest

from choreograph.errors import RunNotFoundError
from choreograph.results.layout import RunLayout, find_run, list_runs, new_run_id


def test_run_ids_sort_by_time_and_are_unique() -> None:
    early = new_run_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_run_id(datetime(2026, 1, 2, tzinfo=UTC))
    assert early < late
    assert len({new_run_id() for _ in range(100)}) == 100


def test_paths_and_atomic_record(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, "r1")
    assert layout.instance_dir("grp/3") == tmp_path / "r1" / "grp" / "3"
    layout.write_run_json({"a": 1})
    layout.write_run_json({"a": 2})
    assert layout.read_run_json() == {"a": 2}
    assert not list(layout.root.glob("*.tmp"))


def test_find_run_by_prefix(tmp_path: Path) -> None:
    for run_id in ("20260101-000000-aaaaaa", "20260101-000000-bbbbbb", "20260202-000000-cccccc"):
        RunLayout(tmp_path, run_id).write_run_json({})
    assert list_runs(tmp_path)[0] == "20260101-000000-aaaaaa"
    assert find_run(tmp_path, "20260202").run_id == "20260202-000000-cccccc"
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        find_run(tmp_path, "20260101")
    with pytest.raises(RunNotFoundError, match="no run"):
        find_run(tmp_path, "1999")
