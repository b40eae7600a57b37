"""Gap statistics against hand computations and scipy/statsmodels on the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from fixtures import (TINY_ALPHA_GAPS, TINY_DIMENSIONS, TINY_ITEMS, TINY_OVERALL, tiny)
from servqual.instrument import load_instrument
from fixtures import run_and_check
from servqual.stats import adjust_pvalues, dimension_means, paired_t


@pytest.fixture
def tiny_results(tmp_path):
    inst, data = tiny(tmp_path)
    results, _ = run_and_check([data], load_instrument(inst))
    return results


def test_item_gaps_match_hand_computation(tiny_results):
    items = tiny_results.items.set_index("item")
    for item, expected in TINY_ITEMS.items():
        for field, value in expected.items():
            assert items.loc[item, field] == pytest.approx(value), (item, field)
    assert items.loc["i1", "gap_sd"] == pytest.approx(2.0)


def test_dimension_gaps_match_hand_computation(tiny_results):
    dims = tiny_results.dimensions.set_index("dimension")
    for dim, expected in TINY_DIMENSIONS.items():
        for field, value in expected.items():
            assert dims.loc[dim, field] == pytest.approx(value), (dim, field)
    assert dims.loc["alpha", "gap_sd"] ** 2 == pytest.approx(6.1875 / 3)
    assert tiny_results.overall["servqual_unweighted"] == pytest.approx(TINY_OVERALL)


def test_t_test_and_ci_match_scipy(tiny_results):
    dims = tiny_results.dimensions.set_index("dimension")
    ref = stats.ttest_1samp(TINY_ALPHA_GAPS, 0.0)
    ci = ref.confidence_interval(0.95)
    row = dims.loc["alpha"]
    assert row["t"] == pytest.approx(ref.statistic)
    assert row["p_value"] == pytest.approx(ref.pvalue)
    assert (row["gap_ci95_low"], row["gap_ci95_high"]) == pytest.approx((ci.low, ci.high))
    assert row["dz"] == pytest.approx(np.mean(TINY_ALPHA_GAPS) / np.std(TINY_ALPHA_GAPS, ddof=1))


def test_by_wave_figures_equal_direct_pandas_on_sample(sample_results):
    """Every wave's dimension gap equals a direct per-respondent computation with pandas."""
    results, validated = sample_results
    r = validated.responses
    inst = results.instrument
    e, p = r.expectation, r.perception
    both = ~np.isnan(e) & ~np.isnan(p)
    gaps = pd.DataFrame(np.where(both, p - e, np.nan), columns=inst.item_ids)
    for dim in inst.dimension_keys:
        cols = [i.id for i in inst.items_of(dim)]
        answered = gaps[cols].notna().sum(axis=1)
        per_resp = gaps[cols].mean(axis=1).where(answered >= 0.5 * len(cols))
        expected = per_resp.groupby(r.meta["wave"].astype(str).to_numpy()).agg(["mean", "count"])
        got = results.by_wave[results.by_wave["dimension"] == dim].set_index("wave")
        for wave in expected.index:
            assert got.loc[wave, "gap_mean"] == pytest.approx(expected.loc[wave, "mean"])
            assert got.loc[wave, "n"] == expected.loc[wave, "count"]


def test_item_t_tests_match_scipy_ttest_rel_on_sample(sample_results):
    results, validated = sample_results
    r = validated.responses
    current = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    items = results.items.set_index("item")
    for j, item in enumerate(results.instrument.item_ids):
        e, p = r.expectation[current, j].astype(float), r.perception[current, j].astype(float)
        ok = ~np.isnan(e) & ~np.isnan(p)
        ref = stats.ttest_rel(p[ok], e[ok])
        assert items.loc[item, "n"] == ok.sum()
        assert items.loc[item, "t"] == pytest.approx(ref.statistic, rel=1e-9)
        assert items.loc[item, "p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_p_adjustment_matches_statsmodels(method):
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.2, 23)
    p[[3, 7]] = np.nan
    ok = ~np.isnan(p)
    expected = multipletests(p[ok], method=method)[1]
    np.testing.assert_allclose(adjust_pvalues(p, method)[ok], expected)
    assert np.isnan(adjust_pvalues(p, method)[3])


def test_holm_by_hand():
    # m = 3: sorted 0.01, 0.03, 0.04 → 0.03, 0.06, max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03], "holm"), [0.03, 0.06, 0.06])


def test_min_item_share():
    member = np.array([[1.0], [1.0], [1.0], [1.0]])  # one dimension of four items
    values = np.array([[1, np.nan, np.nan, np.nan], [1, 3, np.nan, np.nan]], dtype=float)
    out = dimension_means(values, member, 0.5)
    assert np.isnan(out[0, 0]) and out[1, 0] == 2.0


def test_paired_t_edge_cases():
    out = paired_t(np.array([-1.0, 0.0, 2.0, 1.0]), np.array([0.0, 0.0, np.nan, np.sqrt(2)]),
                   np.array([5, 5, 1, 2]))
    # all gaps identical and non-zero: t infinite, p 0 (as scipy), CI collapses on the mean
    assert np.isinf(out["t"][0]) and out["p_value"][0] == 0.0
    assert out["gap_ci95_low"][0] == out["gap_ci95_high"][0] == -1.0
    # all gaps zero: nothing to test
    assert np.isnan(out["t"][1]) and np.isnan(out["p_value"][1])
    # n = 1: not computable
    assert np.isnan(out["p_value"][2]) and np.isnan(out["gap_ci95_low"][2])
    ref = stats.ttest_1samp([0.0, 2.0], 0.0)
    assert out["p_value"][3] == pytest.approx(ref.pvalue)
    with pytest.warns(RuntimeWarning):  # scipy agrees on constant non-zero gaps: p = 0
        assert stats.ttest_1samp([-1.0] * 5, 0.0).pvalue == 0.0


def test_gap_is_perception_minus_expectation_everywhere(sample_results):
    results, _ = sample_results
    for frame in (results.items, results.dimensions, results.by_wave):
        np.testing.assert_allclose(frame["gap_mean"],
                                   frame["perception_mean"] - frame["expectation_mean"],
                                   atol=1e-12)
