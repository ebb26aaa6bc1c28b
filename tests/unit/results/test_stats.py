"""Statistics against values computed by hand or published in textbooks."""

from __future__ import annotations

import math

import pytest

from choreograph.results.stats import compare, mean_ci, normality


def test_mean_ci_by_hand() -> None:
    # mean 5, s = sqrt(2.5), t(0.975, 4) = 2.7764451051977987
    ci = mean_ci([3.0, 4.0, 5.0, 6.0, 7.0], 0.95)
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert ci.mean == 5.0 and ci.n == 5
    assert ci.low == pytest.approx(5 - half, rel=1e-12)
    assert ci.high == pytest.approx(5 + half, rel=1e-12)
    assert ci.half_width == pytest.approx(1.963243161, rel=1e-9)
    assert ci.relative_half_width == pytest.approx(1.963243161 / 5, rel=1e-9)
    assert not ci.within(0.2) and ci.within(0.4)


def test_mean_ci_confidence_and_degenerate_cases() -> None:
    # t(0.995, 2) = 9.924843200918298; values 1, 2, 3: s = 1
    ci = mean_ci([1.0, 2.0, 3.0], 0.99)
    assert ci.half_width == pytest.approx(9.924843200918298 / math.sqrt(3), rel=1e-12)
    one = mean_ci([4.0])
    assert one.mean == 4.0 and math.isinf(one.half_width) and not one.within(0.5)
    same = mean_ci([2.0, 2.0, 2.0])
    assert same.half_width == 0 and same.within(0.0)
    with pytest.raises(ValueError):
        mean_ci([])


def test_welch_matches_a_hand_computation() -> None:
    from scipy import stats

    a = [19.0, 22.0, 16.0, 29.0, 24.0]
    b = [20.0, 11.0, 17.0, 12.0]
    # mean a = 22, var a = 24.5 (n 5); mean b = 15, var b = 18 (n 4)
    va, vb = 24.5 / 5, 18 / 4
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 3)
    c = compare(a, b)
    assert c.difference == -7.0
    assert c.welch_t == pytest.approx(-7 / se, rel=1e-12)
    assert c.welch_df == pytest.approx(df, rel=1e-12)
    assert c.welch_df == pytest.approx(6.9288, abs=1e-4)
    reference = stats.ttest_ind(a, b, equal_var=False)  # scipy's own Welch test
    assert c.welch_p == pytest.approx(reference.pvalue, rel=1e-9)
    assert c.welch_p == pytest.approx(0.0568, abs=1e-4)
    half = stats.t.ppf(0.975, df) * se
    assert (c.low, c.high) == (pytest.approx(-7 - half), pytest.approx(-7 + half))
    assert c.relative == pytest.approx(-7 / 22)
    assert not c.significant  # p = 0.057 at alpha 0.05 ...
    assert "no significant difference" in c.verdict()
    lenient = compare(a, b, alpha=0.1)  # ... but significant at 0.1
    assert lenient.significant and "significantly lower" in lenient.verdict()


def test_mann_whitney_on_separated_samples() -> None:
    # Fully separated samples of 5 and 5: U = 25 (or 0), exact two-sided p = 2/252
    c = compare([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0])
    assert c.mann_whitney_u == 25.0
    assert c.mann_whitney_p == pytest.approx(2 / 252, rel=1e-9)
    assert c.tests_agree


def test_identical_samples_are_not_different() -> None:
    c = compare([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert c.difference == 0 and c.welch_p == pytest.approx(1.0)
    assert not c.significant
    assert "no significant difference" in c.verdict()
    constant = compare([2.0, 2.0], [2.0, 2.0])
    assert not constant.significant
    with pytest.raises(ValueError, match="at least 2"):
        compare([1.0], [1.0, 2.0])


def test_shapiro_wilk() -> None:
    # Approximately normal (evenly spread quantiles) versus one far outlier.
    assert normality([1.0, 2.0]) is None
    assert normality([3.0, 3.0, 3.0]) is None
    fine = normality([-1.28, -0.84, -0.52, -0.25, 0.0, 0.25, 0.52, 0.84, 1.28])
    assert fine is not None and fine.normal and fine.statistic > 0.95
    skewed = normality([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 9.0])
    assert skewed is not None and not skewed.normal and skewed.p < 0.01
