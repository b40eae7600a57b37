"""Relative weights (Johnson 2000) and the Poisson bootstrap counts behind key drivers.

The weights are checked against a computation by another route: the orthogonal
counterparts Z of the standardised predictors built from the data with scipy's matrix square
root, y regressed on them by least squares, and Λ* as the data's correlations of X with Z;
R² against statsmodels' OLS on the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from servqual.stats.drivers import correlation, poisson_counts, relative_weights


def simulated(seed: int, n: int = 600):
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    x = np.column_stack([common + rng.normal(scale=s, size=n) for s in (0.6, 0.9, 1.2, 2.0)])
    y = 0.8 * x[:, 0] + 0.4 * x[:, 1] + 0.1 * x[:, 3] + rng.normal(scale=1.5, size=n)
    return x, y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_relative_weights_equal_johnsons_construction_done_on_the_data(seed):
    x, y = simulated(seed)
    raw, r2 = relative_weights(np.corrcoef(np.column_stack([x, y]), rowvar=False))
    # by another route: Z = Xs · Rxx^-½ (orthonormal columns), y regressed on Z
    xs = (x - x.mean(0)) / x.std(0)
    ys = (y - y.mean()) / y.std()
    rxx = np.corrcoef(x, rowvar=False)
    z = xs @ np.real(scipy.linalg.inv(scipy.linalg.sqrtm(rxx)))
    beta = np.linalg.lstsq(z, ys, rcond=None)[0]
    lam = np.array([[np.corrcoef(xs[:, j], z[:, k])[0, 1] for k in range(4)]
                    for j in range(4)])
    assert raw == pytest.approx((lam ** 2) @ (beta ** 2), rel=1e-9, abs=1e-12)
    import statsmodels.api as sm

    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert r2 == pytest.approx(ols.rsquared, rel=1e-9)
    assert raw.sum() == pytest.approx(ols.rsquared, rel=1e-9)
    # x0, the strongest planted effect, drives most (x2, with none, still takes a share
    # through what it shares with the others: relative weights credit correlated predictors)
    assert raw.argmax() == 0


def test_uncorrelated_predictors_weigh_their_squared_correlations():
    r = np.array([0.5, 0.3, -0.2])
    corr = np.eye(4)
    corr[:3, 3] = corr[3, :3] = r
    raw, r2 = relative_weights(corr)
    assert raw == pytest.approx(r ** 2) and r2 == pytest.approx((r ** 2).sum())


def test_a_constant_or_duplicated_predictor_gives_no_weights():
    x, y = simulated(4)
    x = np.column_stack([x, x[:, 0]])  # a predictor twice
    raw, r2 = relative_weights(np.corrcoef(np.column_stack([x, y]), rowvar=False))
    assert np.isnan(raw).all() and np.isnan(r2)
    corr = correlation(3.0, np.array([3.0, 6.0]), np.array([[3.0, 6.0], [6.0, 14.0]]))
    assert np.isnan(corr[0, 1])  # the first variable is constant (1, 1, 1)


def test_correlation_from_sums_equals_numpy():
    x, y = simulated(5, n=50)
    data = np.column_stack([x, y])
    corr = correlation(len(data), data.sum(0), data.T @ data)
    assert corr == pytest.approx(np.corrcoef(data, rowvar=False), rel=1e-9)


def test_poisson_counts_are_poisson_one_and_a_function_of_the_key_alone():
    keys = np.arange(20_000, dtype=np.uint64) * np.uint64(7919)
    counts = poisson_counts(keys, seed=11, replicates=50)
    assert counts.shape == (20_000, 50)
    assert counts.mean() == pytest.approx(1.0, abs=0.01)
    assert counts.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(counts == 0) == pytest.approx(np.exp(-1), abs=0.005)
    # replicates are not copies of each other
    assert abs(np.corrcoef(counts[:, 0], counts[:, 1])[0, 1]) < 0.03
    # the same respondent counts the same in any chunk (here: alone, or last of a few)
    assert (poisson_counts(keys[-1:], 11, 50) == counts[-1:]).all()
    assert (poisson_counts(keys[[5, 3]], 11, 50) == counts[[5, 3]]).all()
    # another seed, other counts
    assert (poisson_counts(keys[:100], 12, 50) != counts[:100]).any()


def counted(x, y, waves, keys, chunks):
    from servqual.stats.drivers import DriverCounter

    labels = np.array(["2026Q2", "2026Q3"], dtype=object)
    total = DriverCounter(("d1", "d2", "d3", "d4"), ["recommend"], ("perception",), labels,
                          replicates=60)
    for part in np.array_split(np.arange(len(y)), chunks):
        counter = DriverCounter(("d1", "d2", "d3", "d4"), ["recommend"], ("perception",),
                                labels, replicates=60)
        counter.add({"perception": x[part]}, {"recommend": y[part]}, waves[part], keys[part])
        total.merge(counter)
    return total.frame()


def test_key_drivers_from_summed_chunks_equal_the_weights_of_the_complete_cases():
    from servqual.stats.drivers import key_drivers

    x, y = simulated(6, n=800)
    y[::17] = np.nan  # no outcome answer: not a complete case
    x[5::23, 2] = np.nan  # a dimension without a score
    waves = np.repeat([0, 1], 400)
    keys = np.arange(800, dtype=np.uint64) + np.uint64(10**9)
    frame = counted(x, y, waves, keys, chunks=1)
    # the sums are the same however the respondents are split into chunks
    sums = ["n", "sum_a", "sum_b", "sum_ab"]
    assert np.allclose(frame[sums], counted(x, y, waves, keys, chunks=7)[sums], rtol=1e-12)
    table = key_drivers(frame, "2026Q3", ("d1", "d2", "d3", "d4"), ["recommend"])
    latest = np.column_stack([x, y])[400:]
    latest = latest[~np.isnan(latest).any(axis=1)]
    raw, r2 = relative_weights(np.corrcoef(latest, rowvar=False))
    assert table["raw_weight"].to_numpy() == pytest.approx(raw, rel=1e-9)
    assert table["r_squared"].iloc[0] == pytest.approx(r2, rel=1e-9)
    assert table["n"].iloc[0] == len(latest)
    assert table["rescaled_weight"].sum() == pytest.approx(100)
    # bootstrap intervals: around the estimate, and the same run after run
    assert (table["ci95_low"] <= table["raw_weight"]).all()
    assert (table["raw_weight"] <= table["ci95_high"]).all()
    again = key_drivers(counted(x, y, waves, keys, chunks=3), "2026Q3", ("d1", "d2", "d3", "d4"),
                        ["recommend"])
    assert again["ci95_low"].to_numpy() == pytest.approx(table["ci95_low"].to_numpy())


@pytest.mark.parametrize("weighted", [False, True])
def test_the_compiled_sums_equal_the_definition_per_wave_and_per_group(weighted):
    """kernels.driver_sums against design_rows summed by numpy: per wave, and per bootstrap
    group in the latest wave; with NaN in scores and outcomes, two bases, two outcomes, with
    and without sampling weights."""
    from servqual.stats.drivers import DriverCounter, design_rows, group_of

    rng = np.random.default_rng(4)
    n, dims = 3000, ("d1", "d2", "d3")
    scores = {b: rng.normal(size=(n, 3)) for b in ("perception", "gap")}
    scores["gap"][rng.random((n, 3)) < 0.05] = np.nan
    outcomes = {"sat": rng.normal(size=n), "nps": rng.integers(0, 11, n).astype(float)}
    outcomes["nps"][::13] = np.nan
    waves = rng.integers(0, 3, n)
    keys = rng.integers(0, 2**63, n).astype(np.uint64)
    centres = {"perception": 4.0, "gap": 0.0, "sat": 5.5, "nps": 5.0}
    labels = np.array(["2025Q4", "2026Q2", "2026Q1"], dtype=object)  # latest: code 1
    counter = DriverCounter(dims, ["sat", "nps"], ("perception", "gap"), labels,
                            centres=centres, groups=64)
    weight = rng.uniform(0.2, 3.0, n) if weighted else None
    for part in np.array_split(np.arange(n), 4):
        counter.add({b: v[part] for b, v in scores.items()},
                    {o: v[part] for o, v in outcomes.items()}, waves[part], keys[part],
                    None if weight is None else weight[part])
    rows = design_rows(scores, outcomes, ("perception", "gap"), centres, weight)
    assert counter.latest == 1
    for w in range(3):
        assert counter.sample_sums(w) == pytest.approx(rows[waves == w].sum(axis=0), rel=1e-9)
    latest = waves == 1
    expected = np.zeros_like(counter.grouped)
    np.add.at(expected, group_of(keys[latest], counter.seed, 64), rows[latest])
    assert counter.grouped == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # a complete case has 1 in its block's first column and its weight in the second; the
    # two outcomes' blocks differ
    width = counter.width
    assert rows[:, 0].sum() == n and rows[:, 2 * width].sum() < n
    assert rows[:, 1].sum() == pytest.approx(n if weight is None else weight.sum())


@pytest.mark.parametrize("n", [500, 20_000])
def test_grouped_bootstrap_intervals_match_an_ordinary_bootstrap(n):
    """The random-group Poisson bootstrap (4,096 groups: of 500 respondents nearly all alone,
    of 20,000 about 5 to a group) against an ordinary bootstrap drawn by numpy (respondents
    resampled with replacement, 400 times), on one simulated wave: the intervals' centres
    and widths agree within the Monte Carlo error of the replicates."""
    from servqual.stats.drivers import DriverCounter, key_drivers

    x, y = simulated(7, n=n)
    labels = np.array(["2026Q3"], dtype=object)
    counter = DriverCounter(("d1", "d2", "d3", "d4"), ["y"], ("perception",), labels)
    counter.add({"perception": x}, {"y": y}, np.zeros(n, dtype=np.int64),
                np.arange(n, dtype=np.uint64) * np.uint64(2654435761))
    ours = key_drivers(counter.frame(), "2026Q3", ("d1", "d2", "d3", "d4"), ["y"])
    rng = np.random.default_rng(8)
    data = np.column_stack([x, y])
    boot = np.array([relative_weights(np.corrcoef(data[rng.integers(0, n, n)],
                                                  rowvar=False))[0] for _ in range(400)])
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    width = ours["ci95_high"] - ours["ci95_low"]
    assert width.to_numpy() == pytest.approx(high - low, rel=0.25)
    centre = (ours["ci95_high"] + ours["ci95_low"]) / 2
    assert np.abs(centre.to_numpy() - (high + low) / 2).max() < 0.15 * (high - low).max()


SATISFACTION = """
[outcomes.satisfaction]
column = "sat"
scale_min = 1
scale_max = 10
"""


def tiny_survey(seed: int, n: int = 90, alpha_expected: int | None = None) -> str:
    """Tiny-instrument answers (alpha: P1, P2; beta: P3) with an overall rating driven by
    alpha more than beta, a few answers and ratings missing or off the scale;
    ``alpha_expected``: every expectation of alpha's items (a shortfall when high)."""
    rng = np.random.default_rng(seed)
    p = rng.integers(1, 6, size=(n, 3)).astype(float)
    e = rng.integers(2, 6, size=(n, 3)).astype(float)
    if alpha_expected is not None:
        e[:, :2] = alpha_expected
    sat = np.clip(np.rint(1 + 1.2 * p[:, :2].mean(1) + 0.5 * p[:, 2] + rng.normal(0, 1, n)),
                  1, 10)
    rows = ["id,region,E1,E2,E3,P1,P2,P3,sat"]
    for i in range(n):
        cells = [*map(lambda v: str(int(v)), e[i]), *map(lambda v: str(int(v)), p[i]),
                 str(int(sat[i]))]
        if i % 11 == 3:
            cells[4] = ""  # P2 blank: alpha from P1 alone (half its items: enough)
        if i % 13 == 5:
            cells[6] = "12"  # the rating off its 1–10 scale: not a complete case
        rows.append(f"r{i},{'East' if i % 2 else 'West'}," + ",".join(cells))
    return "\n".join(rows) + "\n"


