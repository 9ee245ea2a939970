"""The statistics of the grid study: mean, sample SD, t-based 95 % confidence interval, Welch's t-test, Holm.

Folds are the unit: each fold's score is one observation, so ``n`` is the number of finished folds. The SD
uses ``ddof=1`` (a sample of folds), the interval Student's t with ``n - 1`` degrees of freedom
(``scipy.stats.t.interval``), and the comparison Welch's unequal-variance t-test
(``scipy.stats.ttest_ind(equal_var=False)``, whose result carries the Welch–Satterthwaite df), because two
cells' fold scores need not spread alike.

Identical scores are handled here, not left to scipy: a small grid often scores a cell the same on every fold
(every fold collapsed to the majority class, say). Such a cell has no spread: its SD is 0 and its interval has
zero width. scipy would compute a variance of rounding noise instead and warn about "catastrophic
cancellation" once per fold, a warning the user can do nothing about.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 0.05
# Values closer to their mean than this (relative) are one score written with rounding noise. It is the bound
# below which scipy calls data "nearly identical" and warns, so no sample that passes here makes it warn.
IDENTICAL_RELATIVE = 10 * np.finfo(float).eps


@dataclass(frozen=True)
class Summary:
    """``n`` values summarised; ``sd`` and the interval are NaN when there are fewer than two, and the interval
    has zero width when every value is the same."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


@dataclass(frozen=True)
class WelchResult:
    """Welch's t-test of ``mean(a) - mean(b)``; NaN where it cannot be computed: fewer than two values in a
    sample, or no spread in either (every fold of both cells scored the same, so there is nothing to test
    the difference against)."""

    t: float
    df: float
    p: float
    difference: float


def _clean(values: Sequence[float]) -> np.ndarray:
    array = np.asarray([float(v) for v in values], dtype=float)
    return array[~np.isnan(array)]


def _identical(array: np.ndarray) -> bool:
    """Whether every value of ``array`` (not empty) is the same score, up to rounding noise."""
    mean = array.mean()
    return bool(np.max(np.abs(array - mean)) <= IDENTICAL_RELATIVE * abs(mean))


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, SD (ddof=1) and the two-sided ``confidence`` interval of the mean: ``mean ± t(n-1) * sd / sqrt(n)``.

    NaN values (folds without a result) are left out. Identical values give SD 0 and a zero-width interval.
    """
    array = _clean(values)
    n = len(array)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    if _identical(array):
        return Summary(n, mean, 0.0, mean, mean)
    sd = float(array.std(ddof=1))
    low, high = scipy_stats.t.interval(confidence, df=n - 1, loc=mean, scale=sd / math.sqrt(n))
    return Summary(n, mean, sd, float(low), float(high))


def welch_test(a: Sequence[float], b: Sequence[float]) -> WelchResult:
    """Two-sided Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) with its Welch–Satterthwaite df.

    When one sample is identical values, its mean has no uncertainty and Welch's test is exactly the one-sample
    t-test of the other sample against that value (df ``n - 1`` of the other); when both are, the result is NaN.
    """
    x, y = _clean(a), _clean(b)
    difference = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2:
        return WelchResult(math.nan, math.nan, math.nan, difference)
    x_fixed, y_fixed = _identical(x), _identical(y)
    if x_fixed and y_fixed:  # both cells scored the same on every fold: there is no spread to test against
        return WelchResult(math.nan, math.nan, math.nan, difference)
    if x_fixed:
        result = scipy_stats.ttest_1samp(y, popmean=x.mean())
        return WelchResult(-float(result.statistic), float(result.df), float(result.pvalue), difference)
    if y_fixed:
        result = scipy_stats.ttest_1samp(x, popmean=y.mean())
    else:
        result = scipy_stats.ttest_ind(x, y, equal_var=False)
    return WelchResult(float(result.statistic), float(result.df), float(result.pvalue), difference)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and does not count as a test).

    Many pairwise tests are run at once; adjusting keeps the chance of any false "significant" at ``ALPHA``.
    """
    values = [float(p) for p in p_values]
    order = sorted((p, i) for i, p in enumerate(values) if not math.isnan(p))
    m = len(order)
    adjusted = [math.nan] * len(values)
    running = 0.0
    for rank, (p, index) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))  # monotone: never below an earlier (smaller) p's value
        adjusted[index] = running
    return adjusted
