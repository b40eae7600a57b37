"""Reading files as analysts receive them: encodings, delimiters, platform layouts, Excel,
SPSS, column order, header rows, and bad files (exit 65 / 66 with file, row and column)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fixtures import (TINY_CSV, TINY_INSTRUMENT, TINY_ROWS, cells, replace_in_instrument, tiny,
                      tiny_frame, write, write_sav, write_xlsx)
from servqual.cli import app
from servqual.errors import DataError, InputFileError
from servqual.ingest import read_table
from servqual.instrument import load_instrument
from fixtures import check_files, run_and_check

CHINESE = TINY_CSV.replace("East", "华东").replace("West", "华西")
TINY_E = np.array([[4, 5, 3], [5, 4, 2], [3, np.nan, 5], [np.nan, 4, 4]])
TINY_P = np.array([[3, 5, 4], [2, 3, 2], [4, 4, 5], [5, 2, 1]], dtype=float)


def setting(line: str) -> str:
    """The tiny instrument with one more [instrument] key."""
    return replace_in_instrument('segments = ["region"]', f'segments = ["region"]\n{line}')


def validate_file(tmp_path, data: bytes, name="2026Q3.csv", instrument=TINY_INSTRUMENT):
    inst = write(tmp_path / "instrument.toml", instrument)
    path = tmp_path / name
    path.write_bytes(data)
    return check_files([path], load_instrument(inst))


def assert_tiny(validated, regions=("East", "East", "West", "West"), segment="region"):
    """The tiny survey came through whole: same answers, labels and accounting."""
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined, q.answers_missing) == (4, 4, 0, 2)
    np.testing.assert_array_equal(validated.responses.expectation, TINY_E)
    np.testing.assert_array_equal(validated.responses.perception, TINY_P)
    assert list(validated.responses.meta["respondent_id"]) == ["r1", "r2", "r3", "r4"]
    assert list(validated.responses.meta[segment].astype(str)) == list(regions)


# --------------------------------------------------------------------------------------------
# Encodings


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_chinese_text_in_any_common_encoding_is_detected(tmp_path, encoding):
    validated = validate_file(tmp_path, CHINESE.encode(encoding))
    assert_tiny(validated, regions=("华东", "华东", "华西", "华西"))


def test_western_legacy_encoding_is_detected(tmp_path):
    text = TINY_CSV.replace("East", "Österreich").replace("West", "Würzburg")
    validated = validate_file(tmp_path, text.encode("cp1252"))
    assert_tiny(validated, regions=("Österreich", "Österreich", "Würzburg", "Würzburg"))


def test_legacy_bytes_after_a_long_ascii_start_are_still_detected(tmp_path):
    # The first 64 KiB are plain ASCII: the sample says UTF-8, the bytes further on do not.
    # (One word alone, 华南, is two common characters in Big5 too: too little to tell by.)
    filler = "".join(f"x{i},East,4,4,4,4,4,4\n" for i in range(4000))
    text = TINY_CSV + filler + "z0,西北,1,1,1,1,1,1\nz1,华南,1,1,1,1,1,1\n"
    validated = validate_file(tmp_path, text.encode("gb18030"))
    assert validated.quality.rows_valid == 4 + 4000 + 2
    assert validated.responses.meta["region"].astype(str).iloc[-1] == "华南"
    assert validated.quality.files[0]["encoding"] == "gb18030"


def test_explicit_encoding_always_wins(tmp_path):
    latin = setting('encoding = "latin-1"')
    validated = validate_file(tmp_path, CHINESE.encode("utf-8"), instrument=latin)
    # Read as Latin-1 on purpose: every byte decodes, the labels are mojibake.
    mojibake = "华东".encode().decode("latin-1")
    assert validated.responses.meta["region"].astype(str).iloc[0] == mojibake


def test_explicit_wrong_encoding_is_a_data_error_naming_the_line(tmp_path):
    utf8 = setting('encoding = "utf-8"')
    with pytest.raises(DataError) as info:
        validate_file(tmp_path, CHINESE.encode("gb18030"), instrument=utf8)
    assert info.value.exit_code == 65
    assert "line 2" in str(info.value) and "2026Q3.csv" in str(info.value)


def test_unknown_encoding_name_is_an_instrument_mistake(tmp_path):
    bad = setting('encoding = "klingon"')
    with pytest.raises(DataError, match="klingon"):
        validate_file(tmp_path, TINY_CSV.encode(), instrument=bad)


# --------------------------------------------------------------------------------------------
# Delimiters, quotes, blank lines, row numbers


@pytest.mark.parametrize("delimiter,name", [(",", "2026Q3.csv"), (";", "2026Q3.csv"),
                                            ("\t", "2026Q3.tsv"), ("\t", "2026Q3.txt")])
def test_delimiter_is_sniffed(tmp_path, delimiter, name):
    validated = validate_file(tmp_path, TINY_CSV.replace(",", delimiter).encode(), name=name)
    assert_tiny(validated)


def test_limesurvey_export_bom_semicolons_and_quotes(tmp_path):
    lines = ['"' + '";"'.join(row) + '"' for row in TINY_ROWS]
    validated = validate_file(tmp_path, ("\ufeff" + "\n".join(lines) + "\n").encode())
    assert_tiny(validated)
    assert validated.quality.files[0]["encoding"] == "utf-8-sig"


def test_line_breaks_inside_quoted_values_keep_spreadsheet_row_numbers(tmp_path):
    instrument = TINY_INSTRUMENT
    text = ("id,region,comment,E1,E2,E3,P1,P2,P3\n"
            'r1,East,"two\nlines",4,5,3,3,5,4\n'
            "r2,East,,5,4,2,2,3,8\n")
    validated = validate_file(tmp_path, text.encode(), instrument=instrument)
    quarantine = validated.quarantine
    assert list(quarantine["source_row"]) == [3]  # r2 is the third row in a spreadsheet
    assert validated.responses.meta["source_row"].tolist() == [2]


def test_blank_lines_are_rows_and_do_not_shift_row_numbers(tmp_path):
    lines = TINY_CSV.splitlines()
    text = "\n".join(lines[:3] + [""] + lines[3:]) + "\n\n\n"  # a blank line after r2
    validated = validate_file(tmp_path, text.encode())
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (5, 4, 1)
    assert validated.quarantine.loc[0, "source_row"] == 4
    assert validated.quarantine.loc[0, "reason"] == "missing_respondent_id"
    assert validated.responses.meta["source_row"].tolist() == [2, 3, 5, 6]  # trailing: none


def test_row_with_too_many_fields_is_unparseable_with_its_row_number(tmp_path):
    validated = validate_file(tmp_path, (TINY_CSV + "r5,East,1,2,3,4,5,1,9\n").encode())
    row = validated.quarantine.iloc[0]
    assert (row["reason"], row["source_row"], row["value"]) == (
        "unparseable", 6, "r5,East,1,2,3,4,5,1,9")


# --------------------------------------------------------------------------------------------
# Columns: any order, extra columns, long question texts


def test_any_column_order_extra_columns_and_long_question_texts(tmp_path):
    texts = {"E1": "Q1. Staff appearance —\nexpected", "P1": "Q1. Staff appearance — perceived",
             "E2": "Q2 (期望)", "P2": "Q2 (感受)", "E3": "E3", "P3": "P3"}
    instrument = TINY_INSTRUMENT
    for column, text in texts.items():
        instrument = replace_in_instrument(f'"{column}"', repr(" ".join(text.split())).replace(
            "'", '"'), instrument)
    frame = tiny_frame()
    # Interleaved pairs, items out of order, unrelated columns, header whitespace and case
    # as another export wrote it.
    order = ["P3", "E3", "note", "region", "P1", "E1", "id", "E2", "P2", "score"]
    frame["note"], frame["score"] = "x", 42
    header = {c: texts.get(c, c) for c in order}
    header["E2"] = "q2 （期望）"
    out = frame[order].rename(columns=header)
    path = tmp_path / "2026Q3.csv"
    out.to_csv(path, index=False)
    inst = write(tmp_path / "i.toml", instrument)
    assert_tiny(check_files([path], load_instrument(inst)))


def test_missing_column_names_the_closest_and_the_header_row(tmp_path):
    with pytest.raises(DataError) as info:
        validate_file(tmp_path, ("\n\n" + TINY_CSV.replace("P3", "P_3")).encode())
    assert info.value.column == "P3" and info.value.row == 3  # two blank lines, then the header
    assert "'P_3'" in str(info.value)


def test_many_missing_columns_are_counted_shown_with_their_closest_names_and_advised(tmp_path):
    renamed = TINY_CSV.replace("E1,E2,E3,P1,P2,P3", "e_1,e_2,e_3,p_1,p_2,p_3", 1)
    with pytest.raises(DataError) as info:
        validate_file(tmp_path, renamed.encode())
    message = str(info.value)
    assert "6 of the 8 columns the instrument names are not in the file" in message
    assert "'E1' (the expectation of item i1, items[0].expectation; closest: 'e_1')" in message
    assert "'P1' (the perception of item i1, items[0].perception; closest: 'p_1')" in message
    assert "and 3 more" in message and "'P2'" not in message
    assert ". Most of the instrument's columns are missing" in message
    assert info.value.column == "E1" and info.value.key == "items[0].expectation"


@pytest.mark.parametrize("header, advice", [
    ("1,2,3,4,5,6,7,8", "the header row holds numbers"),
    ("id#region#E1#E2#E3#P1#P2#P3", "the delimiter"),
    (",,,,,,,", "a title row may stand above the header"),
])
def test_a_header_that_looks_wrong_gets_advice(tmp_path, header, advice):
    lines = TINY_CSV.splitlines()
    with pytest.raises(DataError, match="(?i)" + advice):
        validate_file(tmp_path, ("\n".join([header] + lines[1:]) + "\n").encode())


def test_a_mis_decoded_header_suggests_the_encoding(tmp_path):
    chinese = {"E1": "期望1", "E2": "期望2", "E3": "期望3", "P1": "感知1", "P2": "感知2",
               "P3": "感知3"}
    instrument, data = TINY_INSTRUMENT.replace('respondent_id = "id"', 'respondent_id = "id"\n'
                                               'encoding = "latin-1"'), TINY_CSV
    for old, new in chinese.items():
        instrument = instrument.replace(f'"{old}"', f'"{new}"')
        data = data.replace(old, new, 1)
    with pytest.raises(DataError, match="(?i)set encoding in \\[instrument\\]"):
        validate_file(tmp_path, data.encode("utf-8"), instrument=instrument)


def test_duplicated_header_name_of_a_used_column_is_ambiguous(tmp_path):
    text = TINY_CSV.replace("region,E1", "E1,E1", 1)
    with pytest.raises(DataError, match="more than once"):
        validate_file(tmp_path, text.encode(), instrument=replace_in_instrument(
            'segments = ["region"]', "segments = []"))


# --------------------------------------------------------------------------------------------
# Survey platforms and header rows


QUALTRICS_HEADER = (
    "id,region,E1,E2,E3,P1,P2,P3\n"
    '"Response ID","Region","Staff appearance, expected","Equipment\nexpected","Q3 E",'
    '"Staff appearance, perceived","Equipment perceived","Q3 P"\n'
    '"{""ImportId"":""_recordId""}","{""ImportId"":""QID2""}","{""ImportId"":""QID3_1""}",'
    '"{""ImportId"":""QID3_2""}","{""ImportId"":""QID3_3""}","{""ImportId"":""QID4_1""}",'
    '"{""ImportId"":""QID4_2""}","{""ImportId"":""QID4_3""}"\n'
)


def qualtrics(header_rows: int) -> str:
    return setting(f"header_rows = {header_rows}")


def test_qualtrics_three_header_rows_and_its_minus_99(tmp_path):
    body = "\n".join(TINY_CSV.splitlines()[1:]).replace("r2,East,5,4,2", "r2,East,5,4,-99")
    validated = validate_file(tmp_path, ("\ufeff" + QUALTRICS_HEADER + body + "\n").encode(),
                              instrument=qualtrics(3))
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.answers_missing) == (4, 4, 3)  # -99: not answered
    assert np.isnan(validated.responses.expectation[1, 2])
    assert validated.responses.meta["source_row"].tolist() == [4, 5, 6, 7]
    assert q.files[0]["platform"] == "qualtrics"


def test_qualtrics_import_ids_with_single_quotes_are_recognised(tmp_path):
    # Some exports (and spreadsheets re-saving them) write {'ImportId': 'QID1'}: the same
    # platform, with its -99 "not answered".
    header = QUALTRICS_HEADER.replace('""', "'").replace("'ImportId':", "'ImportId': ")
    assert "{'ImportId': 'QID2'}" in header
    body = "\n".join(TINY_CSV.splitlines()[1:]).replace("r2,East,5,4,2", "r2,East,5,4,-99")
    validated = validate_file(tmp_path, (header + body + "\n").encode(), instrument=qualtrics(3))
    assert validated.quality.files[0]["platform"] == "qualtrics"
    assert validated.quality.answers_missing == 3
    from servqual.ingest.table import is_import_id

    assert not any(is_import_id(c) for c in ("{ImportId}", "{'ImportId'", "{'a': 1}",
                                               "{'ImportId' 1}", "ImportId"))


def test_qualtrics_export_read_with_one_header_row_says_how_many(tmp_path):
    body = "\n".join(TINY_CSV.splitlines()[1:]) + "\n"
    with pytest.raises(DataError) as info:
        validate_file(tmp_path, (QUALTRICS_HEADER + body).encode(), instrument=qualtrics(1))
    assert info.value.row == 2 and "header_rows = 3" in str(info.value)


def test_header_rows_more_than_the_file_has_says_how_many(tmp_path):
    with pytest.raises(DataError) as info:
        validate_file(tmp_path, TINY_CSV.encode(), instrument=qualtrics(2))
    assert info.value.row == 2 and "header_rows = 1" in str(info.value)


def test_file_shorter_than_its_header_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="fewer than header_rows"):
        validate_file(tmp_path, b"id,region,E1,E2,E3,P1,P2,P3\n", instrument=qualtrics(3))


def test_surveymonkey_two_header_rows_with_merged_matrix_cells(tmp_path):
    # Row 1 holds a matrix question once, over blank (merged) cells; row 2 names its rows.
    header = ("Respondent ID,Region,How did we do? (expected),,,How did we do? (perceived),,\n"
              ",,Appearance E,Equipment E,Manner E,Appearance P,Equipment P,Manner P\n")
    instrument = TINY_INSTRUMENT.replace('"id"', '"Respondent ID"').replace(
        '["region"]', '["Region"]\nheader_rows = 2')
    for old, new in [("E1", "How did we do? (expected)"), ("E2", "Equipment E"),
                     ("E3", "Manner E"), ("P1", "How did we do? (perceived)"),
                     ("P2", "Equipment P"), ("P3", "Manner P")]:
        instrument = instrument.replace(f'"{old}"', f'"{new}"')
    body = "\n".join(TINY_CSV.splitlines()[1:]) + "\n"
    assert_tiny(validate_file(tmp_path, (header + body).encode(), instrument=instrument),
                segment="Region")


def test_wenjuanxing_numeric_export_placeholders_are_missing(tmp_path):
    header = "序号,提交答卷时间,所用时间,id,region,E1,E2,E3,P1,P2,P3\n"
    body = "".join(f"{n},2026/9/1 10:00:00,120秒,{line}\n"
                   for n, line in enumerate(TINY_CSV.splitlines()[1:], start=1))
    body = body.replace("r1,East,4,5,3,3,5,4", "r1,East,4,-3,3,3,-2,4")
    validated = validate_file(tmp_path, body.join([header, ""]).encode("gb18030"))
    q = validated.quality
    assert (q.rows_valid, q.rows_quarantined, q.answers_missing) == (4, 0, 4)
    assert np.isnan(validated.responses.expectation[0, 1])
    assert q.files[0]["platform"] == "wenjuanxing"


def test_platform_placeholders_are_out_of_scale_in_other_files(tmp_path):
    validated = validate_file(tmp_path, TINY_CSV.replace("r1,East,4,5", "r1,East,4,-3").encode())
    assert validated.quarantine.loc[0, "reason"] == "out_of_scale"


# --------------------------------------------------------------------------------------------
# Excel


def test_xlsx_first_sheet_with_blank_rows_above_the_header(tmp_path):
    path = write_xlsx(tmp_path / "2026Q3.xlsx", cells(TINY_ROWS), first_row=3)
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    validated = check_files([path], load_instrument(inst))
    assert_tiny(validated)
    assert validated.responses.meta["source_row"].tolist() == [4, 5, 6, 7]  # as Excel shows


def test_xlsx_named_sheet_dates_as_waves_and_numeric_ids(tmp_path):
    import datetime as dt

    rows = cells(TINY_ROWS)
    rows[0].append("wave")
    for n, row in enumerate(rows[1:], start=1):
        row[0] = 1000 + n
        row.append(dt.datetime(2026, 7, 1) if n < 3 else dt.datetime(2026, 4, 1))
    rows[2][5] = 9.0  # P1 as a float, a missing code
    path = write_xlsx(tmp_path / "waves.xlsx", rows, sheet="Antworten", extra_sheets=("Info",))
    instrument = setting('wave = "wave"\nsheet = "Antworten"')
    inst = write(tmp_path / "i.toml", instrument)
    validated = check_files([path], load_instrument(inst))
    meta = validated.responses.meta
    assert list(meta["respondent_id"]) == ["1001", "1002", "1003", "1004"]
    assert list(meta["wave"].astype(str)) == ["2026-07-01"] * 2 + ["2026-04-01"] * 2
    assert np.isnan(validated.responses.perception[1, 0])


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path):
    path = write_xlsx(tmp_path / "2026Q3.xlsx", cells(TINY_ROWS), extra_sheets=("Info",))
    instrument = setting('sheet = "Sheet 1"')
    inst = write(tmp_path / "i.toml", instrument)
    with pytest.raises(DataError) as info:
        check_files([path], load_instrument(inst))
    assert "'Sheet1'" in str(info.value) and info.value.key == "instrument.sheet"


def soffice() -> str:
    """LibreOffice, the maintained way to write a real .xls (no Python library writes BIFF8
    any more: xlwt is unmaintained). Required on CI, which installs it (.ci/run)."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is required on CI to write .xls fixtures")
        pytest.skip("LibreOffice (soffice) is not installed")
    return path