def test_key_drivers_of_the_command_line_equal_the_weights_of_the_data(tmp_path):
    import json

    import pandas as pd

    from fixtures import TINY_INSTRUMENT, report_tiny

    text = tiny_survey(7)
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + SATISFACTION, text)
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(out.read_text("utf-8"))["key_drivers"]
            if r["basis"] == "perception"]
    assert [r["dimension"] for r in rows] == ["alpha", "beta"]
    data = pd.read_csv(tmp_path / "2026Q3.csv")
    table = pd.DataFrame({"alpha": data[["P1", "P2"]].mean(axis=1), "beta": data["P3"],
                          "sat": data["sat"].where(data["sat"].between(1, 10))}).dropna()
    x, y = table[["alpha", "beta"]].to_numpy(), table["sat"].to_numpy()
    xs, ys = (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()
    z = xs @ np.real(scipy.linalg.inv(scipy.linalg.sqrtm(np.corrcoef(x, rowvar=False))))
    beta = np.linalg.lstsq(z, ys, rcond=None)[0]
    lam = np.array([[np.corrcoef(xs[:, j], z[:, k])[0, 1] for k in range(2)] for j in range(2)])
    expected = (lam ** 2) @ (beta ** 2)
    import statsmodels.api as sm

    r2 = sm.OLS(y, sm.add_constant(x)).fit().rsquared
    for row, weight in zip(rows, expected):
        assert row["raw_weight"] == pytest.approx(weight, rel=1e-9)
        assert row["r_squared"] == pytest.approx(r2, rel=1e-9)
        assert row["rescaled_weight"] == pytest.approx(100 * weight / r2, rel=1e-9)
        assert row["n"] == len(table)
        assert row["ci95_low"] < row["raw_weight"] < row["ci95_high"]
    # gap-based weights too, and the same intervals on a second run (a fixed seed)
    assert {r["basis"] for r in json.loads(out.read_text("utf-8"))["key_drivers"]} == {
        "perception", "gap"}
    (tmp_path / "again").mkdir()
    again, out2 = report_tiny(tmp_path / "again", TINY_INSTRUMENT + SATISFACTION, text)
    assert again.exit_code == 0, again.output
    assert json.loads(out2.read_text("utf-8"))["key_drivers"] == json.loads(
        out.read_text("utf-8"))["key_drivers"]


def test_the_planted_drivers_of_the_sample_are_found(tmp_path):
    """The sample plants recommendation on reliability and responsiveness, repurchase on
    assurance and empathy (surveys/sample/README.md): those are the two strongest drivers,
    and the strongest's interval lies above the weakest's."""
    import json

    from typer.testing import CliRunner

    from conftest import ROOT, SAMPLE
    from servqual.cli import app

    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, [
        "report", str(SAMPLE[-1]), "--instrument", str(ROOT / "surveys" / "instrument.toml"),
        "--out", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    drivers = json.loads(out.read_text("utf-8"))["key_drivers"]
    for outcome, planted in (("recommend", {"reliability", "responsiveness"}),
                             ("repurchase", {"assurance", "empathy"})):
        rows = sorted((r for r in drivers if r["outcome"] == outcome
                       and r["basis"] == "perception"), key=lambda r: -r["raw_weight"])
        assert {r["dimension"] for r in rows[:2]} == planted, outcome
        assert rows[0]["ci95_low"] > rows[-1]["ci95_high"], outcome


@pytest.mark.parametrize("lang, words", [
    ("en", "key-driver weight on overall satisfaction"),
    ("zh-CN", "对总体满意度的关键驱动权重")])
def test_key_drivers_are_the_derived_importance_of_the_quadrants(tmp_path, lang, words):
    """Without importance points, importance–performance takes each dimension's key-driver
    weight on the outcome (not a plain correlation), with its bootstrap interval deciding
    whether the quadrant is supported."""
    import json

    from fixtures import TINY_INSTRUMENT, report_tiny

    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + SATISFACTION, tiny_survey(7),
                              "--lang", lang)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text("utf-8"))
    drivers = {r["dimension"]: r for r in doc["key_drivers"] if r["basis"] == "perception"}
    ipa = {r["dimension"]: r for r in doc["importance_performance"]}
    middle = (drivers["alpha"]["raw_weight"] + drivers["beta"]["raw_weight"]) / 2
    for dim, row in ipa.items():
        assert row["importance_source"] == "key_driver_satisfaction"
        assert row["importance"] == drivers[dim]["raw_weight"]
        assert row["importance_ci95_low"] == drivers[dim]["ci95_low"]
        assert row["importance_mid"] == pytest.approx(middle)
        low, high = drivers[dim]["ci95_low"], drivers[dim]["ci95_high"]
        assert row["quadrant_supported"] == (not low <= middle <= high)
    page = (tmp_path / "r.html").read_text("utf-8")
    assert words in page


