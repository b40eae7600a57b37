"""Edge cases of the statistics through the whole pipeline: nothing crashes, nothing lies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import TINY_CSV, replace_in_instrument, tiny
from servqual.instrument import load_instrument
from fixtures import run_and_check
from servqual.stats.gaps import adjust_pvalues


def run(tmp_path, csv=TINY_CSV, instrument=None):
    kwargs = {"csv": csv} if instrument is None else {"csv": csv, "instrument": instrument}
    inst, data = tiny(tmp_path, **kwargs)
    return run_and_check([data], load_instrument(inst))[0]


def test_one_item_dimension_has_null_alpha_with_reason(tmp_path):
    doc = run(tmp_path).to_json()
    beta = [r for r in doc["reliability"] if r["dimension"] == "beta"]
    assert {r["alpha_flag"] for r in beta} == {"one_item"}
    assert all(r["alpha"] is None for r in beta)
    assert doc["dimensions"][1]["alpha_expectation"] is None


def test_single_respondent(tmp_path):
    results = run(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\nr1,East,4,5,3,3,5,4\n")
    doc = json.loads(results.dumps())  # valid JSON, no NaN
    alpha = doc["dimensions"][0]
    assert alpha["n"] == 1 and alpha["gap_mean"] == -0.5
    assert alpha["gap_sd"] is None and alpha["p_value"] is None and alpha["gap_ci95_low"] is None


def test_all_gaps_identical(tmp_path):
    csv = "id,region,E1,E2,E3,P1,P2,P3\n" + "".join(
        f"r{i},East,4,4,4,3,3,3\n" for i in range(5))
    dims = run(tmp_path, csv=csv).dimensions.set_index("dimension")
    assert dims.loc["alpha", "gap_mean"] == -1 and dims.loc["alpha", "gap_sd"] == 0
    assert dims.loc["alpha", "p_value"] == 0  # a certain shortfall, as scipy reports
    assert dims.loc["alpha", "gap_ci95_low"] == dims.loc["alpha", "gap_ci95_high"] == -1
    assert np.isnan(dims.loc["alpha", "dz"])


def test_zero_variance_and_zero_gap(tmp_path):
    csv = "id,region,E1,E2,E3,P1,P2,P3\n" + "".join(
        f"r{i},East,4,4,4,4,4,4\n" for i in range(5))
    results = run(tmp_path, csv=csv)
    dims = results.dimensions.set_index("dimension")
    assert dims.loc["alpha", "gap_mean"] == 0 and np.isnan(dims.loc["alpha", "p_value"])
    assert np.isnan(dims.loc["alpha", "wilcoxon_p"])
    json.loads(results.dumps())


def test_benjamini_hochberg_by_config(tmp_path):
    holm = run(tmp_path / "a")
    bh = run(tmp_path / "b", instrument=replace_in_instrument(
        "min_cell = 1", 'min_cell = 1\np_adjust = "fdr_bh"'))
    assert bh.config.p_adjust == "fdr_bh"
    p = holm.items["p_value"].to_numpy()
    np.testing.assert_allclose(bh.items["p_adjusted"], adjust_pvalues(p, "fdr_bh"))
    np.testing.assert_allclose(holm.items["p_adjusted"], adjust_pvalues(p, "holm"))


def test_minimum_item_share_excludes_thin_respondents(tmp_path):
    # r5 answered one of alpha's two items: with a share of 1.0 it has no alpha score.
    csv = TINY_CSV + "r5,East,4,,4,5,,5\n"
    strict = run(tmp_path / "a", csv=csv, instrument=replace_in_instrument(
        "min_cell = 1", "min_cell = 1\nmin_item_share = 1.0"))
    lenient = run(tmp_path / "b", csv=csv)
    get = lambda r: r.dimensions.set_index("dimension").loc["alpha", "n"]  # noqa: E731
    assert get(lenient) == 5 and get(strict) == 2  # r3, r4 and r5 each miss an alpha item


@pytest.mark.parametrize("bad", ["p_adjust = \"magic\"", "min_item_share = 0"])
def test_bad_thresholds_are_instrument_errors(tmp_path, bad):
    from servqual.errors import InstrumentError
    with pytest.raises(InstrumentError):
        run(tmp_path, instrument=replace_in_instrument("min_cell = 1", f"min_cell = 1\n{bad}"))
