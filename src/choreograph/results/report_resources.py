"""The CPU and memory section of a run report, from the runner's ``resources.out`` samples.

Below the band threshold: a line per instance and each instance's peaks. Past it: per-group
bands, and per group the spread of the instances' peaks with the instance that peaked
highest, since 2,000 rows of peaks are a table nobody reads and megabytes of page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choreograph.results import bands, html, plots
from choreograph.results.layout import instance_order

if TYPE_CHECKING:
    import pandas as pd

_MIB = 1024 * 1024
_METRICS = (("cpu_percent", 1.0), ("rss_bytes", _MIB))


def section(frame: pd.DataFrame, start_ns: int) -> str:
    head = "<h2 id='resources'>Resources</h2>"
    if frame.empty:
        return head + (
            "<p>No resource samples (sample_interval = 0, or a runner that does not sample).</p>"
        )
    cpu, rss = (
        bands.over_time(_scaled(frame, name, scale), start_ns, "level") for name, scale in _METRICS
    )
    png = plots.resources(cpu, rss)
    alt = "CPU and memory: " + bands.describe(cpu, "CPU %")
    peaks = frame.groupby(["group", "instance", "name"])["value"].max().unstack("name")
    peaks = peaks.reindex(columns=[name for name, _ in _METRICS])
    peaks["rss_bytes"] = peaks["rss_bytes"] / _MIB
    sizes = peaks.groupby(level="group").size()
    table = _per_group(peaks) if bands.at_scale(sizes) else _per_instance(peaks)
    return f"{head}{html.image(png, alt)}{table}"


def _scaled(frame: pd.DataFrame, name: str, scale: float) -> pd.DataFrame:
    rows = frame[frame["name"] == name]
    return rows.assign(value=rows["value"] / scale)


def _per_instance(peaks: pd.DataFrame) -> str:
    keys = sorted(peaks.index, key=lambda k: instance_order(k[1]))
    rows = [(k[1], peaks.at[k, "cpu_percent"], peaks.at[k, "rss_bytes"]) for k in keys]
    return html.table(["instance", "peak CPU %", "peak RSS MiB"], rows)


def _per_group(peaks: pd.DataFrame) -> str:
    rows = []
    for group in sorted(peaks.index.unique("group"), key=instance_order):
        of_group = peaks.xs(group, level="group")
        row: list[object] = [group, len(of_group)]
        for column in ("cpu_percent", "rss_bytes"):
            values = of_group[column].dropna()
            if values.empty:
                row += [float("nan")] * 3 + ["-"]
                continue
            row += [values.quantile(0.5), values.quantile(0.95), values.max(), values.idxmax()]
        rows.append(row)
    headers = ["group", "instances", "CPU % peak p50", "p95", "max", "at",
               "RSS MiB peak p50", "p95", "max", "at"]  # fmt: skip
    return (
        "<p>Peaks per instance, summarised per group (p50 and p95 across the group's "
        "instances, and the instance with the highest).</p>" + html.table(headers, rows)
    )
