"""``choreo compare`` exits 1 on a significant regression beyond --fail-above/--fail-below,
and prints p50/p99 differences and what the test compares."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.results.test_comparison import write_run
from typer.testing import CliRunner

from choreograph.cli.app import app

A = "20261130-000000-000aaaaaa"
B = "20261130-000001-000bbbbbb"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHOREO_HOME", str(tmp_path))
    write_run(tmp_path, A, [[10.0, 10.2], [10.1, 9.9], [9.8, 10.0]])
    write_run(tmp_path, B, [[12.0, 12.2], [12.1, 11.9], [11.8, 12.0]])  # +20%
    return tmp_path


@pytest.mark.parametrize(
    ("flags", "status"),
    [([], 0), (["--fail-above", "5"], 1), (["--fail-above", "25"], 0), (["--fail-below", "5"], 0)],
)
def test_compare_fails_on_a_regression_beyond_the_threshold(
    home: Path, flags: list[str], status: int
) -> None:
    args = ["compare", A, "latest", "-m", "latency", "-o", str(home / "plot.png"), *flags]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == status, result.output
    assert "n = 3 per-instance means" in result.output
    assert "p50 (all samples)" in result.output and "p99 (all samples)" in result.output
    if status:
        assert "regression: B's mean is +20.0% from A's, above --fail-above 5%" in result.output
