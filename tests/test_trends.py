"""Trend direction on simulated series with known slopes, and wave-over-wave alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from servqual.config import AnalysisConfig
from servqual.stats.trends import classify, series_trends, wave_over_wave

CONFIG = AnalysisConfig()
WAVES = ["2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3"]


def simulate(slope, noise, seed, waves=8):
    rng = np.random.default_rng(seed)
    t = np.arange(waves, dtype=float)
    return t, -0.5 + slope * t + rng.normal(0, noise, waves)


@pytest.mark.parametrize(("slope", "expected"), [(0.08, "rising"), (-0.08, "falling")])
def test_clear_rises_and_falls_are_found(slope, expected):
    for seed in range(20):
        t, y = simulate(slope, 0.03, seed)
        assert classify(t, y, CONFIG).direction == expected


def test_significant_but_negligible_drift_is_flat():
    # 0.004 points per wave with almost no noise: highly significant, 0.03 over two years.
    t, y = simulate(0.004, 0.0005, 1)
    trend = classify(t, y, CONFIG)
    assert trend.p_value < 1e-6
    assert abs(trend.change) < CONFIG.trend_min_change
    assert trend.direction == "flat"


def test_noise_only_series_are_rarely_called_rising_or_falling():
    """Over many noise-only series the false rising/falling rate stays at α (0.05); it is
    checked against α plus 2.5 standard errors of a simulated rate."""
    runs = 4000
    rng = np.random.default_rng(2026)
    t = np.arange(8, dtype=float)
    calls = sum(classify(t, rng.normal(0, 0.08, 8), CONFIG).direction != "flat"
                for _ in range(runs))
    rate = calls / runs
    alpha = CONFIG.significance
    assert rate <= alpha + 2.5 * np.sqrt(alpha * (1 - alpha) / runs)


def test_too_few_waves_is_insufficient_but_figures_are_kept():
    frame = pd.DataFrame({"wave": WAVES[:3], "dimension": "d", "gap_mean": [-0.2, -0.4, -0.6]})
    row = series_trends(frame, ["dimension"], "gap_mean", WAVES[:3], CONFIG).iloc[0]
    assert row["direction"] == "insufficient_waves" and row["waves"] == 3


def test_slope_statistics_match_scipy():
    t, y = simulate(-0.05, 0.05, 7)
    trend = classify(t, y, CONFIG)
    ref = stats.linregress(t, y)
    assert trend.slope_per_wave == pytest.approx(ref.slope)
    assert trend.p_value == pytest.approx(ref.pvalue)
    half = stats.t.ppf(0.975, len(t) - 2) * ref.stderr
    assert (trend.slope_ci95_low, trend.slope_ci95_high) == pytest.approx(
        (ref.slope - half, ref.slope + half))
    assert trend.theil_sen_slope == pytest.approx(stats.theilslopes(y, t).slope)
    tau = stats.kendalltau(t, y)
    assert (trend.kendall_tau, trend.kendall_p) == pytest.approx((tau.statistic, tau.pvalue))


def test_a_skipped_quarter_keeps_its_real_length():
    waves = ["2025Q1", "2025Q2", "2025Q4", "2026Q1"]
    frame = pd.DataFrame({"wave": waves, "dimension": "d", "gap_mean": [0.0, 0.1, 0.3, 0.4]})
    row = series_trends(frame, ["dimension"], "gap_mean", waves, CONFIG).iloc[0]
    assert row["slope_per_wave"] == pytest.approx(0.1)
    assert row["change"] == pytest.approx(0.4)


def test_wave_over_wave_welch_and_alert():
    rng = np.random.default_rng(3)
    before, after = rng.normal(-0.3, 0.9, 800), rng.normal(-0.5, 1.0, 700)
    table = pd.DataFrame({"wave": ["2026Q2", "2026Q3"], "dimension": "d",
                          "n": [len(before), len(after)],
                          "gap_mean": [before.mean(), after.mean()],
                          "gap_sd": [before.std(ddof=1), after.std(ddof=1)]})
    row = wave_over_wave(table, ["dimension"], ["2026Q2", "2026Q3"], CONFIG).iloc[0]
    ref = stats.ttest_ind(after, before, equal_var=False)
    assert row["welch_t"] == pytest.approx(ref.statistic)
    assert row["p_value"] == pytest.approx(ref.pvalue)
    pooled = np.sqrt(((len(before) - 1) * before.var(ddof=1) + (len(after) - 1)
                      * after.var(ddof=1)) / (len(before) + len(after) - 2))
    assert row["cohens_d"] == pytest.approx((after.mean() - before.mean()) / pooled)
    assert row["alert"]
    rise = table.assign(gap_mean=[-0.5, -0.3])
    assert not wave_over_wave(rise, ["dimension"], ["2026Q2", "2026Q3"], CONFIG).iloc[0]["alert"]


def test_sample_shows_every_state(sample_results):
    """The bundled waves plant a falling, a rising and flat dimensions, and an alert."""
    results, _ = sample_results
    full = results
    directions = dict(zip(full.findings.trends.dimensions["dimension"],
                          full.findings.trends.dimensions["direction"]))
    assert directions == {"tangibles": "flat", "reliability": "falling",
                          "responsiveness": "rising", "assurance": "flat", "empathy": "flat"}
    alerts = full.to_json()["alerts"]
    assert any(a["level"] == "dimension" and a["dimension"] == "assurance" for a in alerts)


def test_questionnaire_change_item_and_dimension_trends(tmp_path):
    """q09 was not asked before 2025Q3: its own trend uses the five waves that asked it, the
    reliability trend uses the four items asked throughout, and the break is reported."""
    import pandas as pd
    from conftest import INSTRUMENT, SAMPLE
    from servqual.instrument import load_instrument
    from fixtures import run_and_check
    files = []
    for path in SAMPLE:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.stem < "2025Q3":
            frame["E09"] = ""
            frame["P09"] = ""
        frame.to_csv(tmp_path / path.name, index=False)
        files.append(tmp_path / path.name)
    results, validated = run_and_check(files, load_instrument(INSTRUMENT))
    doc = results.to_json()
    assert doc["questionnaire_breaks"] == [{
        "item": "q09", "dimension": "reliability",
        "waves_missing": ["2024Q4", "2025Q1", "2025Q2"],
        "waves_asked": ["2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3"]}]
    item = next(t for t in doc["item_trends"] if t["item"] == "q09")
    assert item["waves"] == 5 and item["first_wave"] == "2025Q3"
    reliability = next(t for t in doc["trends"] if t["dimension"] == "reliability")
    assert reliability["common_items_only"] and reliability["direction"] == "falling"
    # The common-items series equals a direct computation over q05..q08 in every wave.
    r = validated.responses
    inst = results.instrument
    cols = [inst.item_ids.index(i) for i in ("q05", "q06", "q07", "q08")]
    g = pd.DataFrame(r.perception[:, cols].astype(float) - r.expectation[:, cols].astype(float))
    per = g.mean(axis=1).where(g.notna().sum(axis=1) >= 2)
    expected = per.groupby(r.meta["wave"].astype(str).to_numpy()).mean()
    common = results.tables.dimensions_common
    got = common[(common["segment"] == "") & (common["dimension"] == "reliability")]
    for wave, value in zip(got["wave"], got["gap_mean"]):
        assert value == pytest.approx(expected[wave])
    assert [t["dimension"] for t in doc["trends"]] == list(inst.dimension_keys)


def test_equal_wave_means_are_ties_for_kendall():
    """Two waves with the same mean, −137/183, computed from different sums (one from
    dimension scores in thirds), differ in their last bits; Kendall's τ must count them as a tie, as scipy does on the exact values."""
    same = -137 / 183
    other = sum([-1 / 3] * 411) / 183  # 183 dimension scores in thirds adding up to −137
    assert other != same
    t = np.arange(5, dtype=float)
    exact = np.array([-0.5, same, -0.9, same, -0.2])
    computed = np.array([-0.5, same, -0.9, other, -0.2])
    tau, p = stats.kendalltau(t, exact)
    trend = classify(t, computed, AnalysisConfig(trend_min_waves=3))
    assert trend.kendall_tau == pytest.approx(tau) and trend.kendall_p == pytest.approx(p)


