"""Importance-weighted SERVQUAL, SERVPERF, sampling weights and the zone of tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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


def test_sampling_weights_match_descrstatsw(tmp_path):
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
    low, high = ref.tconfint_mean()
    row = results.dimensions.set_index("dimension").loc["alpha"]
    assert row["gap_mean"] == pytest.approx(ref.mean)
    assert (row["gap_ci95_low"], row["gap_ci95_high"]) == pytest.approx((low, high))
    t, p, _ = ref.ttest_mean(0)
    assert row["t"] == pytest.approx(t) and row["p_value"] == pytest.approx(p)
    assert row["gap_mean_unweighted"] == pytest.approx(alpha_gap.mean())
    assert row["n_effective"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert results.to_json()["weighted"] is True


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
