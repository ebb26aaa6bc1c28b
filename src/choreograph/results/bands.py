"""What a time-series figure draws: one line per instance, or per-group percentile bands.

A figure of a few instances draws each one; past :data:`BAND_THRESHOLD` instances in a
group it draws, per group, the p5-p95 band and the p50 line over time. Every time series of
the run report (gauges, counter rates, timer samples, CPU, memory) is shaped here, so one
decision, made in :func:`at_scale`, holds for all of them. Pure pandas; figures are drawn
by :mod:`choreograph.results.plots`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from choreograph.results.layout import instance_order

if TYPE_CHECKING:
    import pandas as pd

BAND_THRESHOLD = 24
"""Instances of one group up to which a figure draws one line each. About two dozen
overlapping lines is where a reader stops telling them apart (matplotlib's palette has 10
colours and legends are dropped past 12), and past it each line costs render time and
bytes without adding information: at 2,000 instances a line per instance is one grey
smear that takes seconds to draw. A band shows the spread and the typical instance at
any size."""
MAX_LINES = 4 * BAND_THRESHOLD
"""Lines over all groups past which bands are drawn even when every group is small
(100 groups of 10 instances tangle as badly as one group of 1,000)."""
MAX_BINS = 120
"""Time bins of a band: finer than a 1,000-pixel-wide figure shows is wasted work."""
QUANTILES = (0.05, 0.5, 0.95)

Shape = Literal["level", "rate", "samples"]
"""``level``: a value each instance holds (gauge, CPU %): percentiles are across instances.
``rate``: a counter's running total turned into its increase per second, per instance.
``samples``: observations (timer, histogram, point): percentiles of all of a group's
samples in a time bin, and, below the threshold, a cloud of points per group."""


@dataclass(frozen=True)
class Lines:
    """``label → (seconds, values)``: one line per instance, or with ``dots`` one cloud of
    points per group."""

    series: dict[str, tuple[list[float], list[float]]]
    dots: bool = False


@dataclass(frozen=True)
class Band:
    x: list[float]
    """Bin centres, seconds since the run started."""
    p5: list[float]
    p50: list[float]
    p95: list[float]
    instances: int


@dataclass(frozen=True)
class Bands:
    """Per group (in natural order): the band over time."""

    groups: dict[str, Band]
    across: str
    """What the percentiles are of: ``instances`` or ``samples``."""


def at_scale(sizes: Iterable[int]) -> bool:
    """True when instances are drawn as bands: a group past :data:`BAND_THRESHOLD`, or
    more than :data:`MAX_LINES` instances in all."""
    counts = list(sizes)
    return bool(counts) and (max(counts) > BAND_THRESHOLD or sum(counts) > MAX_LINES)


def describe(series: Lines | Bands, name: str) -> str:
    """What a figure shows, in words: its alt text."""
    if isinstance(series, Bands):
        return f"{name}: p5-p95 band and p50 line per group over time (across {series.across})"
    if series.dots:
        return f"{name}: every sample over time, one colour per group"
    return f"{name}: one line per instance over time"


def over_time(frame: pd.DataFrame, start_ns: int, shape: Shape) -> Lines | Bands:
    """The time series of one metric's rows (``group``, ``instance``, ``ts``, ``value``)."""
    frame = frame[["group", "instance", "ts", "value"]].sort_values(["instance", "ts"])
    frame = frame.assign(x=(frame["ts"] - start_ns) / 1e9)
    if shape == "rate":
        frame = _rates(frame)
    sizes = frame.groupby("group")["instance"].nunique()
    if at_scale(sizes):
        return _bands(frame, shape)
    key = "group" if shape == "samples" else "instance"
    labels = sorted(frame[key].unique(), key=instance_order)
    by_label = dict(tuple(frame.groupby(key, sort=False)))
    return Lines(
        {
            str(label): (by_label[label]["x"].tolist(), by_label[label]["value"].tolist())
            for label in labels
        },
        dots=shape == "samples",
    )


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Per instance, the increase per second between its totals, at most one a time bin
    (the last total of each): an SDK counter records every ``inc``, and the rate between
    two records a few microseconds apart is noise, and a point too many to draw."""
    import numpy as np

    bins = np.floor((frame["x"] - frame["x"].min()) / _bin_width(frame))
    last = frame.assign(bin=bins).groupby(["instance", "bin"], sort=False).tail(1)
    by_instance = last.groupby("instance", sort=False)
    seconds = by_instance["x"].diff()
    rates = last.assign(value=by_instance["value"].diff() / seconds)
    return rates[seconds > 0].drop(columns="bin")


def _bands(frame: pd.DataFrame, shape: Shape) -> Bands:
    import numpy as np

    width = _bin_width(frame)
    first = float(frame["x"].min())
    frame = frame.assign(bin=np.floor((frame["x"] - first) / width).astype("int64"))
    if shape != "samples":  # each instance counts once per bin, however often it reported
        frame = frame.groupby(["group", "bin", "instance"], as_index=False)["value"].mean()
    quantiles = frame.groupby(["group", "bin"])["value"].quantile(list(QUANTILES)).unstack()
    sizes = frame.groupby("group")["instance"].nunique()
    groups = {}
    for group in sorted(sizes.index, key=instance_order):
        rows = quantiles.loc[group]
        low, mid, high = (rows[q].tolist() for q in QUANTILES)
        x = (first + (rows.index.to_numpy() + 0.5) * width).tolist()
        groups[str(group)] = Band(x, low, mid, high, int(sizes[group]))
    return Bands(groups, "samples" if shape == "samples" else "instances")


def _bin_width(frame: pd.DataFrame) -> float:
    """At least the span over :data:`MAX_BINS`, and at least an instance's typical gap
    between reports: a narrower bin holds only some of the instances, and its band
    jumps with whichever happened to report in it."""
    span = float(frame["x"].max() - frame["x"].min())
    per_instance = frame.groupby("instance")["x"].agg(["min", "max", "count"])
    spread = per_instance[per_instance["count"] > 1]
    gap = float(((spread["max"] - spread["min"]) / (spread["count"] - 1)).median())
    width = max(span / MAX_BINS, gap if gap == gap else 0.0)
    return width if width > 0 else 1.0
