"""The figures of reports and comparisons, as PNG bytes (matplotlib, Agg, no pyplot state).

Each function takes plain values (lists per group or instance, or the lines and bands that
:mod:`choreograph.results.bands` shaped), so the same figures serve runs, series and
comparisons. Figures are built with ``matplotlib.figure.Figure`` directly:
no global pyplot state, nothing opens a window, threads do not share a current figure.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from choreograph.results.bands import Bands, Lines, at_scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_LINES = 12
"""Series drawn with a legend entry; beyond this, lines are drawn thin and unlabelled."""
_MAX_TICKS = 30
"""Bars that get their instance as a tick label; more would print over each other."""


def figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def distribution(samples: Mapping[str, Sequence[float]], name: str, unit: str) -> bytes:
    """Histogram per group (left) and a box plot per group (right)."""
    import numpy as np

    fig, (hist, box) = figure(10, 3.4, 2)
    labels = list(samples)
    # Arrays, not lists: matplotlib checks a list's every element (0.3 s at 80,000 samples).
    values = [np.asarray(samples[k], dtype=float) for k in labels]
    for label, array in zip(labels, values, strict=True):
        hist.hist(array, bins=40, histtype="step", linewidth=1.5, label=label)
    hist.set_xlabel(_label(name, unit))
    hist.set_ylabel("samples")
    hist.set_title(f"{name}: distribution per group")
    if len(labels) <= MAX_LINES:
        hist.legend(fontsize="small")
    box.boxplot(values, tick_labels=labels, orientation="horizontal")
    box.set_xlabel(_label(name, unit))
    box.set_title("p25-p75 box, whiskers 1.5 IQR")
    return to_png(fig)


def over_time(series: Lines | Bands, name: str, unit: str, title: str = "") -> bytes:
    """A metric over time, x in seconds since the run started: a line per instance, a
    cloud of points per group, or per-group bands (see :mod:`choreograph.results.bands`)."""
    fig, (ax,) = figure(10, 3.0)
    draw(ax, series)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel(_label(name, unit))
    ax.set_title(title or f"{name} over time{_band_note(series)}")
    return to_png(fig)


def _band_note(series: Lines | Bands) -> str:
    if isinstance(series, Bands):
        return f": p5-p95 and p50 across {series.across}, per group"
    return ""


def draw(ax: Axes, series: Lines | Bands) -> None:
    """Lines (or clouds of points), or per group a shaded p5-p95 band and its p50 line."""
    if isinstance(series, Bands):
        for k, (group, band) in enumerate(series.groups.items()):
            colour = f"C{k % 10}"
            ax.fill_between(band.x, band.p5, band.p95, color=colour, alpha=0.25, linewidth=0)
            ax.plot(band.x, band.p50, "-", color=colour, linewidth=1.4,
                    label=f"{group} ({band.instances})")  # fmt: skip
        labelled = len(series.groups)
    else:
        many = len(series.series) > MAX_LINES
        for label, (xs, ys) in series.series.items():
            style = "." if series.dots else "-" if len(xs) > 1 else "o"
            ax.plot(xs, ys, style, linewidth=0.6 if many else 1.2, markersize=3,
                    label=None if many else label)  # fmt: skip
        labelled = 0 if many else len(series.series)
    if 0 < labelled <= MAX_LINES:
        ax.legend(fontsize="small", ncols=min(4, labelled))
    ax.grid(alpha=0.3)


def resources(cpu: Lines | Bands, rss_mb: Lines | Bands) -> bytes:
    """CPU % (left) and RSS in MiB (right) over time, per instance or as per-group bands."""
    fig, (left, right) = figure(10, 3.4, 2)
    what = "per group, p5-p95 and p50" if isinstance(cpu, Bands) else "per instance"
    draw(left, cpu)
    left.set_title(f"CPU {what} (100 % = one core)", fontsize="medium")
    left.set_ylabel("CPU %")
    draw(right, rss_mb)
    right.set_title(f"memory (RSS) {what}", fontsize="medium")
    right.set_ylabel("MiB")
    for ax in (left, right):
        ax.set_xlabel("seconds since the run started")
    return to_png(fig)


def counter(
    finals: Mapping[str, Mapping[str, float]], rates: Lines | Bands, name: str, unit: str
) -> bytes:
    """A counter: each instance's final total (left; a bar each, or past the threshold a
    box per group) and its rate over time (right). Never a histogram of running totals."""
    fig, (left, right) = figure(10, 3.4, 2)
    if at_scale(len(v) for v in finals.values()):
        groups = list(finals)
        left.boxplot(
            [list(finals[g].values()) for g in groups], tick_labels=groups, orientation="horizontal"
        )
        left.set_title(f"{name}: final total per instance, per group", fontsize="medium")
        left.set_xlabel(_label(name, unit))
    else:
        labels: list[str] = []
        values: list[float] = []
        colours: list[str] = []
        for k, totals in enumerate(finals.values()):
            labels += totals
            values += totals.values()
            colours += [f"C{k % 10}"] * len(totals)
        rows = list(range(len(labels)))
        left.barh(rows, values, color=colours)
        left.set_yticks(rows, labels if len(labels) <= _MAX_TICKS else [""] * len(rows))
        left.invert_yaxis()
        left.tick_params(axis="y", labelsize="small")
        left.set_title(f"{name}: final total per instance", fontsize="medium")
        left.set_xlabel(_label(name, unit))
    draw(right, rates)
    right.set_title(f"{name}: rate{_band_note(rates)}", fontsize="medium")
    right.set_xlabel("seconds since the run started")
    right.set_ylabel(_label(name, unit) + " per s" if unit else "per s")
    return to_png(fig)


def run_means(means: Sequence[float], mean: float, low: float, high: float, name: str) -> bytes:
    """Per-run means of a series with the running mean's confidence interval."""
    from matplotlib.ticker import MaxNLocator

    fig, (ax,) = figure(10, 3.2)
    xs = list(range(1, len(means) + 1))
    ax.plot(xs, means, "o-", label="per-run mean")
    ax.axhline(mean, color="black", linewidth=1, label=f"mean {mean:.4g}")
    ax.axhspan(low, high, alpha=0.2, color="tab:green", label="confidence interval")
    ax.set_xlabel("run")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(name)
    ax.set_title(f"{name}: per-run means")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return to_png(fig)


def side_by_side(samples: Mapping[str, Sequence[float]], name: str, unit: str) -> bytes:
    """Two (or more) sample sets next to each other: box plots with every point jittered."""
    import random

    fig, (ax,) = figure(8, 4)
    labels = list(samples)
    ax.boxplot([list(samples[k]) for k in labels], tick_labels=labels, showmeans=True)
    jitter = random.Random(0)
    for k, label in enumerate(labels, 1):
        values = list(samples[label])
        xs = [k + jitter.uniform(-0.15, 0.15) for _ in values]
        ax.plot(xs, values, ".", alpha=0.35, markersize=4)
    ax.set_ylabel(_label(name, unit))
    ax.set_title(f"{name}: side by side (triangle: mean)")
    ax.grid(alpha=0.3, axis="y")
    return to_png(fig)
