"""Cronbach's alpha against R psych::alpha, a hand-computed example and edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servqual.stats.reliability import (REASON_NEGATIVE, REASON_NO_VARIANCE, REASON_ONE_ITEM,
                                        alpha_from_cov, item_statistics, reliability)

# Obtained once with R 4.2.2 and psych 2.2.9 (Debian r-base-core, r-cran-psych):
#   x <- matrix(c(<PSYCH_DATA row by row>), ncol = 4, byrow = TRUE); a <- psych::alpha(x)
#   a$total$raw_alpha; a$alpha.drop$raw_alpha; a$item.stats$r.drop
PSYCH_DATA = np.array([
    [5, 6, 5, 7], [4, 4, 5, 5], [6, 7, 6, 6], [3, 4, 3, 4], [7, 6, 7, 7], [5, 5, 4, 6],
    [2, 3, 2, 3], [6, 5, 6, 5], [4, 5, 5, 4], [5, 4, 6, 6], [3, 3, 4, 2], [6, 6, 5, 7]],
    dtype=float)
PSYCH_RAW_ALPHA = 0.929162171881
PSYCH_ALPHA_DROP = [0.867617107943, 0.914383561644, 0.927561837456, 0.917004048583]
PSYCH_R_DROP = [0.949559031772, 0.824182983996, 0.771608177202, 0.820294820090]


def crossproduct_frame(x: np.ndarray, dim: str = "d", kind: str = "perception") -> pd.DataFrame:
    k = x.shape[1]
    ids = [f"i{j}" for j in range(k)]
    rows = []
    for a in range(k):
        for b in range(k):
            rows.append({"wave": "w", "kind": kind, "id": dim, "a": ids[a], "b": ids[b],
                         "n": float(len(x)), "sum_a": x[:, a].sum(), "sum_b": x[:, b].sum(),
                         "sum_ab": float(x[:, a] @ x[:, b])})
    return pd.DataFrame(rows)


def run(x: np.ndarray, alpha_min: float = 0.7):
    order = {f"i{j}": j for j in range(x.shape[1])}
    return reliability(crossproduct_frame(x), order, alpha_min)


def test_alpha_matches_r_psych():
    scales, items = run(PSYCH_DATA)
    assert scales["alpha"].iloc[0] == pytest.approx(PSYCH_RAW_ALPHA, abs=1e-10)
    np.testing.assert_allclose(items["alpha_if_deleted"], PSYCH_ALPHA_DROP, atol=1e-10)
    np.testing.assert_allclose(items["item_rest_r"], PSYCH_R_DROP, atol=1e-10)
    assert scales["alpha_flag"].iloc[0] is None


def test_alpha_worked_example():
    """Three items, four respondents, by hand.

    Items (1,2,3,4), (2,3,3,5), (3,4,5,6): variances 5/3, 19/12, 5/3 (sum 59/12); totals
    6, 9, 11, 15 have variance 14.25; α = 3/2 · (1 − (59/12)/14.25) = 3/2 · 112/171 = 56/57.
    """
    x = np.array([[1, 2, 3], [2, 3, 4], [3, 3, 5], [4, 5, 6]], dtype=float)
    assert run(x)[0]["alpha"].iloc[0] == pytest.approx(56 / 57)
    assert alpha_from_cov(np.cov(x, rowvar=False)) == pytest.approx(56 / 57)


def test_alpha_if_deleted_and_item_rest_by_recomputation():
    rng = np.random.default_rng(2)
    x = rng.integers(1, 8, (50, 5)).astype(float) + rng.integers(0, 3, (50, 1))
    deleted, item_rest = item_statistics(np.cov(x, rowvar=False))
    for i in range(5):
        rest = np.delete(x, i, axis=1)
        assert deleted[i] == pytest.approx(alpha_from_cov(np.cov(rest, rowvar=False)))
        assert item_rest[i] == pytest.approx(np.corrcoef(x[:, i], rest.sum(axis=1))[0, 1])


def test_one_item_dimension_has_no_alpha_and_says_why():
    scales, _ = run(PSYCH_DATA[:, :1])
    assert np.isnan(scales["alpha"].iloc[0])
    assert scales["alpha_flag"].iloc[0] == REASON_ONE_ITEM


def test_zero_variance_has_no_alpha():
    scales, _ = run(np.full((10, 3), 4.0))
    assert np.isnan(scales["alpha"].iloc[0])
    assert scales["alpha_flag"].iloc[0] == REASON_NO_VARIANCE


def test_negative_alpha_hints_at_reverse_scoring():
    x = PSYCH_DATA.copy()
    x[:, 1] = 8 - x[:, 1]
    x[:, 2] = 8 - x[:, 2]
    scales, _ = run(x)
    assert scales["alpha"].iloc[0] < 0
    assert scales["alpha_flag"].iloc[0] == REASON_NEGATIVE


def test_low_alpha_is_flagged():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1, (300, 1))
    scales, _ = run(rng.normal(0, 1, (300, 4)) + 0.5 * common)
    assert 0 < scales["alpha"].iloc[0] < 0.7 and scales["alpha_flag"].iloc[0] == "low"


def test_results_alpha_equals_direct_computation_on_sample(sample_results):
    results, validated = sample_results
    r = validated.responses
    current = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    inst = results.instrument
    dims = results.dimensions.set_index("dimension")
    for dim in inst.dimension_keys:
        cols = [j for j, i in enumerate(inst.items) if i.dimension == dim]
        for kind, answers in (("expectation", r.expectation), ("perception", r.perception)):
            x = answers[current][:, cols].astype(float)
            x = x[~np.isnan(x).any(axis=1)]
            expected = alpha_from_cov(np.cov(x, rowvar=False))
            assert dims.loc[dim, f"alpha_{kind}"] == pytest.approx(expected, rel=1e-9)


def cronbach(x: np.ndarray) -> float:
    """Cronbach's alpha of a complete (respondents × items) matrix, as pingouin computes it:
    k / (k − 1) · (1 − Σ var(item) / var(total))."""
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def test_gap_alpha_not_reported(sample_results):
    """alpha_gap: Cronbach's alpha of the item gaps P − E over the respondents who answered
    both batteries of every item of the dimension, against numpy on the raw gap matrix."""
    results, validated = sample_results
    r = validated.responses
    current = (r.meta["wave"].astype(str) == results.current_wave).to_numpy()
    inst = results.instrument
    doc = results.to_json()
    dims = {row["dimension"]: row for row in doc["dimensions"]}
    scales = {(row["dimension"], row["kind"]): row for row in doc["reliability"]}
    for dim in inst.dimension_keys:
        cols = [j for j, i in enumerate(inst.items) if i.dimension == dim]
        g = (r.perception[current][:, cols].astype(float)
             - r.expectation[current][:, cols].astype(float))
        g = g[~np.isnan(g).any(axis=1)]
        assert dims[dim]["alpha_gap"] == pytest.approx(cronbach(g), rel=1e-9)
        row = scales[(dim, "gap")]
        assert row["n"] == len(g) and row["k"] == len(cols)
        assert [i["item"] for i in row["items"]] == [inst.items[j].id for j in cols]
        assert row["items"][0]["item_mean"] == pytest.approx(g[:, 0].mean(), rel=1e-9)
        assert row["items"][0]["alpha_if_deleted"] == pytest.approx(cronbach(g[:, 1:]),
                                                                    rel=1e-9)
    assert [row["kind"] for row in doc["reliability"][:3]] == ["expectation", "perception",
                                                               "gap"]


def test_gap_alpha_of_the_tiny_survey(tmp_path):
    """Tiny survey, dimension alpha (i1, i2): only r1 (gaps −1, 0) and r2 (−3, −1) answered
    both batteries of both items: two respondents, too few for alpha. With r3's missing E2
    filled in as 4 (gaps +1, 0): item variances 4 and 1/3, totals −1, −4, +1 with variance
    19/3, alpha = 2 · (1 − (13/3) / (19/3)) = 12/19."""
    from fixtures import TINY_CSV, run_and_check, tiny
    from servqual.instrument import load_instrument

    inst, data = tiny(tmp_path)
    results, _ = run_and_check([data], load_instrument(inst))
    doc = results.to_json()
    row = [s for s in doc["reliability"] if s["dimension"] == "alpha" and s["kind"] == "gap"][0]
    assert row["n"] == 2 and row["alpha"] is None and row["alpha_flag"] == "too_few_respondents"
    assert doc["dimensions"][0]["alpha_gap"] is None
    filled = TINY_CSV.replace("r3,West,3,,5", "r3,West,3,4,5")
    inst, data = tiny(tmp_path, csv=filled)
    results, _ = run_and_check([data], load_instrument(inst))
    alpha = results.to_json()["dimensions"][0]["alpha_gap"]
    g = np.array([[-1.0, 0.0], [-3.0, -1.0], [1.0, 0.0]])
    assert alpha == pytest.approx(cronbach(g)) and alpha == pytest.approx(12 / 19)
