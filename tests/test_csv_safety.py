"""CSV outputs opened in a spreadsheet: no cell runs as a formula, no cell is overlong, and one
huge cell cannot flood an error message (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
import re
import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from fixtures import TINY_CSV, replace_in_instrument, tiny, write
from servqual.celltext import CSV_CELL_CHARS, MESSAGE_CELL_CHARS, bounded
from servqual.cli import app
from servqual.outputs import OutputSet

runner = CliRunner()

PAYLOADS = [
    '=HYPERLINK("http://x","click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",  # full-width forms, as an East Asian input method types them
    "＋1+cmd|' /C calc'!A0",
    "－2+3",
    "＠SUM(1+1)",
]
# Out-of-scale answers typed as plain numbers: kept as typed in the quarantine's value column.
NUMBERS = ["-5", "-0.5", "+7", "1e3", "－５"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
HEADER_PAYLOAD = "=cmd|' /C calc'!A0"
BLOB = "=" + "x" * (5 * 2**20 - 1)  # a 5 MB cell, starting like a formula
MARKER = "…[truncated: 5,242,880 characters in all]"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def survey(rows: list[list[object]], extra_column: str | None = None) -> str:
    """TINY_CSV with ``rows`` appended (and a last column named ``extra_column``), written
    with the csv module so that every payload is one cell (CRLF: so that it quotes a CR)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, row in enumerate(csv.reader(io.StringIO(TINY_CSV))):
        writer.writerow(row + ([extra_column if n == 0 else ""] if extra_column else []))
    for row in rows:
        writer.writerow(row + ([""] if extra_column else []))
    return out.getvalue()


def hostile_rows() -> list[list[object]]:
    """One row per payload, in the id, the segment and an answer column (non_numeric), and
    one per plain number (out_of_scale)."""
    rows = [[payload, payload, payload, 5, 3, 3, 5, 4] for payload in PAYLOADS]
    rows += [[f"n{k}", "West", number, 5, 3, 3, 5, 4] for k, number in enumerate(NUMBERS)]
    return rows