def test_xls_workbook(tmp_path):
    source = write_xlsx(tmp_path / "src" / "2026Q3.xlsx", cells(TINY_ROWS))
    subprocess.run([soffice(), "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "xls", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=120)
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    validated = check_files([tmp_path / "2026Q3.xls"], load_instrument(inst))
    assert_tiny(validated)
    assert validated.quality.files[0]["kind"] == "xls"


# --------------------------------------------------------------------------------------------
# SPSS


def test_sav_codes_and_user_missing_values(tmp_path):
    frame = tiny_frame()
    frame.loc[0, "P2"] = 8  # declared user-missing below: not an answer
    frame["id"] = [101.0, 102.0, 103.0, 104.0]  # SPSS ids are often numeric
    path = write_sav(tmp_path / "2026Q3.sav", frame, missing={"P2": [8]})
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    validated = check_files([path], load_instrument(inst))
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.answers_missing) == (4, 4, 3)
    assert np.isnan(validated.responses.perception[0, 1])
    assert list(validated.responses.meta["respondent_id"]) == ["101", "102", "103", "104"]
    assert validated.responses.meta["source_row"].tolist() == [1, 2, 3, 4]  # case numbers


def test_sav_without_the_declaration_the_code_is_out_of_scale(tmp_path):
    frame = tiny_frame()
    frame.loc[0, "P2"] = 8
    path = write_sav(tmp_path / "2026Q3.sav", frame)
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    validated = check_files([path], load_instrument(inst))
    row = validated.quarantine.iloc[0]
    assert (row["reason"], row["column"], row["source_row"]) == ("out_of_scale", "P2", 1)


# --------------------------------------------------------------------------------------------
# Waves and scales


def test_several_waves_in_one_file_via_the_wave_column(tmp_path):
    instrument = setting('wave = "wave"')
    lines = TINY_CSV.splitlines()
    text = "wave," + lines[0] + "\n" + "".join(
        f"{w},{line}\n" for w in ("2026Q2", "2026Q3") for line in lines[1:])
    inst, data = tiny(tmp_path, csv=text, name="all.csv", instrument=instrument)
    results, validated = run_and_check([data], load_instrument(inst))
    assert results.waves == ["2026Q2", "2026Q3"] and validated.quality.rows_valid == 8


def test_ten_point_scale_with_a_reverse_scored_item(tmp_path):
    instrument = TINY_INSTRUMENT.replace("scale_max = 5", "scale_max = 10").replace(
        "missing_codes = [9]", "missing_codes = [99]").replace(
        'perception = "P3"', 'perception = "P3"\nreverse = true')
    text = TINY_CSV.replace(",9,", ",10,")
    validated = validate_file(tmp_path, text.encode(), instrument=instrument)
    assert validated.responses.expectation[3, 0] == 10
    assert validated.responses.expectation[0, 2] == 1 + 10 - 3  # reverse-scored
    assert validated.responses.perception[3, 2] == 1 + 10 - 1


# --------------------------------------------------------------------------------------------
# Bad files: a clear message, exit 65 (66: cannot be read), no traceback


def xlsx_bytes(tmp_path) -> bytes:
    return write_xlsx(tmp_path / "source" / "x.xlsx", cells(TINY_ROWS)).read_bytes()


@pytest.mark.parametrize("name,content,message", [
    ("2026Q3.xlsx", lambda t: TINY_CSV.encode(), "holds text"),
    ("2026Q3.xls", lambda t: TINY_CSV.encode(), "holds text"),
    ("2026Q3.xls", lambda t: b"<html><body><table><tr><td>1</td></tr></table>", "web page"),
    ("2026Q3.csv", xlsx_bytes, "Excel workbook"),
    ("2026Q3.xlsx", lambda t: xlsx_bytes(t)[:700], "damaged or truncated"),
    ("2026Q3.sav", lambda t: b"$FL2 not really spss" + bytes(200), "SPSS"),
    ("2026Q3.xlsx", lambda t: b"", "empty"),
    ("2026Q3.csv", lambda t: b"  \n\n", "empty"),
    ("2026Q3.json", lambda t: b"{}", "unsupported file type"),
])
def test_bad_files_exit_65_with_a_message_naming_the_file(tmp_path, name, content, message):
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    result = CliRunner().invoke(app, ["validate", str(path), "--instrument", str(inst)])
    assert result.exit_code == 65, result.output
    assert message in result.output and name in result.output
    assert "Traceback" not in result.output


def test_a_directory_is_not_a_survey_file(tmp_path):
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    (tmp_path / "2026Q3.csv").mkdir()
    with pytest.raises(InputFileError):
        read_table(tmp_path / "2026Q3.csv", load_instrument(inst))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_exits_66(tmp_path):
    inst, data = tiny(tmp_path)
    data.chmod(0)
    try:
        result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(inst)])
    finally:
        data.chmod(0o600)
    assert result.exit_code == 66 and "cannot be read" in result.output


