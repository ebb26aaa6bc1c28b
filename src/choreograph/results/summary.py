"""Per-group summaries of a run's metrics: count, mean, p50, p90, p99, min, max.

A metric's samples are its observations, except a counter's, whose records are running
totals: each instance's final total is one sample (see ``metrics.samples``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

STATS = ["count", "mean", "p50", "p90", "p99", "min", "max"]
KEYS = ["name", "unit", "group"]


def sample_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that are samples: every observation, counters reduced to last totals."""
    import pandas as pd

    counters = frame["type"] == "counter"
    if not counters.any():
        return frame
    by_instance = frame[counters].sort_values("ts").groupby(["name", "instance", "tags"])
    return pd.concat([frame[~counters], by_instance.tail(1)])


def summarize(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """One row per (metric, unit, group) with :data:`STATS` as columns."""
    import pandas as pd

    if metric is not None:
        frame = frame[frame["name"] == metric]
    frame = sample_frame(frame)
    if frame.empty:
        return pd.DataFrame(columns=[*KEYS, *STATS])
    grouped = frame.groupby(KEYS, sort=True)["value"]
    out = grouped.agg(
        count="count",
        mean="mean",
        p50=lambda v: v.quantile(0.5),
        p90=lambda v: v.quantile(0.9),
        p99=lambda v: v.quantile(0.99),
        min="min",
        max="max",
    ).reset_index()
    return out[[*KEYS, *STATS]]
