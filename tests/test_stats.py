"""report/stats.py against scipy.stats on fixed inputs, and on cases with a known answer."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from mixgan.report import stats


def test_describe_matches_numpy_and_scipy_bootstrap():
    x = [3.0, 5.0, 4.0, 9.0, 7.0, None, float("nan"), float("inf")]  # non-finite values are dropped
    d = stats.describe(x)
    v = np.array([3.0, 5.0, 4.0, 9.0, 7.0])
    assert d.n == 5 and d.mean == pytest.approx(v.mean()) and d.std == pytest.approx(v.std(ddof=1))
    assert d.median == 5.0
    want = sps.bootstrap((v,), np.mean, confidence_level=0.95, n_resamples=stats.RESAMPLES, method="BCa",
                         random_state=np.random.default_rng(stats.SEED)).confidence_interval
    assert (d.low, d.high) == pytest.approx((want.low, want.high))
    assert d.low < d.mean < d.high
    assert stats.describe(x) == d  # reproducible


def test_describe_small_and_constant_groups():
    assert stats.describe([]).mean is None and stats.describe([float("nan")]).n == 0
    one = stats.describe([2.0])
    assert (one.n, one.mean, one.std, one.low) == (1, 2.0, None, None)
    const = stats.describe([4.0, 4.0, 4.0])
    assert (const.std, const.low, const.high) == (0.0, 4.0, 4.0)
    two = stats.describe([1.0, 3.0])
    assert two.low is not None and 1.0 <= two.low <= two.high <= 3.0


def test_identical_groups_interval_covers_zero_and_p_is_one():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    d = stats.difference(x, list(x))
    assert d.delta == 0 and d.low <= 0 <= d.high
    assert d.p_value == pytest.approx(1.0) and d.effect == pytest.approx(0.0)
    assert stats.difference([2.0, 2.0], [2.0, 2.0]).p_value == 1.0


def test_separated_groups_small_p_and_full_effect():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 1, 10), rng.normal(0, 1, 10)
    d = stats.difference(a, b)
    want = sps.mannwhitneyu(a, b, alternative="two-sided")
    assert d.p_value == pytest.approx(want.pvalue) and d.p_value < 1e-3
    assert d.effect == pytest.approx(1.0)  # every a is above every b
    assert d.delta == pytest.approx(a.mean() - b.mean()) and 0 < d.low < d.delta < d.high
    assert stats.difference(b, a).effect == pytest.approx(-1.0)


def test_wilson_matches_scipy_and_known_values():
    p, low, high = stats.wilson(3, 10)
    ci = sps.binomtest(3, 10).proportion_ci(method="wilson")
    assert p == 0.3 and (low, high) == pytest.approx((ci.low, ci.high))
    # Wilson's interval for 0 of n is (0, z²/(n+z²)); z = 1.959964 at 95 %.
    z2 = 1.959963984540054 ** 2
    assert stats.wilson(0, 5)[1] == pytest.approx(0.0, abs=1e-12)
    assert stats.wilson(0, 5)[2] == pytest.approx(z2 / (5 + z2))
    assert stats.wilson(0, 0) == (None, None, None)


def test_formatting():
    assert stats.fmt(stats.describe([])) == "—"
    assert stats.fmt(stats.describe([2.0])) == "2"
    text = stats.fmt(stats.describe([1.0, 2.0, 3.0]))
    assert text.startswith("2 ± 1 [") and text.endswith("]")
    assert stats.fmt_rate(0, 0) == "—" and stats.fmt_rate(1, 4).startswith("1/4 (")
    diff = stats.fmt_difference(stats.difference([5.0, 6.0, 7.0], [1.0, 2.0, 3.0]))
    assert diff.startswith("+4 [") and "p=0.1" in diff and "r=+1.00" in diff
    assert math.isclose(stats.difference([5.0, 6.0, 7.0], [1.0, 2.0, 3.0]).p_value, 0.1)
