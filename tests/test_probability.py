"""servqual.stats.probability against scipy.stats and statsmodels on the same numbers."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from servqual.stats import probability as pr


def test_tail_probabilities_and_quantiles_equal_scipy():
    x = np.array([-40.0, -3.2, -1.0, 0.0, 0.4, 1.96, 2.5, 8.0, 60.0])
    for df in (1, 2.5, 7, 30, 1e4):
        assert np.allclose(pr.t_sf(x, df), stats.t.sf(x, df), rtol=1e-12, atol=0)
    q = np.array([0.001, 0.025, 0.5, 0.975, 0.999])
    for df in (1, 3, 29, 500):
        assert np.allclose(pr.t_ppf(q, df), stats.t.ppf(q, df), rtol=1e-12)
    assert np.allclose(pr.normal_sf(x), stats.norm.sf(x), rtol=1e-12, atol=0)
    h = np.array([0.0, 0.3, 2.0, 11.07, 80.0])
    for df in (1, 4, 12):
        assert np.allclose(pr.chi2_sf(h, df), stats.chi2.sf(h, df), rtol=1e-12, atol=0)
    for df1, df2 in ((1, 5), (3, 40.5), (9, 1e3)):
        assert np.allclose(pr.f_sf(h, df1, df2), stats.f.sf(h, df1, df2), rtol=1e-12, atol=0)


@pytest.mark.parametrize("k,n,p", [(0, 10, 0.3), (1, 10, 0.3), (7, 10, 0.3), (10, 10, 0.3),
                                   (11, 10, 0.3), (480, 900, 0.5), (3, 1000, 0.001),
                                   (55, 60, 0.77)])
def test_binomial_upper_tail_is_scipys_one_sided_binomtest(k, n, p):
    expected = stats.binomtest(k, n, p, alternative="greater").pvalue if k <= n else 0.0
    assert pr.binomial_at_least(k, n, p) == pytest.approx(expected, rel=1e-10, abs=1e-300)


series = st.integers(3, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(-50, 50).map(lambda v: v / 7), min_size=n, max_size=n),
    st.lists(st.integers(0, 60), min_size=n, max_size=n, unique=True)))


@settings(max_examples=150, deadline=None)
@given(data=series)
def test_least_squares_equals_statsmodels_ols(data):
    y, x = (np.asarray(v, dtype=float) for v in data)
    fit = OLS(y, add_constant(x)).fit()
    line = pr.least_squares(x, y)
    assert line.slope == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
    assert line.intercept == pytest.approx(fit.params[0], rel=1e-9, abs=1e-12)
    if fit.bse[1] > 1e-9:  # a perfect fit: both report a zero or rounding-level error
        assert line.se == pytest.approx(fit.bse[1], rel=1e-7)
        assert line.p_value == pytest.approx(fit.pvalues[1], rel=1e-6, abs=1e-15)
        low, high = fit.conf_int(0.05)[1]
        assert (line.low, line.high) == (pytest.approx(low, rel=1e-7, abs=1e-12),
                                         pytest.approx(high, rel=1e-7, abs=1e-12))


def test_least_squares_of_a_perfect_line():
    x = np.array([0.0, 1.0, 2.0, 4.0])
    rising = pr.least_squares(x, 1.5 + 0.25 * x)
    assert (rising.slope, rising.intercept, rising.p_value) == (0.25, 1.5, 0.0)
    assert rising.low == rising.high == 0.25
    assert np.isnan(pr.least_squares(x, np.full(4, 3.0)).p_value)  # no slope, no residual


@settings(max_examples=200, deadline=None)
@given(data=series, ties=st.booleans())
def test_kendall_tau_and_theil_sen_equal_scipy(data, ties):
    y, x = (np.asarray(v, dtype=float) for v in data)
    if ties:  # coarse values: ties in y, and in x, take the normal approximation
        y, x = np.round(y / 3), np.floor(x / 4)
    tau, p = pr.kendall_tau(x, y)
    expected = stats.kendalltau(x, y)
    if np.isnan(expected.statistic):
        assert np.isnan(tau) and np.isnan(p)
    else:
        assert tau == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
        assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    if len(np.unique(x)) > 1:
        assert pr.theil_sen_slope(x, y) == pytest.approx(stats.theilslopes(y, x).slope,
                                                         rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [3, 4, 9, 33, 34, 60])
def test_kendall_exact_and_extreme_orders(n):
    x = np.arange(n, dtype=float)
    for y in (x.copy(), -x, np.r_[x[1:], x[:1]], np.r_[x[n // 2:], x[:n // 2]]):
        tau, p = pr.kendall_tau(x, y)
        expected = stats.kendalltau(x, y)
        assert tau == pytest.approx(expected.statistic, rel=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