def test_a_shortfall_on_a_dimension_that_drives_the_outcome_gains_the_evidence(tmp_path):
    """alpha falls short and drives the rating far more than an equal share (the lower end
    of its interval above R² / 2): its weak point carries key_driver, with its words in both
    languages; beta, which drives less, does not."""
    import json

    from fixtures import TINY_INSTRUMENT, report_tiny

    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + SATISFACTION,
                              tiny_survey(7, n=300, alpha_expected=5))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text("utf-8"))
    drivers = {r["dimension"]: r for r in doc["key_drivers"] if r["basis"] == "perception"}
    equal = drivers["alpha"]["r_squared"] / 2
    assert drivers["alpha"]["ci95_low"] > equal > drivers["beta"]["ci95_low"]
    points = {p["id"]: p for p in doc["weak_points"] if p["kind"] == "dimension"}
    assert "key_driver" in points["alpha"]["evidence"]
    assert "beta" not in points or "key_driver" not in points["beta"]["evidence"]
    detail = points["alpha"]["evidence_details"]["key_driver"]["detail"]
    assert f"{100 * drivers['alpha']['raw_weight']:.1f} %" in detail["en"]
    assert "总体满意度" in detail["zh-CN"]


def test_too_few_complete_cases_give_no_key_drivers_and_no_warnings(tmp_path):
    """Twenty respondents: a regression on so few fits them whatever drives the rating, so
    no key drivers are reported (and importance falls back to the plain correlation)."""
    import json

    from fixtures import TINY_INSTRUMENT, report_tiny

    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + SATISFACTION, tiny_survey(3, n=20))
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    doc = json.loads(out.read_text("utf-8"))
    assert doc["key_drivers"] == []
    assert doc["importance_performance"][0]["importance_source"] == \
        "derived_overall_satisfaction"