@pytest.mark.parametrize(("waves", "unit", "length", "header"), [
    (["2026Q1", "2026Q2", "2026Q3"], "quarter", 1, "Change per quarter"),
    (["2026-01", "2026-02", "2026-03"], "month", 1, "Change per month"),
    (["2025Q1", "2025Q3", "2026Q1"], "quarter", 2, "Change per wave"),
])
def test_slope_unit_is_named_after_the_time_axis(tmp_path, waves, unit, length, header):
    """slope_per_wave is a slope per usual spacing of the waves: the JSON names it, and the
    report's column says per quarter or per month only when that is what it is."""
    import json

    from typer.testing import CliRunner

    from fixtures import TINY_CSV, TINY_INSTRUMENT, replace_in_instrument, write
    from servqual.cli import app

    inst = write(tmp_path / "i.toml", replace_in_instrument(
        "small_base = 2", "small_base = 2\ntrend_min_waves = 3", TINY_INSTRUMENT))
    files = [write(tmp_path / f"{w}.csv", TINY_CSV) for w in waves]
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", *map(str, files), "--instrument", str(inst),
                                      "--out", str(out), "--json", str(js)])
    assert result.exit_code == 0, result.output
    trend = json.loads(js.read_text(encoding="utf-8"))["trends"][0]
    assert (trend["slope_unit"], trend["slope_unit_length"]) == (unit, length)
    assert header in out.read_text(encoding="utf-8")
