from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, replace_in_instrument, tiny, write
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
        ('expectation = "E1"\n', "", "items[0].expectation", "required key is missing"),
        ("missing_codes = [9]", "missing_codes = [3]", "instrument.missing_codes",
         "inside the answer scale"),
        ("segments = [", "segmnets = [", "instrument.segmnets", "did you mean 'segments'"),
        ("min_cell = 1", "min_cell = 0", "analysis.min_cell", "must be ≥ 1"),
        ("small_base = 2", 'small_base = "two"', "analysis.small_base", "must be int"),
        ('respondent_id = "id"', 'respondent_id = "P3"', "items[2].perception", "used twice"),
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