def test_weighted_key_drivers_are_the_relative_weights_of_the_weighted_correlations():
    """With sampling weights, the weights are Johnson's on the weighted Pearson correlation
    matrix (numpy's covariance with analytic weights), R² is statsmodels' WLS R², and n is
    still the number of complete cases."""
    from servqual.stats.drivers import DriverCounter, key_drivers

    x, y = simulated(9, n=700)
    rng = np.random.default_rng(10)
    weight = rng.uniform(0.3, 4.0, 700) * (1 + (x[:, 0] > 0))  # weights tied to a driver
    y[::19] = np.nan
    labels = np.array(["2026Q3"], dtype=object)
    counter = DriverCounter(("d1", "d2", "d3", "d4"), ["y"], ("perception",), labels)
    counter.add({"perception": x}, {"y": y}, np.zeros(700, dtype=np.int64),
                np.arange(700, dtype=np.uint64) * np.uint64(2654435761), weight)
    table = key_drivers(counter.frame(), "2026Q3", ("d1", "d2", "d3", "d4"), ["y"])
    complete = ~np.isnan(y)
    data, w = np.column_stack([x, y])[complete], weight[complete]
    cov = np.cov(data, rowvar=False, aweights=w)
    sd = np.sqrt(np.diag(cov))
    raw, r2 = relative_weights(cov / np.outer(sd, sd))
    assert table["raw_weight"].to_numpy() == pytest.approx(raw, rel=1e-9)
    import statsmodels.api as sm

    wls = sm.WLS(data[:, -1], sm.add_constant(data[:, :-1]), weights=w).fit()
    assert table["r_squared"].iloc[0] == pytest.approx(wls.rsquared, rel=1e-9)
    assert table["n"].iloc[0] == complete.sum()
    unweighted = relative_weights(np.corrcoef(data, rowvar=False))[0]
    assert not np.allclose(raw, unweighted, rtol=1e-3)  # the weights do change the answer


