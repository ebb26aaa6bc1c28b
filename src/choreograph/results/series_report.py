"""A series' report: the runs made, the interval reached, how it got there.

For the series' metric (``--until-stable``): the per-run means with the final interval
and the normality check of those means, and each run's samples side by side. For every
result metric of the runs: the per-run means in one table, so a ``--repeat`` series
without a metric still shows how each number moved from run to run.
"""

from __future__ import annotations

import statistics
from html import escape
from typing import TYPE_CHECKING, Any

from choreograph.results import html, plots
from choreograph.results.metrics import read_run

if TYPE_CHECKING:
    from choreograph.results.locate import Located

MAX_SIDE_BY_SIDE = 25
MAX_METRICS = 20


def series_report(series: Located) -> str:
    record = series.record
    spec = record.get("spec", {})
    subtitle = (
        f"plan {spec.get('plan', '?')}, case {spec.get('case', '?')}, "
        f"{len(record.get('runs', []))} runs, started {record.get('started', '?')}"
    )
    good = record.get("status") in ("stable", "done")
    verdict = html.status(str(record.get("status")), good, record.get("status") == "max-runs")
    body = [
        f"<h2>Series: {verdict.html}</h2><p>{escape(str(record.get('stop_reason', '')))}</p>",
        _interval(record),
        _metric_plots(series, record),
        _runs(series, record),
    ]
    return html.page(f"Series {series.name}", subtitle, body)


def _interval(record: dict[str, Any]) -> str:
    interval, metric = record.get("interval"), record.get("metric")
    if not metric or not interval:
        return "<p>No metric was followed (a --repeat series): per-run means below.</p>"
    rows = [
        ("metric", metric),
        ("mean of per-run means", interval["mean"]),
        (f"{interval['confidence']:.0%} interval (Student t)",
         f"[{html.fmt(interval['low'])}, {html.fmt(interval['high'])}]"),
        ("half-width", interval["half_width"]),
        ("half-width / mean", _percent(interval["relative_half_width"])),
        ("target", _percent(record.get("plan", {}).get("rel_ci"))),
        ("runs with a value (n)", interval["n"]),
    ]  # fmt: skip
    normal = record.get("normality")
    if normal:
        reading = "no evidence against normality" if normal["normal"] else "not normal"
        rows.append(
            (
                "normality of per-run means",
                f"{normal['test']} W = {normal['statistic']:.3f}, p = {normal['p']:.3g}: {reading}",
            )
        )
    else:
        rows.append(("normality of per-run means", "not checked (needs ≥ 3 distinct means)"))
    return "<h2>Interval</h2>" + html.table(["", "value"], rows, left=2)


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) else "-"


def _metric_plots(series: Located, record: dict[str, Any]) -> str:
    metric, interval = record.get("metric"), record.get("interval")
    if not metric or not interval:
        return ""
    means = [r["mean"] for r in record.get("runs", []) if r.get("mean") is not None]
    low = interval["low"] if interval["low"] is not None else min(means)
    high = interval["high"] if interval["high"] is not None else max(means)
    parts = [html.image(plots.run_means(means, interval["mean"], low, high, metric), "means")]
    run_dirs = series.run_dirs()
    if len(run_dirs) <= MAX_SIDE_BY_SIDE:
        from choreograph.results.locate import Located

        per_run = {
            str(k): Located("run", d, series.home).samples(metric)
            for k, d in enumerate(run_dirs, 1)
            if d.is_dir()
        }
        per_run = {k: v for k, v in per_run.items() if v}
        if per_run:
            png = plots.side_by_side(per_run, metric, series.unit(metric))
            parts.append(html.image(png, "samples per run"))
    return "<h2>Per-run means</h2>" + "".join(parts)


def _runs(series: Located, record: dict[str, Any]) -> str:
    runs = record.get("runs", [])
    per_metric: dict[str, list[str]] = {}
    for k, run_dir in enumerate(series.run_dirs()):
        if not run_dir.is_dir():
            continue
        groups = [g["id"] for g in record.get("spec", {}).get("groups", [])]
        values: dict[str, list[float]] = {}
        for row in read_run(run_dir, groups, ("results",)):
            if row.type != "counter":
                values.setdefault(row.name, []).append(row.value)
        for name, vs in values.items():
            per_metric.setdefault(name, ["-"] * len(runs))[k] = html.fmt(statistics.fmean(vs))
    names = sorted(per_metric)[:MAX_METRICS]
    rows = [
        (r["run_id"], html.status("ok" if r["success"] else "failed", r["success"]),
         r["seconds"], *(per_metric[n][k] for n in names))
        for k, r in enumerate(runs)
    ]  # fmt: skip
    return "<h2>Runs (per-run mean of each result metric)</h2>" + html.table(
        ["run", "outcome", "seconds", *names], rows
    )
