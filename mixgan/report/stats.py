"""Statistics over seeds, one rule for every report (compare, the sweep report, scripts).

A metric is summarized over the seeds that *finished with a finite value* (completed runs); diverged
and failed seeds are never averaged in, they are counted, and rates (collapse, divergence) are
fractions of all finished seeds with Wilson intervals. Intervals and tests are scipy.stats'
(`bootstrap`, `mannwhitneyu`, `binomtest`), never written by hand; the bootstrap uses a fixed seed so
that the same runs give the same report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000  # bootstrap resamples: intervals stable to about ±1 % of their width
SEED = 0  # the bootstrap's generator: reports are reproducible


@dataclass(frozen=True)
class Described:
    """One metric over a group's seeds (finite values only)."""

    n: int
    mean: float | None
    std: float | None  # sample std (ddof 1); None below 2 values
    median: float | None
    low: float | None  # 95 % bootstrap interval of the mean (BCa); None below 2 values
    high: float | None


@dataclass(frozen=True)
class Difference:
    """mean(group) − mean(baseline), its bootstrap interval, Mann–Whitney U and an effect size."""

    n: int
    n_baseline: int
    delta: float | None
    low: float | None
    high: float | None
    p_value: float | None  # two-sided Mann–Whitney U
    effect: float | None  # rank-biserial correlation in [−1, 1]: P(group > base) − P(group < base)


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The finite numbers of `values` (None, NaN and ±inf dropped) as float64."""
    vals = [float(v) for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]
    return np.asarray(vals, dtype=np.float64)


def _bootstrap(data: tuple[np.ndarray, ...], statistic) -> tuple[float, float]:
    from scipy import stats

    if all(np.all(d == d[0]) for d in data):  # no spread: the interval is the point (scipy gives NaN)
        value = float(statistic(*data))
        return value, value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples: scipy warns that BCa may be inaccurate
        res = stats.bootstrap(data, statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                              method="BCa" if len(data) == 1 else "percentile",
                              random_state=np.random.default_rng(SEED), vectorized=True, axis=-1)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa undefined (e.g. 2 values): percentile
        return _percentile(data, statistic)
    return low, high


def _percentile(data: tuple[np.ndarray, ...], statistic) -> tuple[float, float]:
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(data, statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                              method="percentile", random_state=np.random.default_rng(SEED),
                              vectorized=True, axis=-1)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def describe(values: Sequence[float | None]) -> Described:
    """Mean, sample std, median and a 95 % bootstrap interval of the mean over the finite values."""
    x = finite(values)
    if not len(x):
        return Described(0, None, None, None, None, None)
    mean, median = float(x.mean()), float(np.median(x))
    if len(x) < 2:
        return Described(1, mean, None, median, None, None)
    low, high = _bootstrap((x,), _mean)
    return Described(len(x), mean, float(x.std(ddof=1)), median, low, high)


def difference(values: Sequence[float | None], baseline: Sequence[float | None]) -> Difference:
    """The group against the baseline: difference of means with a two-sample bootstrap interval, the
    two-sided Mann–Whitney U p-value and the rank-biserial effect size (finite values only)."""
    from scipy import stats

    x, y = finite(values), finite(baseline)
    if not len(x) or not len(y):
        return Difference(len(x), len(y), None, None, None, None, None)
    delta = float(x.mean() - y.mean())
    low = high = None
    if len(x) >= 2 and len(y) >= 2:
        low, high = _bootstrap((x, y), _mean_difference)
    if np.all(x == x[0]) and np.all(y == y[0]) and x[0] == y[0]:
        p, u = 1.0, len(x) * len(y) / 2  # identical constants: no evidence of a difference
    else:
        res = stats.mannwhitneyu(x, y, alternative="two-sided")
        p, u = float(res.pvalue), float(res.statistic)
    return Difference(len(x), len(y), delta, low, high, p, 2 * u / (len(x) * len(y)) - 1)


def wilson(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    """The fraction k/n with its 95 % Wilson score interval (None when n = 0)."""
    if n <= 0:
        return None, None, None
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return k / n, float(ci.low), float(ci.high)


def fmt(d: Described, digits: str = ".4g") -> str:
    """`mean ± std [low, high]` (— without values), for Markdown tables."""
    if d.mean is None:
        return "—"
    out = f"{d.mean:{digits}}"
    if d.std is not None:
        out += f" ± {d.std:.2g}"
    if d.low is not None:
        out += f" [{d.low:.3g}, {d.high:.3g}]"
    return out


def fmt_difference(d: Difference) -> str:
    """`+Δ [low, high] p=… r=…` for Markdown tables (— without values)."""
    if d.delta is None:
        return "—"
    out = f"{d.delta:+.3g}"
    if d.low is not None:
        out += f" [{d.low:+.3g}, {d.high:+.3g}]"
    return out + f", p={d.p_value:.2g}, r={d.effect:+.2f}"


def fmt_rate(k: int, n: int) -> str:
    """`k/n (low–high)` with the Wilson interval, as fractions."""
    p, low, high = wilson(k, n)
    if p is None:
        return "—"
    return f"{k}/{n} ({low:.2f}–{high:.2f})"
