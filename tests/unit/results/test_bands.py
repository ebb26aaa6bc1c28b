"""Time series: a line per instance up to the threshold, per-group percentile bands past it."""

from __future__ import annotations

import pandas as pd
import pytest

from choreograph.results import bands
from choreograph.results.bands import BAND_THRESHOLD, Bands, Lines

S = 1_000_000_000


def levels(instances: int, group: str = "g", seconds: int = 5) -> pd.DataFrame:
    """Instance k of ``group`` holds the value k, reported once a second."""
    return pd.DataFrame(
        [
            {"group": group, "instance": f"{group}/{k}", "ts": t * S, "value": float(k)}
            for k in range(instances)
            for t in range(seconds)
        ]
    )


def test_a_line_per_instance_up_to_the_threshold() -> None:
    drawn = bands.over_time(levels(BAND_THRESHOLD), 0, "level")
    assert isinstance(drawn, Lines) and not drawn.dots
    assert len(drawn.series) == BAND_THRESHOLD
    assert drawn.series["g/3"] == ([0.0, 1.0, 2.0, 3.0, 4.0], [3.0] * 5)
    assert "one line per instance" in bands.describe(drawn, "m")


def test_bands_past_the_threshold() -> None:
    n = BAND_THRESHOLD + 1
    drawn = bands.over_time(levels(n), 0, "level")
    assert isinstance(drawn, Bands) and drawn.across == "instances"
    (band,) = drawn.groups.values()
    assert band.instances == n
    values = pd.Series(range(n), dtype=float)
    assert band.p50 == [values.quantile(0.5)] * 5  # across instances, in every second
    assert band.p5 == pytest.approx([values.quantile(0.05)] * 5)
    assert band.p95 == pytest.approx([values.quantile(0.95)] * 5)
    assert "p5-p95 band and p50 line per group" in bands.describe(drawn, "m")


def test_many_small_groups_are_bands_too() -> None:
    groups = bands.MAX_LINES // 10 + 2  # each below the threshold, together past MAX_LINES
    frame = pd.concat([levels(10, f"g{k}") for k in range(groups)])
    drawn = bands.over_time(frame, 0, "level")
    assert isinstance(drawn, Bands)
    assert list(drawn.groups) == [f"g{k}" for k in range(groups)]  # g2 before g10


def test_lines_are_in_natural_order() -> None:
    drawn = bands.over_time(levels(12), 0, "level")
    assert isinstance(drawn, Lines)
    assert list(drawn.series) == [f"g/{k}" for k in range(12)]  # g/2 before g/10


def test_samples_below_the_threshold_are_points_per_group() -> None:
    drawn = bands.over_time(levels(3), 0, "samples")
    assert isinstance(drawn, Lines) and drawn.dots and list(drawn.series) == ["g"]


def test_a_counter_becomes_its_rate_per_instance() -> None:
    totals = pd.DataFrame(
        [{"group": "g", "instance": "g/0", "ts": t * S, "value": 10.0 * t} for t in range(4)]
    )
    drawn = bands.over_time(totals, 0, "rate")
    assert isinstance(drawn, Lines)
    assert drawn.series["g/0"] == ([1.0, 2.0, 3.0], [10.0, 10.0, 10.0])


def test_a_bin_is_never_narrower_than_an_instances_reporting_gap() -> None:
    """Instances that report every 2 s at different phases still share their bins."""
    rows = [
        {"group": "g", "instance": f"g/{k}", "ts": (2 * t + k % 2) * S, "value": float(k % 2)}
        for k in range(BAND_THRESHOLD + 2)
        for t in range(100)
    ]
    drawn = bands.over_time(pd.DataFrame(rows), 0, "level")
    assert isinstance(drawn, Bands)
    (band,) = drawn.groups.values()
    assert set(band.p50) == {0.5}  # each bin holds both halves of the group


def test_a_hot_counters_rate_is_one_point_a_bin() -> None:
    """An SDK counter records every inc: 10,000 records, one a millisecond."""
    ms = S // 1000
    totals = pd.DataFrame(
        [{"group": "g", "instance": "g/0", "ts": t * ms, "value": float(t)} for t in range(10_000)]
    )
    drawn = bands.over_time(totals, 0, "rate")
    assert isinstance(drawn, Lines)
    xs, rates = drawn.series["g/0"]
    assert len(xs) <= bands.MAX_BINS
    assert rates == pytest.approx([1000.0] * len(rates))  # per second