def test_quarantine_keeps_blank_and_repeated_header_names_apart(tmp_path):
    text = ("id,region,,note,note,E1,E2,E3,P1,P2,P3\n"
            "r1,East,x,a,b,4,5,3,3,5,7\n"
            "r2,East,x,a,b,5,4,2,2,3,2\n")
    validated = validate_file(tmp_path, text.encode())
    own = validated.quarantine_of(str(tmp_path / "2026Q3.csv"))
    assert list(own.columns[6:]) == ["id", "region", "(column 3)", "note", "note (2)", "E1", "E2",
                                     "E3", "P1", "P2", "P3"]
    assert own.loc[0, "P3"] == 7 and own.loc[0, "note (2)"] == "b"


def test_whole_file_round_trips_through_the_cli_in_gb18030(tmp_path):
    inst, _ = tiny(tmp_path)
    data = tmp_path / "2026Q3.csv"
    data.write_bytes((CHINESE + "r9,华东,4,4,4,4,4,6\n").encode("gb18030"))
    result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(inst)])
    assert result.exit_code == 0, result.output
    assert "rows_read 5 = rows_valid 4 + rows_quarantined 1" in result.output
    rejected = pd.read_csv(tmp_path / "2026Q3.rejected.csv", encoding="utf-8-sig")
    assert rejected.loc[0, "region"] == "华东" and rejected.loc[0, "reason"] == "out_of_scale"
