"""The figures of reports and comparisons, as PNG bytes (matplotlib, Agg, no pyplot state).

Each function takes plain values (lists per group or instance), so the same figures serve
runs, series and comparisons. Figures are built with ``matplotlib.figure.Figure`` directly:
no global pyplot state, nothing opens a window, threads do not share a current figure.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_LINES = 12
"""Series drawn with a legend entry; beyond this, lines are drawn thin and unlabelled."""

Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]
"""label → (x values, y values)."""


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
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
    fig, (hist, box) = _figure(10, 3.4, 2)
    labels = list(samples)
    for label in labels:
        hist.hist(samples[label], bins=40, histtype="step", linewidth=1.5, label=label)
    hist.set_xlabel(_label(name, unit))
    hist.set_ylabel("samples")
    hist.set_title(f"{name}: distribution per group")
    if len(labels) <= MAX_LINES:
        hist.legend(fontsize="small")
    box.boxplot([list(samples[k]) for k in labels], tick_labels=labels, vert=False)
    box.set_xlabel(_label(name, unit))
    box.set_title("p25-p75 box, whiskers 1.5 IQR")
    return to_png(fig)


def over_time(series: Series, name: str, unit: str, title: str = "", dots: bool = False) -> bytes:
    """One line (or, with ``dots``, a cloud of points) per label, x in seconds since the
    run started."""
    fig, (ax,) = _figure(10, 3.0)
    _lines(ax, series, dots)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel(_label(name, unit))
    ax.set_title(title or f"{name} over time")
    return to_png(fig)


def _lines(ax: Axes, series: Series, dots: bool = False) -> None:
    many = len(series) > MAX_LINES
    for label, (xs, ys) in series.items():
        style = "." if dots else "-" if len(xs) > 1 else "o"
        ax.plot(xs, ys, style, linewidth=0.6 if many else 1.2, markersize=3,
                label=None if many else label)  # fmt: skip
    if series and not many:
        ax.legend(fontsize="small", ncols=min(4, len(series)))
    ax.grid(alpha=0.3)


def resources(cpu: Series, rss_mb: Series) -> bytes:
    """CPU % (left) and RSS in MiB (right) per instance over time."""
    fig, (left, right) = _figure(10, 3.4, 2)
    _lines(left, cpu)
    left.set_title("CPU per instance (100 % = one core)")
    left.set_ylabel("CPU %")
    _lines(right, rss_mb)
    right.set_title("memory (RSS) per instance")
    right.set_ylabel("MiB")
    for ax in (left, right):
        ax.set_xlabel("seconds since the run started")
    return to_png(fig)


def run_means(means: Sequence[float], mean: float, low: float, high: float, name: str) -> bytes:
    """Per-run means of a series with the running mean's confidence interval."""
    from matplotlib.ticker import MaxNLocator

    fig, (ax,) = _figure(10, 3.2)
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

    fig, (ax,) = _figure(8, 4)
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
