from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fixtures import TINY_CSV, TINY_INSTRUMENT, replace_in_instrument, tiny, write
from servqual.cli import app
from servqual.errors import InputFileError, InstrumentError
from servqual.instrument import load_instrument

from conftest import INSTRUMENT


def test_shipped_instrument_is_the_22_item_servqual():
    inst = load_instrument(INSTRUMENT)
    assert inst.dimension_keys == ("tangibles", "reliability", "responsiveness", "assurance",
                                   "empathy")
    counts = {d: len(inst.items_of(d)) for d in inst.dimension_keys}
    assert counts == {"tangibles": 4, "reliability": 5, "responsiveness": 4, "assurance": 4,
                      "empathy": 5}
    # PZB 1991 order: items 1-4 tangibles, 5-9 reliability, 10-13, 14-17, 18-22.
    assert [i.dimension for i in inst.items][4:9] == ["reliability"] * 5
    assert (inst.scale_min, inst.scale_max) == (1, 7)
    for item in inst.items:
        assert item.text.get("en") and item.text.get("zh-CN"), item.id
    for dim in inst.dimensions:
        assert dim.label.get("zh-CN") and dim.importance
    assert inst.dimension("assurance").label_for("zh-CN") == "确实性"


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ('dimension = "beta"', 'dimension = "gamma"', "items[2].dimension", "unknown dimension"),
        ('id = "i2"', 'id = "i1"', "items[1].id", "duplicate item id"),
        ('perception = "P2"', 'perception = "P1"', "items[1].perception", "used twice"),
        ('perception = "P1"', 'perception = "E1"', "items[0].perception", "used twice"),
        ("scale_min = 1", "scale_min = 5", "instrument.scale_min", "less than scale_max"),
        ("scale_min = 1", "scale_min = 6", "instrument.scale_min", "less than scale_max"),
        ('[dimensions.beta]', '[dimensions.gamma]\nlabel = "G"\n\n[dimensions.beta]',
         "dimensions.gamma", "no items"),
        ('name = "Tiny test instrument"\n', "", "instrument.name", "required key is missing"),
        ('scale_max = 5\n', "", "instrument.scale_max", "required key is missing"),
        ('perception = "P3"\n', "", "items[2].perception", "required key is missing"),
        ('expectation = "E1"\n', 'expectation = ""\n', "items[0].expectation",
         "must name a column"),
        ("missing_codes = [9]", "missing_codes = [3]", "instrument.missing_codes",
         "inside the answer scale"),
        ("segments = [", "segmnets = [", "instrument.segmnets", "did you mean 'segments'"),
        ("min_cell = 1", "min_cell = 0", "analysis.min_cell", "must be ≥ 1"),
        ("small_base = 2", 'small_base = "two"', "analysis.small_base", "must be int"),
        ('respondent_id = "id"', 'respondent_id = "P3"', "items[2].perception", "used twice"),
        # importance points for one dimension but not the other: the other weighed 0
        ('label = { en = "Alpha", zh-CN = "甲维度" }',
         'label = { en = "Alpha", zh-CN = "甲维度" }\nimportance = "W_a"',
         "dimensions.beta.importance", "importance is given for 1 of 2 dimensions"),
    ],
)
def test_invalid_instrument_names_file_and_key(tmp_path, old, new, key, fragment):
    path = write(tmp_path / "bad.toml", replace_in_instrument(old, new))
    with pytest.raises(InstrumentError) as info:
        load_instrument(path)
    err = info.value
    assert err.exit_code == 65
    assert err.key == key
    assert fragment in err.message
    assert str(path) in str(err) and key in str(err)


def test_instrument_without_items_or_dimensions(tmp_path):
    text = TINY_INSTRUMENT.split("[dimensions.alpha]")[0]
    with pytest.raises(InstrumentError, match="dimensions"):
        load_instrument(write(tmp_path / "a.toml", text))


