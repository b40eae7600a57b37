"""Weak points, targets, complaints, benchmarking and importance–performance analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from fixtures import TINY_CSV, tiny, write
from servqual.cli import app
from servqual.config import AnalysisConfig
from servqual.errors import DataError, InstrumentError
from servqual.findings import load_categories, load_complaints, load_targets
from servqual.findings.complaints import complaint_analysis
from servqual.findings.weak_points import weak_points
from servqual.instrument import load_instrument
from fixtures import run_and_check
from servqual.run import RunInputs
from servqual.stats.trends import TrendTables

CONFIG = AnalysisConfig()
EVIDENCE_CODES = ("negative_gap", "falling_trend", "target_missed", "complaints", "below_peers")
PRIMARY_CODES = ("negative_gap", "falling_trend", "target_missed")  # a weak point by themselves


def constructed(*, gap=-0.6, p_adjusted=0.5, direction="flat", missed=False,
                complaints=False, below=False, importance=None, unit_below=False):
    """The tables weak_points() reads, for one dimension 'd' and no items; ``below``: the
    whole is below an external peer, ``unit_below``: the unit West is below the others."""
    dims = pd.DataFrame({"dimension": ["d"], "gap_mean": [gap], "p_adjusted": [p_adjusted],
                         "gap_ci95_low": [gap - 0.1], "gap_ci95_high": [gap + 0.1]})
    if importance is not None:
        dims["importance_weight"] = importance
    trend = {"dimension": "d", "direction": direction, "slope_per_wave": -0.1,
             "p_value": 0.01, "change": -0.7, "waves": 8, "first": 0.3, "last": -0.4,
             "observed_first": 0.25, "observed_last": -0.45, "first_wave": "2024Q4",
             "last_wave": "2026Q3"}
    trends = TrendTables(dimensions=pd.DataFrame([trend]),
                         items=pd.DataFrame(columns=["item", "direction"]),
                         overall=pd.DataFrame(), segments=pd.DataFrame(),
                         wave_over_wave=pd.DataFrame())
    targets = pd.DataFrame([{"level": "dimension", "id": "d", "column": "", "value": "",
                             "measure": "gap", "target": 0.0, "actual": gap,
                             "distance": gap, "met": not missed, "revise": False}])
    complaint = pd.DataFrame([{"dimension": "d", "wave": "w", "count": 12,
                               "rate_per_1000": 8.0, "direction": "rising",
                               "increase_p": 0.01, "highest_rate": True,
                               "points_here": complaints}])
    bench = pd.DataFrame([{"column": "region", "dimension": "d", "unit": "West",
                           "gap_mean": gap - 0.5, "average_others": gap + 0.1,
                           "difference": -0.6, "p_adjusted": 0.001, "below_peers": unit_below,
                           "best_unit": "East", "best_gap": gap + 0.2, "rank": 2,
                           "units": 2}])
    peers = pd.DataFrame([{"dimension": "d", "peer": "Industry", "peer_gap": gap + 0.3,
                           "gap_mean": gap, "difference": -0.3, "p_value": 0.001,
                           "below_peers": below}])
    segments = pd.DataFrame([{"column": "region", "value": "West", "dimension": "d", "n": 50,
                              "gap_mean": gap - 0.5, "gap_ci95_low": gap - 0.8,
                              "gap_ci95_high": gap - 0.2, "p_adjusted": 0.001,
                              "suppressed": False}])
    empty_items = pd.DataFrame(columns=["item", "dimension", "gap_mean", "p_adjusted"])
    return weak_points(dimensions=dims, items=empty_items, trends=trends, targets=targets,
                       complaints=complaint, benchmark=bench, peers=peers,
                       segments=segments, segment_tests=pd.DataFrame(),
                       instrument=_Instrument(), config=CONFIG, benchmark_column="region")


class _Instrument:
    customer_classes = None
    servperf = False


@pytest.mark.parametrize("code", EVIDENCE_CODES)
def test_each_evidence_code_alone(code):
    """Primary evidence makes a weak point by itself; complaints and an external peer only
    support one."""
    points = constructed(p_adjusted=0.001 if code == "negative_gap" else 0.5,
                         direction="falling" if code == "falling_trend" else "flat",
                         missed=code == "target_missed", complaints=code == "complaints",
                         below=code == "below_peers")
    if code in PRIMARY_CODES:
        assert len(points) == 1 and list(points[0].evidence) == [code]
    else:
        assert points == []


def test_no_evidence_no_weak_point():
    assert constructed() == []


def test_no_shortfall_is_never_a_weak_point():
    assert constructed(gap=0.2, p_adjusted=0.001, direction="falling", missed=True,
                       complaints=True, below=True) == []


def test_all_evidence_together_and_the_priority_score():
    point, = constructed(gap=-0.6, p_adjusted=0.001, direction="falling", missed=True,
                         complaints=True, below=True, importance=0.3)
    assert list(point.evidence) == list(EVIDENCE_CODES)
    # shortfall 0.6 × importance 0.3·1 dimension × falling 1.5 × (1 + 0.25·4) × reach 1
    assert point.score == pytest.approx(0.6 * 0.3 * 1.5 * 2.0)
    assert point.priority == 1


def test_unit_below_the_others_is_a_unit_weak_point_not_the_dimensions_evidence():
    unit, = constructed(gap=-0.3, p_adjusted=0.001, unit_below=True)
    assert (unit.kind, unit.column, unit.value, unit.dimension) == ("unit", "region", "West",
                                                                    "d")
    assert list(unit.evidence) == ["negative_gap", "below_peers"]
    assert unit.gap_mean == pytest.approx(-0.8) and unit.n == 50


def test_ranking_follows_the_score(tmp_path):
    results, _ = run_and_check(*_sample_run())
    points = results.findings.weak_points
    cards = [p for p in points if p.parent is None]
    nested = [p for p in points if p.parent is not None]
    assert [p.priority for p in points] == list(range(1, len(points) + 1))
    assert points[: len(cards)] == cards  # the cards first, then the items inside them
    assert all(a.score >= b.score for a, b in zip(cards, cards[1:]))
    assert all(p.parent in {c.id for c in cards if c.kind == "dimension"} for p in nested)
    assert cards[0].id == "reliability"  # planted: falling, complaints, target missed
    assert all(p.gap_mean < 0 and p.evidence for p in points)


def _sample_run():
    from conftest import INSTRUMENT, ROOT, SAMPLE
    instrument = load_instrument(INSTRUMENT)
    extra = RunInputs(targets=load_targets(ROOT / "surveys" / "targets.toml", instrument),
                      complaints=ROOT / "surveys" / "sample" / "complaints.csv",
                      categories=load_categories(ROOT / "surveys" / "complaint_categories.toml",
                                                 instrument))
    return SAMPLE, instrument, extra


TARGETS = """
[[targets]]
dimension = "alpha"
gap = -1.0