def read(path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens Chinese correctly
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def written_csvs(tmp_path, csv_text: str, *report_args: str) -> list:
    """Run ``servqual validate`` and ``servqual report`` on the survey; every CSV they wrote."""
    inst, data = tiny(tmp_path, csv=csv_text)
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "r.html"
    result = invoke("report", data, "--instrument", inst, "--out", out, *report_args)
    assert result.exit_code == 0, result.output
    paths = sorted(tmp_path.rglob("*.csv"))
    paths.remove(data)
    assert [p.name for p in paths] == ["2026Q3.rejected.csv", "r.rejected.csv"]
    return paths


def plain_number(text: str) -> bool:
    """A number as typed, full-width digits and signs included."""
    return PLAIN_NUMBER.match(unicodedata.normalize("NFKC", text)) is not None


def assert_inert(cell: str) -> None:
    assert not cell.startswith(TRIGGERS) or plain_number(cell), repr(cell)


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_formula_in_quarantine_csv_is_neutralised(tmp_path, engine):
    for path in written_csvs(tmp_path, survey(hostile_rows()), "--engine", engine):
        rows = read(path)
        for row in rows:
            for name, cell in row.items():
                assert_inert(name)
                assert_inert(cell)
        by_id = {row["id"]: row for row in rows}
        for payload in PAYLOADS:  # nothing lost: the payload follows the quote
            row = by_id["'" + payload]
            assert row["region"] == row["E1"] == row["value"] == "'" + payload
            assert row["reason"] == "non_numeric" and row["column"] == "E1"


def test_plain_numbers_in_quarantine_are_not_prefixed(tmp_path):
    for path in written_csvs(tmp_path, survey(hostile_rows())):
        by_id = {row["id"]: row for row in read(path)}
        for k, number in enumerate(NUMBERS):
            row = by_id[f"n{k}"]
            assert row["reason"] == "out_of_scale"
            assert row["value"] == row["E1"] == number


def test_numeric_columns_stay_numbers(tmp_path):
    csv_text = survey(hostile_rows() + [["r1", "East", 4, 5, 3, 3, 5, 4]])  # a duplicate
    for path in written_csvs(tmp_path, csv_text):
        rows = read(path)
        assert {row["reason"] for row in rows} >= {"duplicate_respondent", "non_numeric"}
        for row in rows:
            assert re.fullmatch(r"\d+", row["source_row"])
            assert re.fullmatch(r"\d*", row["duplicate_of"])
            for column in ("E2", "E3", "P1", "P2", "P3"):
                assert re.fullmatch(r"\d", row[column]), row
        duplicate = next(row for row in rows if row["reason"] == "duplicate_respondent")
        assert duplicate["duplicate_of"] == "2"


def test_formula_in_header_is_neutralised(tmp_path):
    for path in written_csvs(tmp_path, survey(hostile_rows(), extra_column=HEADER_PAYLOAD)):
        header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        assert "'" + HEADER_PAYLOAD in header and HEADER_PAYLOAD not in header


def test_formula_in_excel_quarantine_is_neutralised(tmp_path):
    """A workbook's column of numbers and text: the text is neutralised, the numbers (and a
    number typed as text) are written as they are."""
    import openpyxl

    payloads = [p for p in PAYLOADS if not p.startswith("\r")]  # XML reads a CR as LF

    book = openpyxl.Workbook()
    sheet = book.active
    rows = list(csv.reader(io.StringIO(TINY_CSV)))
    rows = [rows[0]] + [[int(v) if v.isdigit() else v or None for v in row] for row in rows[1:]]
    rows += [[p, p, p, 5, 3, 3, 5, 4] for p in payloads] + [["n0", "West", "-5", 5, 3, 3, 5, 4]]
    rows += [["n1", "West", 7, 5, 3, 3, 5, 4]]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text as typed, not a formula of the workbook
    data = tmp_path / "2026Q3.xlsx"
    book.save(data)
    inst, _ = tiny(tmp_path)
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 0, result.output
    by_id = {row["id"]: row for row in read(tmp_path / "2026Q3.rejected.csv")}
    for payload in payloads:
        row = by_id["'" + payload]
        assert row["region"] == row["E1"] == row["value"] == "'" + payload
    assert by_id["n0"]["E1"] == by_id["n0"]["value"] == "-5"
    assert by_id["n1"]["E1"] == "7" and by_id["n1"]["reason"] == "out_of_scale"
    assert by_id["n1"]["P3"] == "4"


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_huge_cell_is_cut_with_marker_and_length(tmp_path, engine):
    csv_text = survey([["r9", "East", BLOB, 5, 3, 3, 5, 4]])
    for path in written_csvs(tmp_path, csv_text, "--engine", engine):
        assert path.stat().st_size < 2 * 100_000  # two such cells: value and E1
        [row] = read(path)
        for cell in (row["value"], row["E1"]):
            assert len(cell) <= CSV_CELL_CHARS
            assert cell.startswith("'=xxxx") and cell.endswith(MARKER)


def test_huge_cell_in_error_message_is_short(tmp_path):
    # The first data row has text in every answer column, later rows numbers: servqual takes
    # it for a second header row and quotes its first answer cell.
    csv_text = survey([])
    lines = csv_text.splitlines()
    first = f'r0,East,"{BLOB}",b,c,d,e,f'
    inst, data = tiny(tmp_path, csv="\n".join([lines[0], first, *lines[1:]]) + "\n")
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    assert "another header row" in result.output and MARKER in result.output
    assert len(result.output) < 2 * MESSAGE_CELL_CHARS + 500


def test_huge_complaint_category_in_error_message_is_short(tmp_path):
    inst, data = tiny(tmp_path)
    write(tmp_path / "complaint_categories.toml", '[categories]\n"late" = "alpha"\n')
    log = write(tmp_path / "c.csv", f"wave,category\n2026Q3,late\n2026Q3,x{BLOB[1:]}\n")
    result = invoke("report", data, "--instrument", inst, "--complaints", log,
                    "--out", tmp_path / "r.html")
    assert result.exit_code == 65, result.output
    assert "unknown complaint category" in result.output and MARKER in result.output
    assert len(result.output) < 2 * MESSAGE_CELL_CHARS + 500


def test_huge_wave_label_on_the_terminal_is_short(tmp_path):
    inst = write(tmp_path / "instrument.toml",
                 replace_in_instrument("segments", 'wave = "wave"\nsegments'))
    wave = "w" * 50_000  # every stored table holds the label: 5 MB would take long
    data = write(tmp_path / "f.csv", "id,wave,region,E1,E2,E3,P1,P2,P3\n"
                 f"r1,{wave},East,4,5,3,3,5,4\nr2,{wave},West,5,4,2,2,3,2\n")
    result = invoke("ingest", data, "--instrument", inst, "--store", tmp_path / "s.duckdb")
    assert result.exit_code == 0, result.output
    assert "added wave" in result.output
    assert "…[truncated: 50,000 characters in all]" in result.output.replace("\n", "")
    assert len(result.output) < 2_000


def test_huge_segment_value_listed_by_trend_is_short(tmp_path):
    region = "r" * 50_000
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("West", region))
    store = tmp_path / "s.duckdb"
    result = invoke("ingest", data, "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    result = invoke("trend", "--store", store, "--segment", "region=Mars")
    assert result.exit_code == 2, result.output  # an unknown option value: a usage error
    assert "the history store knows: East, rrr" in result.output
    assert len(result.output) < 2_000


def test_huge_split_value_skipped_on_the_terminal_is_short(tmp_path):
    region = "r" * 50_000  # one respondent: fewer than min_cell, no report for it
    inst, data = tiny(tmp_path, csv=TINY_CSV + f"r5,{region},4,5,3,3,5,4\n",
                      instrument=replace_in_instrument("min_cell = 1", "min_cell = 2"))
    result = invoke("report", data, "--instrument", inst, "--split-by", "region",
                    "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "no report for region =" in result.output
    # The value is shortened once, as the rows are read, to the label every output shows.
    from servqual.celltext import bound_label

    assert bound_label(region) in result.output.replace("\n", "")
    assert len(result.output) < 2_000


def test_bounded_marks_the_cut_with_the_original_length():
    assert bounded("short") == "short"
    cut = bounded("y" * 1000, 100)
    assert len(cut) == 100 and cut.startswith("y") and cut.endswith(
        "…[truncated: 1,000 characters in all]")


long_texts = st.builds(lambda piece, times: piece * times,
                       st.text(min_size=1, max_size=3), st.integers(1, 3 * CSV_CELL_CHARS))
text_cells = (st.text()  # any text, control characters included
              | st.builds(lambda first, rest: first + rest, st.sampled_from(TRIGGERS), st.text())
              | st.from_regex(PLAIN_NUMBER, fullmatch=True)
              | long_texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(texts=st.lists(text_cells, min_size=1, max_size=8),
       numbers=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=8,
                        max_size=8),
       integers=st.lists(st.integers(-2**62, 2**62), min_size=8, max_size=8))
def test_written_cells_are_the_original_quoted_or_marked_cut(tmp_path_factory, texts,
                                                             numbers, integers):
    n = len(texts)
    frame = pd.DataFrame({"text": pd.Series(texts, dtype="string"),
                          "number": numbers[:n], "integer": integers[:n]})
    dest = tmp_path_factory.mktemp("csv") / "out.csv"
    with OutputSet() as outputs:
        outputs.write_csv(dest, frame)
    rows = read(dest)
    assert len(rows) == n
    for text, number, integer, row in zip(texts, numbers, integers, rows):
        cell = row["text"]
        assert float(row["number"]) == number and int(row["integer"]) == integer
        if len(text) > CSV_CELL_CHARS - 1:
            marker = f"…[truncated: {len(text):,} characters in all]"
            assert cell.endswith(marker) and len(cell) <= CSV_CELL_CHARS
            start = cell[:-len(marker)]
            assert start in (text[:len(start)], "'" + text[:len(start) - 1])
        elif text.startswith(TRIGGERS) and not plain_number(text):
            assert cell == "'" + text
        else:
            assert cell == text