def test_instrument_not_toml(tmp_path):
    with pytest.raises(InstrumentError, match="not valid TOML"):
        load_instrument(write(tmp_path / "a.toml", "[instrument\nname="))


def test_instrument_missing_file(tmp_path):
    with pytest.raises(InputFileError) as info:
        load_instrument(tmp_path / "nope.toml")
    assert info.value.exit_code == 66


def test_cli_exits_65_on_bad_instrument_and_names_key(tmp_path):
    inst, data = tiny(tmp_path, instrument=replace_in_instrument('id = "i2"', 'id = "i1"'))
    result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(inst)])
    assert result.exit_code == 65
    assert "items[1].id" in result.output and str(inst) in result.output
    assert "Traceback" not in result.output


def test_label_may_be_a_plain_string(tmp_path):
    text = replace_in_instrument('label = { en = "Alpha", zh-CN = "甲维度" }', 'label = "Alpha"')
    inst = load_instrument(write(tmp_path / "a.toml", text))
    assert inst.dimension("alpha").label_for("zh-CN") == "Alpha"


# --------------------------------------------------------------------------------------------
# The weak-point priority factors of [analysis], through `servqual report --json`.
#
# alpha's gap is −0.875 and beta's −0.5 (fixtures.TINY). A target of gap ≥ 0 on alpha gives
# alpha one piece of evidence (target_missed): score 0.875 × 1 = 0.875.

ALPHA_TARGET = '[[targets]]\ndimension = "alpha"\ngap = 0\n'
BETA_TARGET = '[[targets]]\ndimension = "beta"\ngap = 0\n'
def _many(text: str, copies: int = 30) -> str:
    """The survey ``text`` with each respondent given ``copies`` times under new ids: the
    same means, from enough respondents for a trend over three waves to be significant."""
    header, *rows = text.strip().splitlines()
    return "\n".join([header] + [f"{row.split(',', 1)[0]}-{k}," + row.split(",", 1)[1]
                                  for k in range(copies) for row in rows]) + "\n"


# beta's item i3 answered so that beta's gap is +0.5, 0, −0.5 over three waves: a perfect
# linear fall (TINY itself is the last wave); alpha's answers are the same in every wave.
# Each respondent 30 times: with four respondents a wave, a fall of 1.0 is not significant.
BETA_FALLING = {"2026Q1": _many(TINY_CSV.replace("r3,West,3,,5,4,4,5", "r3,West,3,,4,4,4,5")
                                .replace("r4,West,9,4,4,5,2,1", "r4,West,9,4,4,5,2,4")),
                "2026Q2": _many(TINY_CSV.replace("r4,West,9,4,4,5,2,1", "r4,West,9,4,4,5,2,3")),
                "2026Q3": _many(TINY_CSV)}


def _dimension_priorities(tmp_path, analysis: str, files: dict[str, str], targets: str,
                          *options: str) -> tuple[list[tuple[str, float]], str]:
    """(id, score) of the weak dimensions in priority order, and the report's HTML."""
    inst = write(tmp_path / "instrument.toml",
                 replace_in_instrument("small_base = 2", "small_base = 2\n" + analysis))
    data = [write(tmp_path / f"{wave}.csv", text) for wave, text in files.items()]
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(app, [
        "report", *map(str, data), "--instrument", str(inst),
        "--targets", str(write(tmp_path / "targets.toml", targets)), *options,
        "--out", str(out), "--json", str(js)])
    assert result.exit_code == 0, result.output
    points = json.loads(js.read_text(encoding="utf-8"))["weak_points"]
    ranked = sorted((p for p in points if p["kind"] == "dimension"),
                    key=lambda p: p["priority"])
    return [(p["id"], p["score"]) for p in ranked], out.read_text(encoding="utf-8")


