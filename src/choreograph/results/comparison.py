"""``choreo compare``: two runs, two series, or two groups of one run, on one metric.

A run contributes every sample of the metric; a series contributes its per-run means (its
runs are the replicates: samples inside one run are not independent of that run's
conditions). Both sides must be of the same kind so the test compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from choreograph.errors import InputError
from choreograph.results import html, plots
from choreograph.results.locate import locate
from choreograph.results.stats import Comparison, compare

WHY = (
    "Welch's t-test (two-sided) decides: it does not assume the two sides have equal "
    "variances, and it stays valid with few, unequal samples. Mann-Whitney U is shown as a "
    "distribution-free check (skewed latencies, outliers)."
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
    """``sample`` (runs, groups) or ``per-run mean`` (series)."""


def sides(home: Path, a: str, b: str | None, metric: str, groups: list[str] | None) -> Sides:
    """The two sample sets asked for: ``a`` vs ``b``, or groups ``G1`` vs ``G2`` of ``a``."""
    first = locate(a, home)
    if groups:
        if b is not None or len(groups) != 2:
            raise InputError("--groups takes exactly two groups of one run: A --groups G1 G2")
        g1, g2 = groups
        return Sides(
            metric, first.unit(metric), f"{first.name}:{g1}", f"{first.name}:{g2}",
            first.samples(metric, g1), first.samples(metric, g2),
            "sample" if first.kind == "run" else "per-run mean",
        )  # fmt: skip
    if b is None:
        raise InputError("compare needs two runs or series (A B), or one run with --groups G1 G2")
    second = locate(b, home)
    if first.kind != second.kind:
        raise InputError(
            f"{first.name} is a {first.kind} and {second.name} a {second.kind}: "
            "compare two runs or two series"
        )
    return Sides(
        metric, first.unit(metric), first.name, second.name,
        first.samples(metric), second.samples(metric),
        "sample" if first.kind == "run" else "per-run mean",
    )  # fmt: skip


def run(s: Sides, alpha: float, confidence: float) -> Comparison:
    for label, values in ((s.label_a, s.a), (s.label_b, s.b)):
        if len(values) < 2:
            raise InputError(
                f"{label} has {len(values)} {s.unit_of_sample}(s) of metric {s.metric!r}; "
                "a comparison needs at least 2 on each side"
            )
    return compare(s.a, s.b, alpha, confidence)


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
        html.image(png, "side by side"),
    ]
    return html.page(f"Compare {s.metric}: {s.label_a} vs {s.label_b}", f"alpha {c.alpha}", body)