def test_whole_number_weights_count_a_respondent_that_many_times(tmp_path):
    """Through the command line, independently of our formulas: a survey where some
    respondents weigh 2 gives the key drivers of the same survey with those respondents
    given twice (under other ids) and no weights; n counts the respondents themselves."""
    import json

    from fixtures import TINY_INSTRUMENT, report_tiny

    lines = tiny_survey(11).splitlines()
    twice = {i for i in range(1, len(lines)) if i % 3 == 0}
    weighted = [lines[0] + ",weight"] + [f"{row},{2 if i in twice else 1}"
                                         for i, row in enumerate(lines[1:], start=1)]
    copied = lines + [row.replace(row.split(",")[0] + ",", row.split(",")[0] + "b,", 1)
                      for i, row in enumerate(lines[1:], start=1) if i in twice]
    instrument = TINY_INSTRUMENT.replace('segments = ["region"]',
                                         'segments = ["region"]\nsampling_weight = "weight"')
    (tmp_path / "w").mkdir()
    (tmp_path / "c").mkdir()
    result, out = report_tiny(tmp_path / "w", instrument + SATISFACTION,
                              "\n".join(weighted) + "\n")
    assert result.exit_code == 0, result.output
    result, copies = report_tiny(tmp_path / "c", TINY_INSTRUMENT + SATISFACTION,
                                 "\n".join(copied) + "\n")
    assert result.exit_code == 0, result.output
    ours = json.loads(out.read_text("utf-8"))["key_drivers"]
    theirs = json.loads(copies.read_text("utf-8"))["key_drivers"]
    assert [(r["dimension"], r["basis"]) for r in ours] == [
        (r["dimension"], r["basis"]) for r in theirs]
    for mine, copy in zip(ours, theirs):
        for key in ("raw_weight", "rescaled_weight", "r_squared"):
            assert mine[key] == pytest.approx(copy[key], rel=1e-9), (mine, key)
        assert copy["n"] > mine["n"]  # the copies are respondents; a weight is not