def test_priority_falling_factor_from_analysis_reorders_weak_points(tmp_path):
    # Both gaps are material and significant with 120 respondents a wave (negative_gap).
    # alpha: gap −0.875 and a missed target, 0.875 × (1 + 0.25) = 1.09375; beta: gap −0.5,
    # falling, 0.5 × factor × 1.25: 0.9375 by default (below alpha), 1.25 with a factor of 2.
    ranked, html = _dimension_priorities(tmp_path / "default", "trend_min_waves = 3",
                                         BETA_FALLING, ALPHA_TARGET)
    assert ranked == [("alpha", pytest.approx(1.09375)), ("beta", pytest.approx(0.9375))]
    assert "trend (1.5 when falling, else 1)" in html
    ranked, html = _dimension_priorities(
        tmp_path / "changed", "trend_min_waves = 3\npriority_falling_factor = 2",
        BETA_FALLING, ALPHA_TARGET)
    assert ranked == [("beta", pytest.approx(1.25)), ("alpha", pytest.approx(1.09375))]
    assert "trend (2.0 when falling, else 1)" in html  # the method appendix's formula
    assert "Priority multiplier for a falling trend" in html  # its row of thresholds


def test_priority_evidence_bonus_from_analysis_reorders_weak_points(tmp_path):
    # One wave; a missed target and the only complaint on beta: two pieces of evidence,
    # score 0.5 × (1 + bonus): 0.625 by default (below alpha's 0.875), 1.0 with a bonus of 1.
    complaints = write(tmp_path / "complaints.csv", "wave,category\n2026Q3,rude\n")
    categories = write(tmp_path / "categories.toml", '[categories]\n"rude" = "beta"\n')
    options = ("--complaints", str(complaints), "--categories", str(categories))
    wave = {"2026Q3": TINY_CSV}
    ranked, html = _dimension_priorities(tmp_path / "default", "", wave,
                                         ALPHA_TARGET + BETA_TARGET, *options)
    assert ranked == [("alpha", pytest.approx(0.875)), ("beta", pytest.approx(0.625))]
    assert "evidence (1 + 0.25 for each piece" in html
    ranked, html = _dimension_priorities(tmp_path / "changed", "priority_evidence_bonus = 1",
                                         wave, ALPHA_TARGET + BETA_TARGET, *options, "--lang",
                                         "zh-CN")
    assert ranked == [("beta", pytest.approx(1.0)), ("alpha", pytest.approx(0.875))]
    assert "每多一条依据加 1.0" in html and "每多一条依据的优先得分加成" in html


@pytest.mark.parametrize("key", ["priority_falling_factor", "priority_evidence_bonus"])
@pytest.mark.parametrize("value", ["-0.5", '"high"'])
def test_invalid_priority_setting_exits_65_naming_the_key(tmp_path, key, value):
    inst, data = tiny(tmp_path, instrument=replace_in_instrument(
        "small_base = 2", f"small_base = 2\n{key} = {value}"))
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst),
                                      "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 65, result.output
    assert f"analysis.{key}" in result.output and "instrument.toml" in result.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("key", ["importance_tolerance", "priority_falling_factor",
                                 "priority_evidence_bonus", "nps_min_change"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_setting_that_is_not_a_finite_number_exits_65_naming_the_key(tmp_path, key, value):
    # TOML reads inf and nan as floats: inf passed the checks, and the JSON writer then
    # crashed (Out of range float values are not JSON compliant) after the report was made.
    inst, data = tiny(tmp_path, instrument=replace_in_instrument(
        "small_base = 2", f"small_base = 2\n{key} = {value}"))
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst),
                                      "--out", str(tmp_path / "r.html"),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 65, result.output
    assert f"key 'analysis.{key}': must be a finite number" in result.output
    assert not (tmp_path / "r.json").exists()


def test_an_outcome_scale_of_inf_exits_65_naming_the_key(tmp_path):
    inst, data = tiny(tmp_path, instrument=TINY_INSTRUMENT + (
        '\n[outcomes.repurchase]\ncolumn = "P1"\nscale_min = 1\nscale_max = inf\n'))
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst),
                                      "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 65, result.output
    assert "key 'outcomes.repurchase.scale_max': must be a finite number" in result.output
