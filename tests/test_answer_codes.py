"""``[answer_codes]``: the option positions a file writes (问卷星 按序号) read as scores."""

from __future__ import annotations

import csv
import json

import pytest

from fixtures import TINY_CSV, TINY_INSTRUMENT, TINY_ITEMS, report_tiny

# The tiny survey on a 0–4 scale: the file's codes 1..5 are the scores 0..4; item i3 is read
# with a named set that reverses them (5 → 0 … 1 → 4).
CODED = TINY_INSTRUMENT.replace("scale_min = 1\nscale_max = 5", "scale_min = 0\nscale_max = 4")
CODED = CODED.replace("missing_codes = [9]", "missing_codes = [9, -3]")
CODED = CODED.replace('id = "i3"\n', 'id = "i3"\ncodes = "reversed"\n') + """
[answer_codes]
1 = 0
2 = 1
3 = 2
4 = 3
5 = 4

[answer_codes.reversed]
1 = 4
2 = 3
3 = 2
4 = 1
5 = 0
"""


def report(tmp_path, instrument: str, data: str):
    return report_tiny(tmp_path, instrument, data)


def test_codes_read_as_scores_by_hand(tmp_path):
    result, out = report(tmp_path, CODED, TINY_CSV.replace("r3,West,3,,5", "r3,West,3,-3,5"))
    assert result.exit_code == 0, result.output
    items = {i["item"]: i for i in json.loads(out.read_text(encoding="utf-8"))["items"]}
    for item in ("i1", "i2"):  # every score one below the code: gaps as before
        expected = TINY_ITEMS[item]
        assert items[item]["n"] == expected["n"]
        assert items[item]["expectation_mean"] == pytest.approx(expected["expectation_mean"] - 1)
        assert items[item]["gap_mean"] == pytest.approx(expected["gap_mean"])
    # i3 reversed: E codes 3,2,5,4 -> 2,3,0,1 (mean 1.5); P codes 4,2,5,1 -> 1,3,0,4 (mean 2)
    assert items["i3"]["n"] == 4
    assert items["i3"]["expectation_mean"] == pytest.approx(1.5)
    assert items["i3"]["perception_mean"] == pytest.approx(2.0)
    assert items["i3"]["gap_mean"] == pytest.approx(0.5)


def test_a_code_no_entry_names_is_out_of_scale_as_written(tmp_path):
    result, out = report(tmp_path, CODED, TINY_CSV.replace("r1,East,4,5,3", "r1,East,4,7,3"))
    assert result.exit_code == 0, result.output
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["reason"], r["column"], r["value"]) for r in rows] == [("out_of_scale", "E2", "7")]


@pytest.mark.parametrize("change, key", [
    (("1 = 0\n2 = 1", "a = 0\n2 = 1"), "answer_codes.a"),
    (("1 = 0\n2 = 1", "1 = 6\n2 = 1"), "answer_codes.1"),
    (('codes = "reversed"', 'codes = "other"'), "items[2].codes"),
    (("[answer_codes]\n", '[answer_labels]\n"Good" = 4\n\n[answer_codes]\n'), "answer_codes"),
])
def test_wrong_codes_are_named(tmp_path, change, key):
    instrument = CODED.replace(*change, 1)
    assert instrument != CODED
    result, _ = report(tmp_path, instrument, TINY_CSV)
    assert result.exit_code == 65 and key in result.output, result.output
