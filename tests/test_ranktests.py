"""Rank tests from histograms against scipy on the raw values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from servqual.stats.ranktests import kruskal, median_from_histogram, wilcoxon_pratt


def histogram(x):
    return np.unique(np.asarray(x, dtype=float), return_counts=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-6, 6), min_size=20, max_size=300))
def test_wilcoxon_pratt_equals_scipy(gaps):
    d = np.array(gaps, dtype=float)
    if np.all(d == 0):
        return  # nothing to rank; both sides give NaN
    ref = stats.wilcoxon(d, zero_method="pratt", method="asymptotic")
    statistic, z, p = wilcoxon_pratt(*histogram(d))
    assert statistic == pytest.approx(ref.statistic)
    # scipy signs z by its reported statistic min(r+, r−); ours by r+ (positive: gaps above 0).
    assert abs(z) == pytest.approx(abs(ref.zstatistic))
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_wilcoxon_fractional_dimension_gaps():
    rng = np.random.default_rng(7)
    d = rng.integers(-12, 12, 500) / 4.0
    ref = stats.wilcoxon(d, zero_method="pratt", method="asymptotic")
    assert wilcoxon_pratt(*histogram(d))[2] == pytest.approx(ref.pvalue)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(-4, 4), min_size=2, max_size=60), min_size=2, max_size=5))
def test_kruskal_equals_scipy(groups):
    arrays = [np.array(g, dtype=float) for g in groups]
    if len(np.unique(np.concatenate(arrays))) < 2:
        return  # all values tied: H undefined
    ref = stats.kruskal(*arrays)
    h, p, df = kruskal([histogram(a) for a in arrays])
    assert h == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)
    assert df == len(arrays) - 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-6, 6), min_size=1, max_size=50))
def test_median_equals_numpy(values):
    assert median_from_histogram(*histogram(values)) == pytest.approx(np.median(values))


def test_results_wilcoxon_matches_scipy_on_raw_sample(sample_results):
    results, validated = sample_results
    r = validated.responses
    current = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    items = results.items.set_index("item")
    for j, item in enumerate(results.instrument.item_ids[:6]):
        e = r.expectation[current, j].astype(float)
        p = r.perception[current, j].astype(float)
        d = (p - e)[~np.isnan(p - e)]
        ref = stats.wilcoxon(d, zero_method="pratt", method="asymptotic")
        assert items.loc[item, "wilcoxon_p"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        assert items.loc[item, "gap_median"] == np.median(d)
