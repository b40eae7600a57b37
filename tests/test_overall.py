"""Importance-weighted SERVQUAL, SERVPERF, sampling weights and the zone of tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import DescrStatsW

from fixtures import TINY_CSV, TINY_INSTRUMENT, replace_in_instrument, tiny, write
from servqual.instrument import load_instrument
from fixtures import run_and_check

WITH_IMPORTANCE = replace_in_instrument(
    'label = { en = "Beta", zh-CN = "乙维度" }',
    'label = { en = "Beta", zh-CN = "乙维度" }\nimportance = "W_b"',
    replace_in_instrument('label = { en = "Alpha", zh-CN = "甲维度" }',
                          'label = { en = "Alpha", zh-CN = "甲维度" }\nimportance = "W_a"'))
IMPORTANCE_CSV = "\n".join(
    line + extra for line, extra in zip(TINY_CSV.strip().splitlines(),
                                        [",W_a,W_b", ",60,40", ",50,50", ",0,0", ",30,60"])) + "\n"


def run(tmp_path, csv=TINY_CSV, instrument=TINY_INSTRUMENT):
    inst, data = tiny(tmp_path, csv=csv, instrument=instrument)
    return run_and_check([data], load_instrument(inst))


def test_weighted_servqual_and_servperf_by_hand(tmp_path):
    """Per respondent: r1 0.6·(−0.5) + 0.4·(+1) = 0.1; r2 0.5·(−2) + 0.5·0 = −1; r3 gave no
    points (excluded); r4's 30 + 60 = 90 points are rescaled to 1/3, 2/3: −2/3 − 2 = −8/3.
    Mean (0.1 − 1 − 8/3) / 3 = −10.7 / 9. SERVPERF: mean perception per dimension over all
    answered perception items, then per respondent: 4, 2.25, 4.5, 2.25 → 3.25; weighted 4,
    2.25, 11/6 → 97/36."""
    results, _ = run(tmp_path, IMPORTANCE_CSV, WITH_IMPORTANCE)
    o = results.overall
    assert o["servqual_weighted"] == pytest.approx(-10.7 / 9)
    assert o["servqual_weighted_n"] == 3
    assert o["servperf"] == pytest.approx(3.25)
    assert o["servperf_weighted"] == pytest.approx(97 / 36)
    dims = results.dimensions.set_index("dimension")
    assert dims.loc["alpha", "importance_weight"] == pytest.approx((0.6 + 0.5 + 1 / 3) / 3)
    assert dims.loc["beta", "importance_weight"] == pytest.approx((0.4 + 0.5 + 2 / 3) / 3)
    counts = results.to_json()["data_quality"]["importance_allocations"]
    assert counts == {"respondents": 4, "used": 3, "rescaled": 1, "all_zero": 1,
                      "missing_or_invalid": 0}


def test_without_importance_columns_there_is_no_weighted_score(tmp_path):
    results, _ = run(tmp_path)
    doc = results.to_json()
    assert doc["overall"]["servqual_weighted"] is None  # every field, null here
    assert doc["dimensions"][0]["importance_weight"] is None  # every field, null here
    assert "importance_allocations" not in doc["data_quality"]
    assert doc["overall"]["servperf"] == pytest.approx(3.25)


def linearised(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and its linearisation standard error, respondent by respondent: the
    ratio estimator's influence values w_i (x_i − m) / W, with-replacement variance
    n / (n − 1) · Σ z_i² (R survey: svymean(~x, svydesign(ids = ~1, weights = ~w)))."""
    m = float(np.sum(w * x) / np.sum(w))
    z = w * (x - m) / np.sum(w)
    n = len(x)
    return m, float(np.sqrt(n / (n - 1) * np.sum(z ** 2)))


def test_linearised_se_worked_example():
    """x = (1, 2, 4), w = (1, 1, 2): m = 11/4, Σw²(x − m)² = 158/16, var = 3/2 · 158/16 / 16."""
    from servqual.stats.moments import describe

    x, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0])
    frame = pd.DataFrame({"n": [3], "sum": [x.sum()], "sumsq": [(x * x).sum()],
                          "w": [w.sum()], "wsum": [(w * x).sum()], "wsumsq": [(w * x * x).sum()],
                          "w2": [(w * w).sum()], "w2sum": [(w * w * x).sum()],
                          "w2sumsq": [(w * w * x * x).sum()]})
    d = describe(frame).iloc[0]
    assert d["mean"] == pytest.approx(11 / 4)
    assert d["se"] == pytest.approx(np.sqrt(1.5 * 158 / 16 / 16))
    assert d["se"] == pytest.approx(linearised(x, w)[1])
    # without Σw²x, Σw²x² (an older store): Kish's sd² / n_eff
    old = describe(frame.drop(columns=["w2sum", "w2sumsq"])).iloc[0]
    assert old["se"] == pytest.approx(d["sd"] / np.sqrt(w.sum() ** 2 / (w * w).sum()))
    # equal weights: the ordinary sd / √n
    even = describe(frame.assign(w=3.0, wsum=x.sum(), wsumsq=(x * x).sum(), w2=3.0,
                                 w2sum=x.sum(), w2sumsq=(x * x).sum())).iloc[0]
    assert even["se"] == pytest.approx(x.std(ddof=1) / np.sqrt(3))


