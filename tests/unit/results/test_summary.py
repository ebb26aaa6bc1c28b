"""Per-group summaries: the statistics, and counters reduced to each instance's last total."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import pytest

from choreograph.results.metrics import MetricRow
from choreograph.results.summary import STATS, summarize


def frame(rows: list[MetricRow]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows])


def test_statistics_per_group() -> None:
    rows = [MetricRow("a", "a/0", "lat", "timer", "ms", n, float(n)) for n in range(1, 101)]
    rows += [MetricRow("b", "b/0", "lat", "timer", "ms", 1, 7.0)]
    out = summarize(frame(rows)).set_index("group")
    assert list(out.columns) == ["name", "unit", *STATS]
    a = out.loc["a"]
    assert (a["count"], a["mean"], a["min"], a["max"]) == (100, 50.5, 1.0, 100.0)
    # Linear interpolation between order statistics (pandas' default, like numpy's).
    assert a["p50"] == pytest.approx(50.5)
    assert a["p90"] == pytest.approx(90.1)
    assert a["p99"] == pytest.approx(99.01)
    assert out.loc["b", "count"] == 1 and out.loc["b", "p99"] == 7.0


def test_counters_count_each_instances_final_total() -> None:
    rows = [
        MetricRow("g", "g/0", "ops", "counter", "", 1, 1.0),
        MetricRow("g", "g/0", "ops", "counter", "", 2, 2.0),
        MetricRow("g", "g/1", "ops", "counter", "", 1, 5.0),
        MetricRow("g", "g/0", "size", "histogram", "B", 1, 3.0),
    ]
    out = summarize(frame(rows)).set_index("name")
    assert (out.loc["ops", "count"], out.loc["ops", "mean"]) == (2, 3.5)  # totals 2 and 5
    assert out.loc["size", "count"] == 1
    only = summarize(frame(rows), "size")
    assert list(only["name"]) == ["size"]
    assert summarize(frame(rows), "absent").empty
