"""The metrics section of a run report: per metric, a summary per group and the figures
its type calls for.

A record's ``type`` says what its values are, and so which figures mean something:

* ``counter``: running totals. A histogram of them would mix every partial total of every
  instance; what counts is each instance's final total and how fast it grew, so the
  figure is the final totals and the rate over time.
* ``gauge`` (and sdk-go's ``ewma``): a level that goes up and down. Its shape over time
  is the story; the figure is the time series (lines, or bands at scale).
* ``histogram``, ``timer``, ``point`` (and types we do not know): observations. The
  figures are their distribution per group and the samples over time.

sdk-go writes histograms, timers and meters as periodic snapshots (``name.p50``,
``name.mean``, ``name.count``…): each measure is a level over time, and ``.count`` a
counter; a histogram of snapshot percentiles would mean nothing.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Literal

from choreograph.results import bands, html, plots
from choreograph.results.layout import instance_order
from choreograph.results.summary import STATS, sample_frame, summarize

if TYPE_CHECKING:
    import pandas as pd

MAX_METRICS = 40
"""Metrics drawn; each costs two figures (render time and ~100 KB of page)."""

Kind = Literal["counter", "level", "samples"]
_SNAPSHOTS = frozenset({"histogram", "timer", "meter"})


def kind_of(mtype: str, source: str = "choreograph", name: str = "") -> Kind:
    """Which figures a metric of type ``mtype`` gets (see the module docstring)."""
    if source == "sdk-go" and mtype in _SNAPSHOTS:
        return "counter" if name.endswith(".count") else "level"
    if mtype == "counter":
        return "counter"
    if mtype in ("gauge", "ewma"):
        return "level"
    return "samples"


def section(frame: pd.DataFrame, start_ns: int) -> list[str]:
    """``<h2>`` and one block per metric, results before diagnostics, then by name."""
    if frame.empty:
        return [
            "<h2 id='metrics'>Metrics</h2>"
            "<p>This run recorded no metrics (runenv.R() / runenv.D()).</p>"
        ]
    parts = ["<h2 id='metrics'>Metrics</h2>"]
    by_key = dict(tuple(frame.groupby(["kind", "name", "unit"], sort=False)))
    keys = sorted(by_key, key=lambda k: (k[0] != "results", k[1], k[2]))
    for k, (kind, name, unit) in enumerate(keys):
        if k == MAX_METRICS:
            parts.append(f"<p>… {len(keys) - MAX_METRICS} more metrics: see choreo results.</p>")
            break
        parts.append(_metric(by_key[(kind, name, unit)], str(kind), str(name), str(unit), start_ns))
    return parts


def _metric(rows: pd.DataFrame, kind: str, name: str, unit: str, start_ns: int) -> str:
    first = rows.iloc[0]
    what = kind_of(str(first["type"]), str(first["source"]), name)
    if what == "counter":  # each instance's last total (sdk-go's ``.count`` snapshots too)
        samples = rows.sort_values("ts", kind="stable").groupby(["instance", "tags"]).tail(1)
    else:
        samples = sample_frame(rows)
    summary = natural(summarize(samples), "group")
    columns = ["group", *STATS]
    if what == "counter":
        totals = samples.groupby("group")["value"].sum()
        summary = summary.assign(total=[totals.get(g, 0.0) for g in summary["group"]])
        columns.append("total")
    table = html.table(columns, summary[columns].itertuples(index=False, name=None))
    series = _series(rows)
    if what == "counter":
        rates = bands.over_time(series, start_ns, "rate")
        png = plots.counter(_finals(samples), rates, name, unit)
        alt = f"{name}: final total per instance; rate: {bands.describe(rates, name)}"
        figures = html.image(png, alt)
    else:
        over = bands.over_time(series, start_ns, "level" if what == "level" else "samples")
        figures = html.image(plots.over_time(over, name, unit), bands.describe(over, name))
        if what == "samples":
            by_group = {str(g): v["value"].tolist() for g, v in samples.groupby("group")}
            by_group = {g: by_group[g] for g in sorted(by_group, key=instance_order)}
            distribution = plots.distribution(by_group, name, unit)
            figures = html.image(distribution, f"{name}: distribution per group") + figures
    return (
        f"<h3>{escape(name)} <small>({escape(kind)}, {escape(str(first['type']) or 'untyped')}"
        f"{', ' + escape(unit) if unit else ''})</small></h3>{table}{figures}"
    )


def natural(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` in the natural order of ``column`` (``g/2`` before ``g/10``)."""
    keys = [instance_order(str(v)) for v in frame[column]]
    return frame.iloc[sorted(range(len(keys)), key=keys.__getitem__)]


def _series(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as series: one per instance, or per instance and tag set when the metric
    carries InfluxDB tags (a counter per peer is one series per peer)."""
    if (rows["tags"] == "").all():
        return rows
    tagged = rows["instance"] + "," + rows["tags"]
    return rows.assign(instance=rows["instance"].where(rows["tags"] == "", tagged))


def _finals(samples: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per group (natural order), each instance's final total (natural order)."""
    finals: dict[str, dict[str, float]] = {}
    series = _series(samples)
    for group, instance, value in zip(
        series["group"], series["instance"], series["value"], strict=True
    ):
        finals.setdefault(str(group), {})[str(instance)] = float(value)
    return {
        g: {k: finals[g][k] for k in sorted(finals[g], key=instance_order)}
        for g in sorted(finals, key=instance_order)
    }
