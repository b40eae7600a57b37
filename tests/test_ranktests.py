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


def test_many_histograms_at_once_equal_scipy_one_by_one():
    """The grouped Wilcoxon and medians (one call for every cell of a report) against scipy
    and numpy on each sample, including an empty and an all-zero one."""
    from servqual.stats.ranktests import medians_from_histograms, wilcoxon_pratt_groups

    rng = np.random.default_rng(11)
    samples = [rng.integers(-3, 4, size) * 1.0 for size in (40, 7, 300, 1)]
    samples += [np.zeros(12), rng.choice([-0.5, 0.25, 1.0], 50), np.array([])]
    group, values, counts = [], [], []
    for g, d in enumerate(samples):
        x, c = histogram(d)
        group += [g] * len(x)
        values += list(x)
        counts += list(c)
    order = rng.permutation(len(group))  # rows in any order
    group, values, counts = (np.asarray(a)[order] for a in (group, values, counts))
    statistic, z, p = wilcoxon_pratt_groups(group, values.astype(float), counts.astype(float),
                                            len(samples))
    medians = medians_from_histograms(group, values.astype(float), counts.astype(float),
                                      len(samples))
    for g, d in enumerate(samples):
        if len(d) == 0:
            assert np.isnan([statistic[g], z[g], p[g], medians[g]]).all()
            continue
        assert medians[g] == np.median(d)
        if not d.any():  # all zeros: no variance, no test
            assert np.isnan(z[g]) and np.isnan(p[g])
            continue
        ref = stats.wilcoxon(d, zero_method="pratt", method="asymptotic")
        assert statistic[g] == pytest.approx(ref.statistic)
        assert p[g] == pytest.approx(ref.pvalue)