def test_sampling_weights_frequency_weighted_cis_too_narrow(tmp_path):
    """Weighted CIs and t-tests are design-based (linearisation), not frequency-weighted:
    the weighted mean and SD as DescrStatsW, the standard error, CI and p from the
    respondents' influence values, computed here from the raw file."""
    rng = np.random.default_rng(5)
    n = 120
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                          "region": rng.choice(["East", "West"], n),
                          "weight": rng.uniform(0.3, 3.0, n).round(3)})
    for c in ("E1", "E2", "E3", "P1", "P2", "P3"):
        frame[c] = rng.integers(1, 6, n)
    instrument = replace_in_instrument('segments = ["region"]',
                                       'segments = ["region"]\nsampling_weight = "weight"')
    results, _ = run(tmp_path, frame.to_csv(index=False), instrument)
    gaps = frame[["P1", "P2"]].to_numpy() - frame[["E1", "E2"]].to_numpy()
    alpha_gap = gaps.mean(axis=1)
    w = frame["weight"].to_numpy()
    ref = DescrStatsW(alpha_gap, weights=w * n / w.sum())
    mean, se = linearised(alpha_gap, w)
    crit = scipy_stats.t.ppf(0.975, n - 1)
    row = results.dimensions.set_index("dimension").loc["alpha"]
    assert row["gap_mean"] == pytest.approx(ref.mean) and mean == pytest.approx(ref.mean)
    assert row["gap_sd"] == pytest.approx(ref.std * np.sqrt(n / (n - 1)))
    assert row["gap_se"] == pytest.approx(se)
    assert se > ref.std_mean * 1.05  # the frequency-weight SE was too small
    assert (row["gap_ci95_low"], row["gap_ci95_high"]) == pytest.approx(
        (mean - crit * se, mean + crit * se))
    assert row["t"] == pytest.approx(mean / se) and row["df"] == n - 1
    assert row["p_value"] == pytest.approx(2 * scipy_stats.t.sf(abs(mean / se), n - 1))
    assert row["gap_mean_unweighted"] == pytest.approx(alpha_gap.mean())
    assert row["n_effective"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    # an item (coded path) and a segment cell likewise
    item = results.items.set_index("item").loc["i1"]
    x1 = gaps[:, 0]
    assert item["gap_se"] == pytest.approx(linearised(x1, w)[1])
    east = (frame["region"] == "East").to_numpy()
    cell = results.segments.set_index(["value", "dimension"]).loc[("East", "alpha")]
    assert cell["gap_se"] == pytest.approx(linearised(alpha_gap[east], w[east])[1])
    # Welch's ANOVA between the regions on the design-based standard errors
    test = results.segment_tests.set_index("dimension").loc["alpha"]
    parts = [linearised(alpha_gap[g], w[g]) + (int(g.sum()),) for g in (east, ~east)]
    weights = np.array([1 / s ** 2 for _, s, _ in parts])
    means = np.array([m for m, _, _ in parts])
    grand = (weights * means).sum() / weights.sum()
    lam = sum((1 - wi / weights.sum()) ** 2 / (k - 1) for wi, (_, _, k) in zip(weights, parts))
    f = (weights * (means - grand) ** 2).sum() / (1 + 2 * 0 * lam / 3)
    assert test["welch_f"] == pytest.approx(f)
    assert test["welch_df2"] == pytest.approx(3 / (3 * lam))
    doc = results.to_json()
    assert doc["weighted"] is True and doc["rank_tests_weighted"] is False


ZOT_INSTRUMENT = """
[instrument]
name = "Zone of tolerance test"
scale_min = 1
scale_max = 9
respondent_id = "id"

[dimensions.d]
label = "D"

[[items]]
id = "i1"
dimension = "d"
expectation = "D1"
adequate = "A1"
perception = "P1"

[[items]]
id = "i2"
dimension = "d"
expectation = "D2"
adequate = "A2"
perception = "P2"
"""
ZOT_CSV = """id,D1,A1,P1,D2,A2,P2
r1,8,5,6,7,4,3
r2,9,6,9,8,5,6
r3,7,5,5,6,,6
"""


def test_zone_of_tolerance_by_hand(tmp_path):
    """i1: MSA 1, 3, 0 → 4/3; MSS −2, 0, −2 → −4/3; width 3, 3, 2 → 8/3; all inside the zone.
    i2 (r3 lacks adequate): MSA −1, 1 → 0; MSS −4, −2 → −3; r1 below adequate, r2 inside.
    Dimension (means over complete items): r1 D 7.5 A 4.5 P 4.5; r2 8.5, 5.5, 7.5; r3 7, 5, 5
    → MSA 0, 2, 0 → 2/3; MSS −3, −1, −2 → −2; width 3, 3, 2 → 8/3; all inside."""
    inst = write(tmp_path / "z.toml", ZOT_INSTRUMENT)
    data = write(tmp_path / "2026Q1.csv", ZOT_CSV)
    results, _ = run_and_check([data], load_instrument(inst))
    t = results.tolerance
    i1 = t[(t["level"] == "item") & (t["item"] == "i1")].iloc[0]
    assert (i1["msa_mean"], i1["mss_mean"], i1["zone_width_mean"]) == pytest.approx(
        (4 / 3, -4 / 3, 8 / 3))
    assert (i1["below_adequate_mean"], i1["inside_zone_mean"], i1["above_desired_mean"]) == (
        0, 1, 0)
    assert (i1["desired_mean"], i1["adequate_mean"], i1["perceived_mean"]) == pytest.approx(
        (8, 16 / 3, 20 / 3))
    i2 = t[(t["level"] == "item") & (t["item"] == "i2")].iloc[0]
    assert i2["n"] == 2 and i2["msa_mean"] == pytest.approx(0) and i2["mss_mean"] == -3
    assert (i2["below_adequate_mean"], i2["inside_zone_mean"]) == (0.5, 0.5)
    d = t[t["level"] == "dimension"].iloc[0]
    assert (d["msa_mean"], d["mss_mean"], d["zone_width_mean"]) == pytest.approx(
        (2 / 3, -2, 8 / 3))
    assert d["inside_zone_mean"] == 1
    assert results.dimensions["msa_mean"].iloc[0] == pytest.approx(2 / 3)
    doc = results.to_json()
    assert doc["dimensions"][0]["msa_mean"] == pytest.approx(2 / 3)
    assert {r["level"] for r in doc["tolerance"]} == {"item", "dimension"}


def test_wave_over_wave_with_weights_uses_design_based_errors(tmp_path):
    """With sampling weights the latest wave's change is tested (Welch) on the linearisation
    standard errors of the two weighted means, computed here from the raw files."""
    from fixtures import write

    rng = np.random.default_rng(11)
    inst = write(tmp_path / "i.toml", replace_in_instrument(
        'segments = ["region"]', 'segments = ["region"]\nsampling_weight = "weight"'))
    files, raw = [], {}
    for wave in ("2026Q2", "2026Q3"):
        n = 90
        frame = pd.DataFrame({"id": [f"{wave}-{i}" for i in range(n)],
                              "region": rng.choice(["East", "West"], n),
                              "weight": rng.uniform(0.3, 3.0, n).round(3)})
        for c in ("E1", "E2", "E3", "P1", "P2", "P3"):
            frame[c] = rng.integers(1, 6, n)
        files.append(write(tmp_path / f"{wave}.csv", frame.to_csv(index=False)))
        gaps = frame[["P1", "P2"]].to_numpy() - frame[["E1", "E2"]].to_numpy()
        raw[wave] = linearised(gaps.mean(axis=1), frame["weight"].to_numpy()) + (n,)
    results, _ = run_and_check(files, load_instrument(inst))
    wow = results.findings.trends.wave_over_wave
    row = wow[(wow["level"] == "dimension") & (wow["dimension"] == "alpha")].iloc[0]
    (m1, se1, n1), (m2, se2, n2) = raw["2026Q2"], raw["2026Q3"]
    t = (m2 - m1) / np.sqrt(se1 ** 2 + se2 ** 2)
    df = (se1 ** 2 + se2 ** 2) ** 2 / (se1 ** 4 / (n1 - 1) + se2 ** 4 / (n2 - 1))
    assert row["change"] == pytest.approx(m2 - m1)
    assert (row["welch_t"], row["welch_df"]) == pytest.approx((t, df))
    assert row["p_value"] == pytest.approx(2 * scipy_stats.t.sf(abs(t), df))
