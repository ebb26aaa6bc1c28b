"""The statistics behind ``--until-stable`` and ``choreo compare``. Pure functions (scipy).

* :func:`mean_ci`: mean with a Student-t confidence interval — the right interval for the
  mean of a few (per-run) values whose spread is estimated from the same values.
* :func:`normality`: Shapiro-Wilk, the most powerful common test at small n, on per-run
  means; the t interval assumes them roughly normal.
* :func:`compare`: difference of means (b - a) with a Welch interval, the relative change,
  Welch's t-test, and Mann-Whitney U. Welch because two versions rarely have equal
  variances and it stays valid with small, unequal n (Student's pooled test does not);
  Mann-Whitney as a distribution-free check for skewed latencies and outliers. The verdict
  uses Welch's p-value; when the two tests disagree the comparison says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    sd: float
    confidence: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def relative_half_width(self) -> float:
        """Half-width as a fraction of |mean| (inf when the mean is 0)."""
        return self.half_width / abs(self.mean) if self.mean else math.inf

    def within(self, rel: float) -> bool:
        return self.n >= 2 and self.half_width <= rel * abs(self.mean)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean ± t(1 - alpha/2, n - 1) · s / √n. One value has an infinitely wide interval."""
    from scipy import stats

    n = len(values)
    if n == 0:
        raise ValueError("no values: a mean needs at least one")
    mean = statistics.fmean(values)
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1, math.nan, confidence)
    sd = statistics.stdev(values)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd, confidence)


@dataclass(frozen=True)
class Normality:
    test: str
    statistic: float
    p: float
    n: int

    @property
    def normal(self) -> bool:
        """Not rejected at 0.05 (which, at small n, is weak evidence of normality)."""
        return self.p >= 0.05


def normality(values: Sequence[float]) -> Normality | None:
    """Shapiro-Wilk W and p; None below 3 values (the test needs them) or when all equal."""
    from scipy import stats

    if len(values) < 3 or len(set(values)) == 1:
        return None
    w, p = stats.shapiro(values)
    return Normality("Shapiro-Wilk", float(w), float(p), len(values))


@dataclass(frozen=True)
class Comparison:
    a: Interval
    b: Interval
    difference: float
    """mean(b) - mean(a)."""
    low: float
    high: float
    """Welch confidence interval of the difference."""
    relative: float
    """difference / |mean(a)|."""
    welch_t: float
    welch_df: float
    welch_p: float
    mann_whitney_u: float
    mann_whitney_p: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.welch_p < self.alpha

    @property
    def tests_agree(self) -> bool:
        return (self.mann_whitney_p < self.alpha) == self.significant

    def verdict(self, a: str = "A", b: str = "B") -> str:
        if not self.significant:
            return (
                f"no significant difference between {a} and {b} "
                f"(Welch p = {self.welch_p:.3g} ≥ {self.alpha:g})"
            )
        direction = "higher" if self.difference > 0 else "lower"
        return (
            f"{b} is significantly {direction} than {a}: {self.relative:+.1%} "
            f"(Welch p = {self.welch_p:.3g} < {self.alpha:g})"
        )


def compare(
    a: Sequence[float], b: Sequence[float], alpha: float = 0.05, confidence: float = 0.95
) -> Comparison:
    """Welch's t-test and interval, and Mann-Whitney U, of b against a (two-sided)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each side needs at least 2 samples, found {len(a)} and {len(b)}")
    ia, ib = mean_ci(a, confidence), mean_ci(b, confidence)
    va, vb = ia.sd**2 / ia.n, ib.sd**2 / ib.n
    se = math.sqrt(va + vb)
    diff = ib.mean - ia.mean
    if se == 0:  # both constant: equal or certainly different
        t, df, p = (0.0, math.inf, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0, 0.0)
        half = 0.0
    else:
        df = (va + vb) ** 2 / (va**2 / (ia.n - 1) + vb**2 / (ib.n - 1))
        t = diff / se
        p = float(2 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    u, mw_p = stats.mannwhitneyu(b, a, alternative="two-sided")
    relative = diff / abs(ia.mean) if ia.mean else math.inf
    return Comparison(
        ia, ib, diff, diff - half, diff + half, relative,
        float(t), float(df), p, float(u), float(mw_p), alpha,
    )  # fmt: skip
