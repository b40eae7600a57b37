"""Answer labels (contract §5): answers written as texts read as their scores.

The tiny survey of tests/fixtures.py is written as a survey platform exports it: expectations
as 问卷星 按文本 writes them ("4分"), perceptions as agreement texts, a skipped question as
"(跳过)". Read through the command line with an instrument that labels them, it must give the
figures computed by hand for the numeric file (fixtures.TINY_ITEMS, TINY_DIMENSIONS).
"""

from __future__ import annotations

import csv
import json

import pytest

from fixtures import (TINY_DIMENSIONS, TINY_INSTRUMENT, TINY_ITEMS, TINY_ROWS,
                      replace_in_instrument, report_tiny)

AGREE = {1: "Strongly disagree", 2: "Disagree", 3: "Neutral", 4: "Agree", 5: "Strongly agree"}
# How a person or a platform varies the texts: case, blanks, full-width letters.
VARIANTS = {"Agree": " AGREE ", "Strongly agree": "ｓｔｒｏｎｇｌｙ agree", "Disagree": "disagree"}

LABELLED = replace_in_instrument(
    "missing_codes = [9]",
    "missing_codes = [9, \"(跳过)\"]\nanswer_pattern = '^(\\d+)\\s*分$'") + """
[answer_labels]
"Don't know" = "missing"

[answer_labels.agree5]
"Strongly disagree" = 1
"Disagree" = 2
"Neutral" = 3
"Agree" = 4
"Strongly agree" = 5
"""
for item in ("i1", "i2", "i3"):
    LABELLED = LABELLED.replace(f'id = "{item}"\n', f'id = "{item}"\nlabels = "agree5"\n')


def as_texts(rows: list[list[str]]) -> str:
    """The tiny survey with every answer as a text: E as "N分" ("５分" once, full width), P as
    agreement texts, the missing code 9 as "(跳过)", one perception as "Don't know"."""
    header, *data = rows
    out = [header]
    for n, row in enumerate(data):
        cells = list(row[:2])
        for column, value in zip(header[2:], row[2:]):
            if value == "":
                cells.append("")
            elif value == "9":
                cells.append("(跳过)")
            elif column.startswith("E"):
                cells.append(("５" if value == "5" and n == 0 else value) + " 分")
            else:
                text = AGREE[int(value)]
                cells.append(VARIANTS.get(text, text) if n % 2 else text)
        out.append(cells)
    return "\n".join(",".join(f'"{c}"' if c else "" for c in r) for r in out) + "\n"


def report(tmp_path, data: str, instrument: str = LABELLED):
    return report_tiny(tmp_path, instrument, data)


def test_text_answers_give_the_hand_computed_figures(tmp_path):
    result, out = report(tmp_path, as_texts(TINY_ROWS))
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["data_quality"]["rows_quarantined"] == 0
    items = {i["item"]: i for i in results["items"]}
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items[item][key] == pytest.approx(value), (item, key)
    dimensions = {d["dimension"]: d for d in results["dimensions"]}
    for dimension, expected in TINY_DIMENSIONS.items():
        for key, value in expected.items():
            assert dimensions[dimension][key] == pytest.approx(value), (dimension, key)


def test_a_label_meaning_missing_is_a_missing_answer(tmp_path):
    rows = [list(r) for r in TINY_ROWS]
    rows[3][2] = "9"  # r3's E1 skipped, written "(跳过)" below
    data = as_texts(rows).replace('"Strongly agree"', '"Don\'t know"', 1)
    result, out = report(tmp_path, data)
    assert result.exit_code == 0, result.output
    quality = json.loads(out.read_text(encoding="utf-8"))["data_quality"]
    assert quality["rows_quarantined"] == 0
    assert quality["answers_missing"] == 2 + 2  # the blank and the 9 of the file, and these two


def test_an_unknown_text_is_quarantined_with_the_text_shown(tmp_path):
    data = as_texts(TINY_ROWS).replace('"Neutral"', '"Maybe"', 1)
    result, out = report(tmp_path, data)
    assert result.exit_code == 0, result.output
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["reason"], r["value"]) for r in rows] == [("non_numeric", "Maybe")]
    # the pattern reads a score outside the scale: out of scale, not a missing answer
    data = as_texts(TINY_ROWS).replace('"4 分"', '"7 分"', 1)
    result, out = report(tmp_path, data)
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["reason"], r["value"]) for r in rows] == [("out_of_scale", "7 分")]


def test_without_labels_text_answers_are_quarantined(tmp_path):
    result, out = report(tmp_path, as_texts(TINY_ROWS), TINY_INSTRUMENT)
    assert result.exit_code == 65  # every row quarantined: no valid responses
    assert "non_numeric: 4" in result.output


@pytest.mark.parametrize("change, key, words", [
    (('"Neutral" = 3', '"Neutral" = 6'), "answer_labels.agree5.Neutral",
     "outside the answer scale"),
    (('"Neutral" = 3', '"Neutral" = "none"'), "answer_labels.agree5.Neutral", "must be a score"),
    (('"Neutral" = 3', '"3" = 3'), "answer_labels.agree5.3", "is a number"),
    (('"Neutral" = 3', '"Neutral" = 3\n" neutral" = 2'), "answer_labels.agree5. neutral",
     "same label"),
    (('labels = "agree5"', 'labels = "agree7"'), "items[0].labels", "does not define"),
    (("'^(\\d+)\\s*分$'", "'^(\\d+'"), "instrument.answer_pattern", "not a regular expression"),
    (("'^(\\d+)\\s*分$'", "'^\\d+分$'"), "instrument.answer_pattern", "group"),
    (('"(跳过)"', '"99"'), "instrument.missing_codes[1]", "not a number"),
])
def test_instrument_errors_name_the_key(tmp_path, change, key, words):
    instrument = LABELLED.replace(*change, 1)
    assert instrument != LABELLED
    result, _ = report(tmp_path, as_texts(TINY_ROWS), instrument)
    assert result.exit_code == 65, result.output
    assert key in result.output and words in result.output, result.output