[[targets]]
dimension = "beta"
gap = -0.25

[[targets]]
item = "i1"
perception = 3.5

[[targets]]
overall = true
gap = -0.7

[[targets]]
dimension = "alpha"
gap = 0
segment = { region = "West" }
"""


def test_targets_met_and_missed_with_distance(tmp_path):
    inst, data = tiny(tmp_path)
    instrument = load_instrument(inst)
    targets = load_targets(write(tmp_path / "t.toml", TARGETS), instrument)
    results, _ = run_and_check([data], instrument, RunInputs(targets=targets))
    t = results.findings.targets
    # alpha −0.875 ≥ −1: met by 0.125; beta −0.5 < −0.25: missed by 0.25; i1 perception 3
    # against 3.5: missed by 0.5; overall −0.6875 ≥ −0.7: met; West alpha: r3 +1, r4 −2 → −0.5.
    assert list(t["met"]) == [True, False, False, True, False]
    np.testing.assert_allclose(t["distance"], [0.125, -0.25, -0.5, 0.0125, -0.5])
    assert t.iloc[4]["column"] == "region" and t.iloc[4]["value"] == "West"


def test_target_missed_widely_for_several_waves_with_stable_perception_is_revised(tmp_path):
    instrument = load_instrument(tiny(tmp_path)[0])
    files = [write(tmp_path / f"{w}.csv", TINY_CSV) for w in
             ("2025Q4", "2026Q1", "2026Q2", "2026Q3")]
    targets = load_targets(write(tmp_path / "t.toml", TARGETS), instrument)
    results, _ = run_and_check(files, instrument, RunInputs(targets=targets))
    t = results.findings.targets.set_index("id")
    assert t.loc["i1", "missed_by_margin_waves"] == 4 and t.loc["i1", "revise"]
    assert not t.loc["beta", "revise"]  # missed by 0.25 only: within the 0.30 margin


@pytest.mark.parametrize(("text", "key"), [
    ('[[targets]]\ndimension = "gamma"\ngap = 0', "targets[0].dimension"),
    ('[[targets]]\ndimension = "alpha"', "targets[0]"),
    ('[[targets]]\nitem = "i9"\ngap = 0', "targets[0].item"),
    ('[[targets]]\ndimension = "alpha"\ngap = 0\nsegment = { city = "x" }',
     "targets[0].segment.city"),
    ('[[targets]]\ndimension = "alpha"\ngoal = 0', "targets[0].goal"),
    # targets that can never be met or missed (the tiny scale is 1-5, gaps -4..4): a typo
    ('[[targets]]\ndimension = "alpha"\nperception = 55', "targets[0].perception"),
    ('[[targets]]\ndimension = "alpha"\nperception = 0.5', "targets[0].perception"),
    ('[[targets]]\ndimension = "alpha"\ngap = -40', "targets[0].gap"),
    ('[[targets]]\ndimension = "alpha"\ngap = nan', "targets[0].gap"),
    ('[[targets]]\noverall = true\ngap = -inf', "targets[0].gap"),
    # two targets for one subject: one met, one missed, side by side
    ('[[targets]]\nitem = "i1"\nperception = 4\n[[targets]]\nitem = "i2"\nperception = 4\n'
     '[[targets]]\nitem = "i1"\nperception = 4.5', "targets[2]"),
])
def test_bad_targets_file_names_the_key(tmp_path, text, key):
    instrument = load_instrument(tiny(tmp_path)[0])
    with pytest.raises(InstrumentError) as info:
        load_targets(write(tmp_path / "t.toml", text), instrument)
    assert info.value.key == key and info.value.exit_code == 65


def test_targets_at_the_ends_of_the_scale_and_per_segment_are_accepted(tmp_path):
    instrument = load_instrument(tiny(tmp_path)[0])
    text = ('[[targets]]\ndimension = "alpha"\nperception = 5\n'
            '[[targets]]\ndimension = "alpha"\ngap = -4\n'
            '[[targets]]\ndimension = "alpha"\ngap = 0\nsegment = { region = "East" }\n'
            '[[targets]]\ndimension = "alpha"\ngap = 0\nsegment = { region = "West" }\n')
    assert len(load_targets(write(tmp_path / "t.toml", text), instrument)) == 4


CATEGORIES = '[categories]\n"late" = "alpha"\n"rude" = "beta"\n'


def test_complaint_counts_and_rates_by_hand(tmp_path):
    instrument = load_instrument(tiny(tmp_path)[0])
    mapping = load_categories(write(tmp_path / "c.toml", CATEGORIES), instrument)
    log = write(tmp_path / "complaints.csv",
                "date,category\n2026-07-03,late\n2026-08-30,late\n2026-09-01,rude\n"
                "2026-04-10,late\n2025-01-01,rude\n")
    rows, outside = load_complaints(log, mapping, instrument, ["2026Q2", "2026Q3"])
    assert outside == 1  # 2025-01-01 is in no survey wave
    respondents = pd.DataFrame({"wave": ["2026Q2", "2026Q3"], "n": [500, 400]})
    table, summary = complaint_analysis(rows, respondents, instrument, ["2026Q2", "2026Q3"],
                                        CONFIG)
    cell = table.set_index(["wave", "dimension"])
    assert cell.loc[("2026Q3", "alpha"), "count"] == 2
    assert cell.loc[("2026Q3", "alpha"), "rate_per_1000"] == pytest.approx(5.0)
    assert cell.loc[("2026Q2", "alpha"), "rate_per_1000"] == pytest.approx(2.0)
    alpha = summary.set_index("dimension").loc["alpha"]
    # exact conditional test: 2 of 3 complaints now, exposure share 400/900
    ref = stats.binomtest(2, 3, 400 / 900, alternative="greater").pvalue
    assert alpha["increase_p"] == pytest.approx(ref)
    assert alpha["highest_rate"] and alpha["points_here"]


def test_unknown_complaint_category_is_a_clear_error(tmp_path):
    instrument = load_instrument(tiny(tmp_path)[0])
    mapping = load_categories(write(tmp_path / "c.toml", CATEGORIES), instrument)
    log = write(tmp_path / "complaints.csv", "wave,category\n2026Q3,late\n2026Q3,smelly\n")
    with pytest.raises(DataError) as info:
        load_complaints(log, mapping, instrument, ["2026Q3"])
    err = info.value
    assert (err.row, err.column, err.exit_code) == (3, "category", 65)
    assert "'smelly'" in str(err) and "complaints.csv" in str(err)


def test_unknown_category_exits_65_from_the_cli(tmp_path):
    inst, data = tiny(tmp_path)
    write(tmp_path / "complaint_categories.toml", CATEGORIES)
    log = write(tmp_path / "c.csv", "wave,category\n2026Q3,smelly\n")
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst),
                                      "--complaints", str(log), "--out",
                                      str(tmp_path / "r.html")])
    assert result.exit_code == 65 and "smelly" in result.output
    assert not (tmp_path / "r.html").exists()


def test_category_mapped_to_unknown_dimension(tmp_path):
    instrument = load_instrument(tiny(tmp_path)[0])
    with pytest.raises(InstrumentError) as info:
        load_categories(write(tmp_path / "c.toml", '[categories]\n"late" = "speed"\n'),
                        instrument)
    assert info.value.key == "categories.late"


def test_benchmark_units_against_scipy(sample_results):
    results, validated = sample_results
    full = results
    bench = full.findings.benchmark
    west = bench[(bench["dimension"] == "responsiveness") & (bench["unit"] == "West")].iloc[0]
    r = validated.responses
    inst = results.instrument
    cols = [j for j, i in enumerate(inst.items) if i.dimension == "responsiveness"]
    g = pd.DataFrame(r.perception[:, cols].astype(float) - r.expectation[:, cols].astype(float))
    per = g.mean(axis=1).where(g.notna().sum(axis=1) >= 2)
    now = (r.meta["wave"].astype(str) == full.current_wave).to_numpy() & per.notna().to_numpy()
    region = r.meta["region"].astype(str).to_numpy()
    unit, rest = per[now & (region == "West")], per[now & (region != "West")]
    ref = stats.ttest_ind(unit, rest, equal_var=False)
    assert west["gap_mean"] == pytest.approx(unit.mean())
    assert west["average_others"] == pytest.approx(rest.mean())
    assert west["p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert west["below_peers"] and west["rank"] == west["units"]
    assert not bench[bench["unit"] != "West"]["below_peers"].any()


def test_importance_performance_quadrants_and_derived_importance(sample_results):
    from servqual.findings.importance import importance_performance
    results, validated = sample_results
    ipa = importance_performance(results.dimensions, results.aggregates.moments,
                                 results.current_wave, True).set_index("dimension")
    assert ipa.loc["reliability", "quadrant"] == "concentrate_here"  # important, performs worst
    assert ipa["importance_source"].iloc[0] == "stated"
    derived = importance_performance(results.dimensions.drop(columns="importance_weight"),
                                     results.aggregates.moments, results.current_wave, True)
    r = validated.responses
    now = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    inst = results.instrument
    cols = [j for j, i in enumerate(inst.items) if i.dimension == "empathy"]
    e, p = r.expectation[:, cols].astype(float), r.perception[:, cols].astype(float)
    p = pd.DataFrame(np.where(np.isnan(e), np.nan, p))
    score = p.mean(axis=1).where(p.notna().sum(axis=1) >= 2.5)
    frame = pd.DataFrame({"x": score, "y": r.meta["overall_satisfaction"]})[now].dropna()
    expected = np.corrcoef(frame["x"], frame["y"])[0, 1]
    got = derived.set_index("dimension").loc["empathy", "importance"]
    assert got == pytest.approx(expected)
    assert derived["importance_source"].iloc[0] == "derived_overall_satisfaction"


VALUE_INSTRUMENT_EXTRA = """
[customer_classes]
current_value = "cv"
potential_value = "pv"
"""


def test_value_segments_from_scores_split_at_medians(tmp_path):
    """Per wave, scores at or above the median are high: (high, high) value customers …"""
    from fixtures import TINY_INSTRUMENT
    rng = np.random.default_rng(8)
    n = 400
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                          "region": rng.choice(["East", "West"], n),
                          "cv": rng.integers(0, 100, n), "pv": rng.integers(0, 100, n)})
    low_both = (frame["cv"] < frame["cv"].median()) & (frame["pv"] < frame["pv"].median())
    for c in ("E1", "E2", "E3"):
        # alpha's expectations half a point higher: a material shortfall to explain
        frame[c] = rng.integers(4 if c != "E3" else 3, 6, n)
    for c in ("P1", "P2", "P3"):
        # low-value customers perceive a clearly worse service on alpha (items 1 and 2)
        frame[c] = rng.integers(3, 6, n) - np.where(low_both & (c != "P3"), 2, 0)
    frame.loc[0, "cv"] = None  # no score: no value segment
    inst, data = tiny(tmp_path, csv=frame.to_csv(index=False),
                      instrument=TINY_INSTRUMENT + VALUE_INSTRUMENT_EXTRA)
    results, validated = run_and_check([data], load_instrument(inst))
    seg = results.segments[results.segments["column"] == "value_segment"]
    assert set(seg["value"]) == {"value", "sub_value", "potential_value", "low_value"}
    cv, pv = frame["cv"].iloc[1:], frame["pv"].iloc[1:]
    high_cv, high_pv = cv >= cv.median(), pv >= pv.median()
    expected = {"value": (high_cv & high_pv).sum(), "sub_value": (high_cv & ~high_pv).sum(),
                "potential_value": (~high_cv & high_pv).sum(),
                "low_value": (~high_cv & ~high_pv).sum()}
    counts = seg[seg["dimension"] == "beta"].set_index("value")["n"].to_dict()
    assert counts == expected
    index, point = next((n, p) for n, p in enumerate(results.findings.weak_points)
                        if p.id == "alpha")
    assert point.customer_class["class"] == "low_value"
    part = next(p for p in results.recommendations[index]["parts"]
                if p["kind"] == "customer_class")
    assert "low-value customers" in part["en"] and "低价值客户" in part["zh-CN"]


def test_value_scores_and_class_column_exclude_each_other(tmp_path):
    from fixtures import TINY_INSTRUMENT
    text = TINY_INSTRUMENT + VALUE_INSTRUMENT_EXTRA + 'column = "region"\n'
    with pytest.raises(InstrumentError) as info:
        load_instrument(write(tmp_path / "i.toml", text))
    assert info.value.key == "customer_classes.column"


def test_split_by_value_segment_keeps_the_company_wide_medians(tmp_path):
    from fixtures import TINY_INSTRUMENT, check_files, run_files
    rng = np.random.default_rng(9)
    n = 120
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "region": "East",
                          "cv": rng.integers(0, 50, n), "pv": rng.integers(0, 50, n)})
    for c in ("E1", "E2", "E3", "P1", "P2", "P3"):
        frame[c] = rng.integers(1, 6, n)
    inst, data = tiny(tmp_path, csv=frame.to_csv(index=False),
                      instrument=TINY_INSTRUMENT + VALUE_INSTRUMENT_EXTRA)
    instrument = load_instrument(inst)
    validated = check_files([data], instrument)
    whole = validated.responses.meta["value_segment"].astype(str).value_counts()
    units = {u.unit.value: u.unit for u in run_files([data], instrument,
                                                     split_by="value_segment").units}
    assert {k: v.quality.rows_valid for k, v in units.items()} == whole.to_dict()


def test_derived_importance_quadrant_without_uncertainty(sample_results):
    """Each derived importance carries the 95 % interval of scipy.stats.pearsonr on the raw
    respondents; a quadrant is marked unsupported exactly when the interval straddles the
    importance cut-off. Stated importance has no interval (every field present, null)."""
    from scipy import stats as scipy_stats

    from servqual.findings.importance import importance_performance
    results, validated = sample_results
    r = validated.responses
    now = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    inst = results.instrument
    derived = importance_performance(results.dimensions.drop(columns="importance_weight"),
                                     results.aggregates.moments, results.current_wave,
                                     True).set_index("dimension")
    mid = derived["importance_mid"].iloc[0]
    for dim in inst.dimension_keys:
        cols = [j for j, i in enumerate(inst.items) if i.dimension == dim]
        e, p = r.expectation[:, cols].astype(float), r.perception[:, cols].astype(float)
        p = pd.DataFrame(np.where(np.isnan(e), np.nan, p))
        need = inst.analysis.min_item_share * len(cols) - 1e-9
        score = p.mean(axis=1).where(p.notna().sum(axis=1) >= need)
        frame = pd.DataFrame({"x": score, "y": r.meta["overall_satisfaction"]})[now].dropna()
        ref = scipy_stats.pearsonr(frame["x"], frame["y"])
        ci = ref.confidence_interval(0.95)
        row = derived.loc[dim]
        assert row["importance"] == pytest.approx(ref.statistic, rel=1e-9)
        assert row["importance_n"] == len(frame)
        assert (row["importance_ci95_low"], row["importance_ci95_high"]) == pytest.approx(
            (ci.low, ci.high), rel=1e-9)
        assert row["quadrant_supported"] is (not ci.low <= mid <= ci.high)
    # A small sample: the intervals are wide and straddle the cut-off.
    small = results.aggregates.moments.astype({"n": float})
    ipa_rows = small["measure"].isin(["ipa_x", "ipa_y", "ipa_xy"])
    scale = 10 / small.loc[ipa_rows, "n"]
    for column in ("n", "sum", "sumsq"):
        small.loc[ipa_rows, column] = small.loc[ipa_rows, column] * scale
    few = importance_performance(results.dimensions.drop(columns="importance_weight"), small,
                                 results.current_wave, True)
    assert (few["importance_n"] == 10).all() and not few["quadrant_supported"].any()
    stated = importance_performance(results.dimensions, results.aggregates.moments,
                                    results.current_wave, True)
    assert stated["importance_ci95_low"].isna().all()
    assert stated["quadrant_supported"].isna().all()
    doc = results.to_json()["importance_performance"]
    assert {"importance_ci95_low", "importance_ci95_high", "importance_n",
            "quadrant_supported"} <= set(doc[0])
