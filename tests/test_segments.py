"""Segments: figures per value, small-base flags, suppression, tests between values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.oneway import anova_oneway

from fixtures import TINY_CSV, replace_in_instrument, tiny
from servqual.instrument import load_instrument
from fixtures import run_and_check
from servqual.stats.segments import welch_anova


def dimension_gaps(results, validated, dim, wave=None):
    """Per-respondent dimension gaps of a wave (the current one by default), computed
    directly with pandas."""
    r = validated.responses
    inst = results.instrument
    cols = [j for j, i in enumerate(inst.items) if i.dimension == dim]
    e = r.expectation[:, cols].astype(float)
    p = r.perception[:, cols].astype(float)
    g = pd.DataFrame(p - e)
    per = g.mean(axis=1).where(g.notna().sum(axis=1) >= 0.5 * len(cols))
    frame = r.meta.assign(gap=per.to_numpy())
    wave = results.current_wave if wave is None else wave
    return frame[frame["wave"].astype(str) == wave].dropna(subset=["gap"])


def test_segment_gaps_equal_direct_computation(sample_results):
    results, validated = sample_results
    frame = dimension_gaps(*sample_results, "responsiveness")
    expected = frame.groupby("region", observed=True)["gap"].agg(["mean", "count"])
    seg = results.segments
    rows = seg[(seg["column"] == "region") & (seg["dimension"] == "responsiveness")]
    for _, row in rows.iterrows():
        assert row["gap_mean"] == pytest.approx(expected.loc[row["value"], "mean"])
        assert row["n"] == expected.loc[row["value"], "count"]
    west = rows.set_index("value").loc["West", "gap_mean"]
    assert west < rows[rows["value"] != "West"]["gap_mean"].min() - 0.4  # planted


def test_every_waves_segment_gaps_equal_direct_computation(sample_results):
    """``segments_by_wave`` (the trend small multiples): each wave's published cells."""
    results, validated = sample_results
    record = results.to_json()
    published = {(r["wave"], r["value"]): r for r in record["segments_by_wave"]
                 if r["column"] == "region" and r["dimension"] == "reliability"}
    min_cell = record["thresholds"]["min_cell"]
    for wave in record["waves"]:
        frame = dimension_gaps(results, validated, "reliability", wave)
        expected = frame.groupby("region", observed=True)["gap"].agg(["mean", "count"])
        assert len(expected) >= 4
        for value, row in expected.iterrows():
            cell = published.get((wave, value))
            if row["count"] < min_cell:
                assert cell is None
                continue
            assert cell["n"] == row["count"]
            assert cell["gap_mean"] == pytest.approx(row["mean"])
    assert {w for w, _ in published} == set(record["waves"])


def test_between_segment_tests_match_scipy_and_statsmodels(sample_results):
    results, validated = sample_results
    frame = dimension_gaps(*sample_results, "empathy")
    groups = [g["gap"].to_numpy() for _, g in frame.groupby("customer_class", observed=True)]
    kw = stats.kruskal(*groups)
    welch = anova_oneway(groups, use_var="unequal", welch_correction=True)
    t = results.segment_tests
    row = t[(t["column"] == "customer_class") & (t["dimension"] == "empathy")].iloc[0]
    assert row["kruskal_h"] == pytest.approx(kw.statistic)
    assert row["kruskal_p"] == pytest.approx(kw.pvalue, rel=1e-6, abs=1e-300)
    assert row["welch_f"] == pytest.approx(welch.statistic)
    assert row["welch_p"] == pytest.approx(welch.pvalue, rel=1e-6, abs=1e-300)
    assert row["welch_df2"] == pytest.approx(welch.df[1])


def test_welch_by_statsmodels_on_unequal_groups():
    rng = np.random.default_rng(4)
    groups = [rng.normal(0, 1, 40), rng.normal(0.5, 3, 15), rng.normal(-0.2, 0.5, 90)]
    ref = anova_oneway(groups, use_var="unequal", welch_correction=True)
    f, p, df1, df2 = welch_anova([len(g) for g in groups], [g.mean() for g in groups],
                                 [g.var(ddof=1) for g in groups])
    assert (f, p, df1, df2) == pytest.approx((ref.statistic, ref.pvalue, *ref.df))


def test_small_base_flag_and_suppression(tmp_path):
    csv = TINY_CSV + "r5,North,4,4,4,5,5,5\n"
    instrument = replace_in_instrument(
        "small_base = 2", "small_base = 3", replace_in_instrument("min_cell = 1", "min_cell = 2"))
    results, _ = run_and_check([tiny(tmp_path, csv=csv, instrument=instrument)[1]],
                         load_instrument(tmp_path / "instrument.toml"))
    seg = results.segments.set_index(["value", "dimension"])
    north = seg.loc[("North", "alpha")]
    assert north["n"] == 1 and north["suppressed"] and north["small_base"]
    assert pd.isna(north["gap_mean"]) and pd.isna(north["gap_ci95_low"])
    east = seg.loc[("East", "alpha")]
    assert east["n"] == 2 and not east["suppressed"] and east["small_base"]
    doc = results.to_json()
    # A suppressed cell is not published at all, not even by name: it is counted instead.
    assert not [r for r in doc["segments"] + doc["segment_items"] + doc["segments_by_wave"]
                if r["value"] == "North"]
    assert [r["n"] for r in doc["segments_by_wave"]
            if (r["value"], r["dimension"]) == ("East", "alpha")] == [2]
    assert {"column": "region", "wave": results.current_wave, "values": 1, "n": 1} in \
        doc["segments_withheld"]


def test_segment_with_one_respondent_keeps_the_run_working(tmp_path):
    csv = TINY_CSV + "r5,North,4,4,4,5,5,5\n"
    results, _ = run_and_check([tiny(tmp_path, csv=csv)[1]],
                         load_instrument(tmp_path / "instrument.toml"))
    north = results.segments.set_index(["value", "dimension"]).loc[("North", "alpha")]
    assert north["n"] == 1 and north["gap_mean"] == 1.0  # min_cell = 1 in the tiny instrument
    assert pd.isna(north["gap_sd"]) and pd.isna(north["p_value"])
    tests = results.segment_tests.set_index("dimension")
    # Welch leaves out the one-respondent group; the other two still get a test.
    assert tests.loc["alpha", "groups"] == 3
