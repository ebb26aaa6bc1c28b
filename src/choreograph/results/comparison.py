"""``choreo compare``: two runs, two series, or two groups of one run, on one metric.

The test compares replicates, not raw samples: samples inside one run follow each other
in time (a slow phase makes several slow in a row), so they are not independent, and a
t-test on them overstates its confidence. A run contributes the mean of each of its
instances; a series contributes its per-run means. When a side has fewer than three
instances with the metric (two means leave Welch's test about one degree of freedom: it
can tell almost nothing apart), raw samples are compared and the output says what that
assumes. The median (p50) and the tail (p99) of all samples are compared too, as
plain differences (no test): a change in the tail often matters more than the mean.
Both sides must be of the same kind so the test compares like with like.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from html import escape
from pathlib import Path

from choreograph.errors import InputError
from choreograph.results import html, plots
from choreograph.results.locate import Located, locate
from choreograph.results.stats import Comparison, compare

WHY = (
    "Welch's t-test (two-sided) decides: it does not assume the two sides have equal "
    "variances, and it stays valid with few, unequal samples. Mann-Whitney U is shown as a "
    "distribution-free check (skewed latencies, outliers)."
)
MIN_INSTANCES = 3
"""Per-instance means are compared when each side has at least this many."""
RAW_SAMPLES_NOTE = (
    f"assumes the samples are independent: they come from fewer than {MIN_INSTANCES} "
    "instances per side, "
    "and samples of one run are usually autocorrelated, so the p-value is optimistic; "
    "more instances (or a series: --repeat) give a sound test"
)


@dataclass(frozen=True)
class Sides:
    metric: str
    unit: str
    label_a: str
    label_b: str
    a: list[float]
    b: list[float]
    unit_of_sample: str
    """``per-instance mean`` (runs, groups), ``per-run mean`` (series) or ``sample``."""
    # No defaults: api.Comparison extends Sides with fields of its own.
    raw_a: list[float]
    raw_b: list[float]
    """Every observation of each side, for percentiles."""
    note: str
    """What the test assumes, when it is not the safe default; ``""`` otherwise."""


@dataclass(frozen=True)
class Quantile:
    name: str
    a: float
    b: float

    @property
    def difference(self) -> float:
        return self.b - self.a

    @property
    def relative(self) -> float:
        return self.difference / abs(self.a) if self.a else math.inf


def sides(home: Path, a: str, b: str | None, metric: str, groups: list[str] | None) -> Sides:
    """The two sample sets asked for: ``a`` vs ``b``, or groups ``G1`` vs ``G2`` of ``a``."""
    first = locate(a, home)
    if groups:
        if b is not None or len(groups) != 2:
            raise InputError("--groups takes exactly two groups of one run: A --groups G1 G2")
        g1, g2 = groups
        return _sides(
            metric, first.unit(metric), (f"{first.name}:{g1}", first, g1),
            (f"{first.name}:{g2}", first, g2),
        )  # fmt: skip
    if b is None:
        raise InputError("compare needs two runs or series (A B), or one run with --groups G1 G2")
    second = locate(b, home)
    if first.kind != second.kind:
        raise InputError(
            f"{first.name} is a {first.kind} and {second.name} a {second.kind}: "
            "compare two runs or two series"
        )
    return _sides(
        metric, first.unit(metric), (first.name, first, None), (second.name, second, None)
    )


def _sides(
    metric: str,
    unit: str,
    side_a: tuple[str, Located, str | None],
    side_b: tuple[str, Located, str | None],
) -> Sides:
    (label_a, where_a, group_a), (label_b, where_b, group_b) = side_a, side_b
    raw_a, raw_b = where_a.all_samples(metric, group_a), where_b.all_samples(metric, group_b)
    if where_a.kind == "series":
        a, b = where_a.samples(metric, group_a), where_b.samples(metric, group_b)
        return Sides(metric, unit, label_a, label_b, a, b, "per-run mean", raw_a, raw_b, "")
    a, b = where_a.instance_means(metric, group_a), where_b.instance_means(metric, group_b)
    if len(a) >= MIN_INSTANCES and len(b) >= MIN_INSTANCES:
        return Sides(metric, unit, label_a, label_b, a, b, "per-instance mean", raw_a, raw_b, "")
    return Sides(
        metric, unit, label_a, label_b, raw_a, raw_b, "sample", raw_a, raw_b, RAW_SAMPLES_NOTE
    )


def quantiles(s: Sides) -> list[Quantile]:
    """p50 and p99 of every sample of each side (empty when a side has none)."""
    if not s.raw_a or not s.raw_b:
        return []
    return [
        Quantile(name, _percentile(s.raw_a, q), _percentile(s.raw_b, q))
        for name, q in (("p50", 50), ("p99", 99))
    ]


def _percentile(values: list[float], q: int) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(s: Sides, alpha: float, confidence: float) -> Comparison:
    for label, values in ((s.label_a, s.a), (s.label_b, s.b)):
        if len(values) < 2:
            raise InputError(
                f"{label} has {len(values)} {s.unit_of_sample}(s) of metric {s.metric!r}; "
                "a comparison needs at least 2 on each side"
            )
    return compare(s.a, s.b, alpha, confidence)


def regression(c: Comparison, above: float | None, below: float | None) -> str:
    """Why the comparison fails the thresholds (percent changes of the mean), or ``""``:
    only a significant change beyond a threshold fails."""
    if not c.significant:
        return ""
    change = c.relative * 100
    if above is not None and change > above:
        return f"B's mean is {change:+.1f}% from A's, above --fail-above {above:g}%"
    if below is not None and change < -below:
        return f"B's mean is {change:+.1f}% from A's, below --fail-below {below:g}%"
    return ""


def plot(s: Sides) -> bytes:
    return plots.side_by_side({"A: " + s.label_a: s.a, "B: " + s.label_b: s.b}, s.metric, s.unit)


def page(s: Sides, c: Comparison, png: bytes) -> str:
    unit = f" {s.unit}" if s.unit else ""
    pct = f"{c.a.confidence:.0%}"
    rows = [
        ("A", s.label_a, c.a.n, c.a.mean, f"[{html.fmt(c.a.low)}, {html.fmt(c.a.high)}]"),
        ("B", s.label_b, c.b.n, c.b.mean, f"[{html.fmt(c.b.low)}, {html.fmt(c.b.high)}]"),
    ]
    tests = [
        ("difference of means (B - A)", f"{html.fmt(c.difference)}{unit}"),
        (f"{pct} interval of the difference", f"[{html.fmt(c.low)}, {html.fmt(c.high)}]{unit}"),
        ("relative change", f"{c.relative:+.2%}"),
        *(
            (
                f"{q.name} (all samples), B - A",
                f"{html.fmt(q.difference)}{unit} ({q.relative:+.2%})",
            )
            for q in quantiles(s)
        ),
        ("Welch's t", f"t = {c.welch_t:.3f}, df = {c.welch_df:.1f}, p = {c.welch_p:.3g}"),
        ("Mann-Whitney U", f"U = {c.mann_whitney_u:g}, p = {c.mann_whitney_p:.3g}"),
    ]
    body = [
        f"<h2>{html.status(c.verdict('A', 'B'), not c.significant, c.significant).html}</h2>",
        html.table(
            ["", "what", f"n ({s.unit_of_sample}s)", "mean", f"{pct} CI of mean"], rows, left=2
        ),
        html.table(["", "value"], tests, left=2),
        f"<p>{escape(WHY)}</p>",
        *([f"<p>{escape('note: this test ' + s.note)}</p>"] if s.note else []),
        html.image(png, "side by side"),
    ]
    return html.page(f"Compare {s.metric}: {s.label_a} vs {s.label_b}", f"alpha {c.alpha}", body)
