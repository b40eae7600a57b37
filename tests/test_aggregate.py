"""Aggregates: the counting path equals the float path; aggregates add up across parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servqual.stats import grouping
from servqual.stats.aggregate import aggregate
from servqual.models import CROSS_KEYS, HISTOGRAM_KEYS, KEYS, Aggregates


def assert_same(a: Aggregates, b: Aggregates) -> None:
    for name, keys in (("moments", KEYS), ("histograms", HISTOGRAM_KEYS),
                       ("crossproducts", CROSS_KEYS)):
        x = getattr(a, name).set_index(keys).sort_index()
        y = getattr(b, name).set_index(keys).sort_index()
        assert x.index.equals(y.index), name
        np.testing.assert_allclose(x.to_numpy(dtype=float), y.to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-9, err_msg=name)


def test_counting_path_equals_float_path(sample_results):
    results, validated = sample_results
    fast = aggregate(validated.responses, results.instrument)
    general = aggregate(validated.responses, results.instrument, fast=False)
    assert_same(fast, general)


def test_aggregates_of_parts_add_up_to_the_whole(sample_results):
    results, validated = sample_results
    r = validated.responses
    waves = r.meta["wave"].astype(str).to_numpy()
    first = np.isin(waves, results.waves[:3])
    parts = [aggregate(r.take(first), results.instrument),
             aggregate(r.take(~first), results.instrument)]
    assert_same(Aggregates.concat(parts), results.aggregates)


def test_segments_one_by_one_equal_cross_classified(sample_results, monkeypatch):
    results, validated = sample_results
    monkeypatch.setattr(grouping, "MAX_CELLS", 1)
    assert len(grouping.groupings(validated.responses)) == len(results.instrument.segments)
    assert_same(aggregate(validated.responses, results.instrument), results.aggregates)


def test_segment_moments_equal_pandas_groupby(sample_results):
    results, validated = sample_results
    r = validated.responses
    inst = results.instrument
    j = inst.item_ids.index("q11")
    e, p = r.expectation[:, j].astype(float), r.perception[:, j].astype(float)
    frame = pd.DataFrame({"wave": r.meta["wave"].astype(str), "region": r.meta["region"],
                          "gap": p - e})
    expected = frame.dropna().groupby(["wave", "region"], observed=True)["gap"].agg(
        ["count", "sum"])
    m = results.aggregates.moments
    got = m[(m["segment"] == "region") & (m["id"] == "q11") & (m["measure"] == "gap")]
    got = got.set_index(["wave", "value"])
    for (wave, region), row in expected.iterrows():
        assert got.loc[(wave, region), "n"] == row["count"]
        assert got.loc[(wave, region), "sum"] == pytest.approx(row["sum"])


@pytest.mark.parametrize("fast", [None, False])
def test_streaming_in_chunks_equals_one_chunk(sample_results, fast):
    results, validated = sample_results
    whole = aggregate(validated.responses, results.instrument, fast=fast,
                      chunk_rows=len(validated.responses))
    chunked = aggregate(validated.responses, results.instrument, fast=fast, chunk_rows=997)
    assert_same(chunked, whole)
    assert chunked.importance == whole.importance


def test_one_non_integer_answer_sends_everything_down_the_float_path(sample_results):
    results, validated = sample_results
    r = validated.responses.take(np.arange(len(validated.responses)))
    r.perception[-1, 0] = 4.5  # the last chunk only
    chunked = aggregate(r, results.instrument, chunk_rows=1000)
    assert_same(chunked, aggregate(r, results.instrument, fast=False))
    assert 4.5 - r.expectation[-1, 0] in set(
        chunked.histograms[(chunked.histograms["id"] == "q01")]["x"])


# The compiled loops (servqual.stats.kernels) against numpy and pandas on the same numbers.


@pytest.mark.parametrize("fast", [None, False])
def test_dimension_gap_tables_equal_pandas(sample_results, fast):
    """Moments per wave × region and the whole sample's histogram of every dimension gap,
    against pandas on the scores numpy computes (matrix products, no compiled loop)."""
    from servqual.stats.scores import dimension_scores

    results, validated = sample_results
    r, inst = validated.responses, results.instrument
    got = aggregate(r, inst, fast=fast)
    scores = dimension_scores(r, inst)
    m, h = got.moments, got.histograms
    for d, key in enumerate(inst.dimension_keys):
        frame = pd.DataFrame({"wave": r.meta["wave"].astype(str).to_numpy(),
                              "region": r.meta["region"].astype(object).to_numpy(),
                              "gap": scores.gap[:, d]}).dropna(subset=["gap"])
        frame["square"] = frame["gap"] ** 2
        expected = frame.dropna().groupby(["wave", "region"])[["gap", "square"]].agg(
            ["count", "sum"])
        rows = m[(m["segment"] == "region") & (m["level"] == "dimension") & (m["id"] == key)
                 & (m["measure"] == "gap")].set_index(["wave", "value"]).sort_index()
        assert list(rows.index) == list(expected.index)
        np.testing.assert_array_equal(rows["n"], expected[("gap", "count")])
        np.testing.assert_allclose(rows["sum"], expected[("gap", "sum")], rtol=1e-12)
        np.testing.assert_allclose(rows["sumsq"], expected[("square", "sum")], rtol=1e-12)

        histogram = frame.groupby(["wave", "gap"]).size()
        rows = h[(h["segment"] == "") & (h["level"] == "dimension") & (h["id"] == key)
                 & (h["measure"] == "gap")].set_index(["wave", "x"]).sort_index()
        assert list(rows.index) == list(histogram.index)  # equal scores (1/2, 2/4) once
        np.testing.assert_array_equal(rows["count"], histogram.to_numpy())


def test_crossproducts_equal_numpy(sample_results):
    """n, Σx and XᵀX over the respondents who answered every item of a dimension, of each
    battery and of the item gaps P − E (both answered)."""
    results, validated = sample_results
    r, inst = validated.responses, results.instrument
    cross = results.aggregates.crossproducts.set_index(CROSS_KEYS)
    waves = r.meta["wave"].astype(str).to_numpy()
    checked = 0
    batteries = {kind: getattr(r, kind).astype(float) for kind in ("expectation", "perception")}
    batteries["gap"] = batteries["perception"] - batteries["expectation"]
    for kind, answers in batteries.items():
        for key in inst.dimension_keys:
            cols = [j for j, item in enumerate(inst.items) if item.dimension == key]
            ids = [inst.items[j].id for j in cols]
            for wave in results.waves:
                x = answers[waves == wave][:, cols]
                x = x[~np.isnan(x).any(axis=1)]
                products = x.T @ x
                for a, ia in enumerate(ids):
                    for b, ib in enumerate(ids):
                        row = cross.loc[(wave, kind, key, ia, ib)]
                        assert row["n"] == len(x)
                        assert row["sum_a"] == x[:, a].sum()
                        assert row["sum_ab"] == products[a, b]
                        checked += 1
    assert checked == 3 * len(results.waves) * sum(
        sum(item.dimension == key for item in inst.items) ** 2 for key in inst.dimension_keys)


def test_weighted_squares_equal_numpy_on_both_paths(sample_results):
    """Σw, Σw²·x and Σw²·x² (what the design-based variance needs) of the counting path and
    the float path equal numpy's sums over the respondents, for items and dimensions."""
    import dataclasses

    from servqual.responses import WEIGHT
    from servqual.stats.scores import dimension_scores

    results, validated = sample_results
    inst = results.instrument
    r = validated.responses
    rng = np.random.default_rng(16)
    w = rng.uniform(0.2, 4.0, len(r))
    weighted = dataclasses.replace(r, meta=r.meta.assign(**{WEIGHT: w}))
    fast = aggregate(weighted, inst)
    assert_same(fast, aggregate(weighted, inst, fast=False))
    waves = r.meta["wave"].astype(str).to_numpy()
    j = inst.item_ids.index("q11")
    gap = r.perception[:, j].astype(float) - r.expectation[:, j].astype(float)
    dims = dimension_scores(r, inst)
    d = inst.dimension_keys.index("responsiveness")
    m = fast.moments.set_index(KEYS)
    for wave in results.waves[-2:]:
        for ident, level, x in (("q11", "item", gap),
                                ("responsiveness", "dimension", dims.gap[:, d])):
            ok = (waves == wave) & ~np.isnan(x)
            row = m.loc[(wave, "", "", level, ident, "gap")]
            ww, xx = w[ok], x[ok]
            assert row["w2"] == pytest.approx((ww ** 2).sum(), rel=1e-12)
            assert row["w2sum"] == pytest.approx((ww ** 2 * xx).sum(), rel=1e-12)
            assert row["w2sumsq"] == pytest.approx((ww ** 2 * xx ** 2).sum(), rel=1e-12)
