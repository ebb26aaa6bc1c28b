"""``choreo compare``'s sides: runs compared by per-instance means (samples of one
instance are autocorrelated), raw samples only with a note saying what that assumes,
p50/p99 differences, and the regression thresholds that make it exit non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from choreograph.results import comparison as cmp
from choreograph.results.stats import compare


def write_run(home: Path, run_id: str, per_instance: list[list[float]]) -> str:
    run_dir = home / "runs" / run_id
    run_dir.mkdir(parents=True)
    spec = {"groups": [{"id": "single", "instances": len(per_instance)}]}
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_id, "spec": spec}))
    for index, values in enumerate(per_instance):
        folder = run_dir / "single" / str(index)
        folder.mkdir(parents=True)
        lines = [
            json.dumps(
                {
                    "group": "single",
                    "instance": f"single/{index}",
                    "name": "latency",
                    "type": "point",
                    "unit": "ms",
                    "ts": 1000 + n,
                    "value": value,
                }
            )
            for n, value in enumerate(values)
        ]
        (folder / "results.out").write_text("\n".join(lines) + "\n")
    return run_id


def test_runs_are_compared_by_per_instance_means(tmp_path: Path) -> None:
    # 100 strongly autocorrelated samples per instance: 3 replicates, not 300.
    a = write_run(tmp_path, "20261130-000000-000aaaaaa", [[10.0] * 100, [11.0] * 100, [12.0] * 100])
    b = write_run(tmp_path, "20261130-000001-000bbbbbb", [[10.5] * 100, [11.5] * 100, [12.5] * 100])
    sides = cmp.sides(tmp_path, a, b, "latency", None)
    assert sides.unit_of_sample == "per-instance mean"
    assert sorted(sides.a) == [10.0, 11.0, 12.0] and sorted(sides.b) == [10.5, 11.5, 12.5]
    assert len(sides.raw_a) == 300 and sides.note == ""
    result = cmp.run(sides, 0.05, 0.95)
    assert not result.significant  # 300 raw samples each would call this significant
    assert compare(sides.raw_a, sides.raw_b).significant


def test_runs_of_few_instances_fall_back_to_samples_and_say_so(tmp_path: Path) -> None:
    a = write_run(tmp_path, "20261130-000000-000aaaaaa", [[1.0, 2.0], [3.0]])
    b = write_run(tmp_path, "20261130-000001-000bbbbbb", [[2.0, 3.0, 4.0]])
    sides = cmp.sides(tmp_path, a, b, "latency", None)
    assert sides.unit_of_sample == "sample" and sides.a == [1.0, 2.0, 3.0]
    assert "independent" in sides.note and "autocorrelated" in sides.note


def test_p50_and_p99_differences(tmp_path: Path) -> None:
    a = write_run(tmp_path, "20261130-000000-000aaaaaa", [list(range(1, 101))] * 2)
    b = write_run(tmp_path, "20261130-000001-000bbbbbb", [[*range(1, 100), 1000]] * 2)
    p50, p99 = cmp.quantiles(cmp.sides(tmp_path, a, b, "latency", None))
    assert (p50.name, p50.difference) == ("p50", 0)
    assert p99.name == "p99" and p99.b > p99.a and p99.relative > 0.05


@pytest.mark.parametrize(
    ("above", "below", "fails"),
    [(None, None, False), (5.0, None, True), (50.0, None, False), (None, 5.0, False)],
)
def test_a_significant_rise_beyond_the_threshold_is_a_regression(
    above: float | None, below: float | None, fails: bool
) -> None:
    result = compare([10.0, 10.1, 9.9, 10.0], [12.0, 12.1, 11.9, 12.0])  # +20%
    assert bool(cmp.regression(result, above, below)) is fails


def test_a_drop_fails_below_and_noise_never_fails() -> None:
    drop = compare([10.0, 10.1, 9.9, 10.0], [8.0, 8.1, 7.9, 8.0])
    assert "-20.0%" in cmp.regression(drop, None, 5.0)
    assert cmp.regression(drop, 5.0, None) == ""
    noise = compare([10.0, 14.0, 6.0], [11.0, 15.0, 7.0])
    assert cmp.regression(noise, 1.0, 1.0) == ""
