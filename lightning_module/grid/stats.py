"""The statistics of the grid study: mean, sample SD, t-based 95 % confidence interval, Welch's t-test, Holm.

Folds are the unit: each fold's score is one observation, so ``n`` is the number of finished folds. The SD
uses ``ddof=1`` (a sample of folds), the interval Student's t with ``n - 1`` degrees of freedom, and the
comparison Welch's unequal-variance t-test, because two cells' fold scores need not spread alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    """``n`` values summarised; ``sd`` and the interval are NaN when there are fewer than two."""

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
    """Welch's t-test of ``mean(a) - mean(b)``; NaN where it cannot be computed (fewer than two values, no spread)."""

    t: float
    df: float
    p: float
    difference: float


def _clean(values: Sequence[float]) -> np.ndarray:
    array = np.asarray([float(v) for v in values], dtype=float)
    return array[~np.isnan(array)]


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, SD (ddof=1) and the two-sided ``confidence`` interval of the mean: ``mean ± t(n-1) * sd / sqrt(n)``.

    NaN values (folds without a result) are left out.
    """
    array = _clean(values)
    n = len(array)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    sd = float(array.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def welch_test(a: Sequence[float], b: Sequence[float]) -> WelchResult:
    """Two-sided Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) with its Welch–Satterthwaite df."""
    x, y = _clean(a), _clean(b)
    difference = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2:
        return WelchResult(math.nan, math.nan, math.nan, difference)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if vx + vy == 0:  # both cells scored the same on every fold: there is no spread to test against
        return WelchResult(math.nan, math.nan, math.nan, difference)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    result = scipy_stats.ttest_ind(x, y, equal_var=False)
    return WelchResult(float(result.statistic), float(df), float(result.pvalue), difference)


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
