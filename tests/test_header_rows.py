"""``names_row`` and ``skip_rows`` (contract §5): the columns named by another header row
(Qualtrics Legacy keeps ResponseID in row 2), and title rows above the header."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fixtures import (TINY_CSV, TINY_INSTRUMENT, TINY_ITEMS, TINY_ROWS, cells,
                      replace_in_instrument, write, write_xlsx)
from servqual.cli import app

LEGACY_CODES = "V1,V2,Q1_1,Q1_2,Q1_3,Q2_1,Q2_2,Q2_3"
TITLES = ["客户满意度调查 2026年第三季度", "导出时间：2026-10-01"]


def setting(text: str) -> str:
    return replace_in_instrument('respondent_id = "id"', f'respondent_id = "id"\n{text}')


def report(tmp_path, path, instrument):
    inst = write(tmp_path / "instrument.toml", instrument)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(path), "--instrument", str(inst),
                                      "--wave", "2026Q3", "--out", str(tmp_path / "r.html"),
                                      "--json", str(out)])
    return result, out


def assert_hand_figures(out):
    items = {i["item"]: i for i in json.loads(out.read_text(encoding="utf-8"))["items"]}
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items[item][key] == pytest.approx(value), (item, key)


def test_names_from_the_second_header_row(tmp_path):
    data = write(tmp_path / "legacy.csv", LEGACY_CODES + "\n" + TINY_CSV)
    result, out = report(tmp_path, data, setting("header_rows = 2\nnames_row = 2"))
    assert result.exit_code == 0, result.output
    assert_hand_figures(out)
    # a column missing from the naming row is reported on that row (2), not on row 1
    renamed = write(tmp_path / "legacy2.csv", LEGACY_CODES + "\n" + TINY_CSV.replace("P3", "P_3"))
    result, _ = report(tmp_path, renamed, setting("header_rows = 2\nnames_row = 2"))
    assert result.exit_code == 65 and "row 2, column 'P3'" in result.output, result.output


def test_title_rows_above_the_header_in_text_and_excel(tmp_path):
    text = write(tmp_path / "titled.csv", "\n".join(TITLES) + "\n\n" + TINY_CSV)
    result, out = report(tmp_path, text, setting("skip_rows = 2"))
    assert result.exit_code == 0, result.output
    assert_hand_figures(out)
    book = write_xlsx(tmp_path / "titled.xlsx", [[TITLES[0]], [TITLES[1]], []] + cells(TINY_ROWS))
    result, out = report(tmp_path, book, setting("skip_rows = 2"))
    assert result.exit_code == 0, result.output
    assert_hand_figures(out)
    # rows keep the spreadsheet's numbers: r4's out-of-scale answer is on row 8 (2 titles,
    # a blank row, the header, r1 to r3)
    bad = write(tmp_path / "bad.csv", "\n".join(TITLES) + "\n\n" + TINY_CSV.replace(
        "r4,West,9,4,4,5,2,1", "r4,West,9,4,4,5,2,8"))
    result, _ = report(tmp_path, bad, setting("skip_rows = 2"))
    rejected = (tmp_path / "r.rejected.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejected[1].split(",")[1:4] == ["8", "out_of_scale", "P3"], rejected
    # without skip_rows the title is taken for the header, and the advice says what to check
    result, _ = report(tmp_path, text, TINY_INSTRUMENT)
    assert result.exit_code == 65, result.output


@pytest.mark.parametrize("text, key", [
    ("names_row = 2", "instrument.names_row"),
    ("header_rows = 2\nnames_row = 0", "instrument.names_row"),
    ("skip_rows = -1", "instrument.skip_rows"),
])
def test_wrong_settings_are_named(tmp_path, text, key):
    data = write(tmp_path / "2026Q3.csv", TINY_CSV)
    result, _ = report(tmp_path, data, setting(text))
    assert result.exit_code == 65 and key in result.output, result.output


def test_the_sheet_holding_the_columns_is_chosen_after_an_instruction_sheet(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"
    for line in ("本问卷由问卷星导出", "E1–E3: 期望; P1–P3: 感知", "id region"):
        notes.append([line])
    data = book.create_sheet("数据")
    for row in cells(TINY_ROWS):
        data.append(row)
    path = tmp_path / "export.xlsx"
    book.save(path)
    result, out = report(tmp_path, path, TINY_INSTRUMENT)
    assert result.exit_code == 0, result.output
    assert_hand_figures(out)
    # a sheet named in the instrument is read whatever it holds
    result, _ = report(tmp_path, path, setting('sheet = "说明"'))
    assert result.exit_code == 65 and "not in the file" in result.output, result.output


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_title_row_above_the_header_gets_the_skip_rows_advice(tmp_path, kind):
    # A report title in the first row: the advice was about delimiters (CSV) or blank header
    # cells, where setting skip_rows is the fix.
    import openpyxl
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    rows = [["2026年第三季度客户满意度调查"]] + [line.split(",")
                                          for line in TINY_CSV.strip().splitlines()]
    data = tmp_path / f"2026Q3.{kind}"
    if kind == "csv":
        data.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    else:
        book = openpyxl.Workbook()
        for r in rows:
            book.active.append(r)
        book.save(data)
    result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(inst)])
    assert result.exit_code == 65, result.output
    assert "The column names seem to be on row 2, below a title: set skip_rows = 1" \
        in result.output
    fixed = write(tmp_path / "fixed.toml", TINY_INSTRUMENT.replace(
        "[instrument]\n", "[instrument]\nskip_rows = 1\n", 1))
    result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(fixed)])
    assert result.exit_code == 0, result.output
