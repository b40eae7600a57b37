"""Delimited text as real files come: legacy encodings told by how plausible their text
reads (or a clean stop naming the candidates), a stray quote that must not swallow the rest
of the file, and CR-only or mixed line endings. Each test drives the command line."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, ROOT
from fixtures import TINY_INSTRUMENT, replace_in_instrument, write
from servqual.cli import app
from servqual.ingest import read_table
from servqual.instrument import load_instrument

SAMPLE_WAVE = ROOT / "surveys" / "sample" / "2025Q4.csv"
HEADER = "id,region,E1,E2,E3,P1,P2,P3"


def validate(*args: str):
    return CliRunner().invoke(app, ["validate", *map(str, args)])


def survey(tmp_path: Path, regions: list[str], encoding: str, name: str = "2026Q3.csv",
           instrument: str = TINY_INSTRUMENT) -> tuple[Path, Path]:
    """The tiny instrument and a wave with one respondent per region (the last one out of
    scale, so that the quarantine shows its region as read), saved in ``encoding``."""
    inst = write(tmp_path / "instrument.toml", instrument)
    rows = [f"r{n},{region},4,5,3,3,5,4" for n, region in enumerate(regions)]
    rows[-1] = rows[-1][:-1] + "8"
    data = tmp_path / name
    data.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return inst, data


def regions_read(inst: Path, data: Path) -> list[str]:
    raw = read_table(data, load_instrument(inst))
    return raw.frame["region"].astype(str).tolist()


def quarantined(out_dir: Path, data: Path) -> pd.DataFrame:
    return pd.read_csv(out_dir / f"{data.stem}.rejected.csv", encoding="utf-8-sig",
                       dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------
# Encodings


def test_sample_wave_saved_as_gbk_is_not_read_as_thai(tmp_path):
    # Excel on Chinese Windows saves CSV in GBK: the segment values (核心, 面谈 …) must come
    # through exactly as in the UTF-8 original, not as cp874 mojibake.
    gbk = tmp_path / "gbk" / SAMPLE_WAVE.name
    gbk.parent.mkdir()
    gbk.write_bytes(SAMPLE_WAVE.read_text(encoding="utf-8").encode("gbk"))
    utf8_out, gbk_out = tmp_path / "utf8-out", tmp_path / "gbk-out"
    assert validate(SAMPLE_WAVE, "--instrument", INSTRUMENT, "--out-dir", utf8_out).exit_code == 0
    result = validate(gbk, "--instrument", INSTRUMENT, "--out-dir", gbk_out)
    assert result.exit_code == 0, result.output
    assert "rows_read 1484 = rows_valid 1476 + rows_quarantined 8" in result.output
    want, got = quarantined(utf8_out, SAMPLE_WAVE), quarantined(gbk_out, gbk)
    pd.testing.assert_frame_equal(got.drop(columns="source_file"),
                                  want.drop(columns="source_file"))
    assert {"重要", "常规"} <= set(got["customer_class"])
    instrument = load_instrument(INSTRUMENT)
    original = read_table(SAMPLE_WAVE, instrument).frame
    read = read_table(gbk, instrument)
    assert read.encoding == "gb18030"
    for column in ("customer_class", "region", "survey_mode"):
        assert read.frame[column].astype(str).tolist() == original[column].astype(str).tolist()
    assert set(read.frame["survey_mode"].astype(str)) >= {"面谈", "电话", "网络"}


@pytest.mark.parametrize("encoding,regions", [
    ("big5", ["臺北市", "新竹縣", "高雄市", "臺中市", "桃園市", "面談", "電話", "網路"]),
    ("cp949", ["서울", "부산", "대구", "인천", "광주", "대면", "전화", "온라인"]),
    ("cp932", ["東京都", "大阪府", "名古屋", "福岡県", "対面", "電話", "ウェブ"]),
    ("cp1252", ["Zürich", "Café", "Crème", "Genève", "Malmö"]),
])
def test_legacy_code_page_is_told_by_its_text(tmp_path, encoding, regions):
    inst, data = survey(tmp_path, regions, encoding)
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    n = len(regions)
    assert f"rows_read {n} = rows_valid {n - 1} + rows_quarantined 1" in result.output
    assert quarantined(out, data).loc[0, "region"] == regions[-1]
    assert regions_read(inst, data) == regions


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_or_without_byte_order_mark_is_read(tmp_path, encoding):
    regions = ["华东", "华南", "Zürich", "서울", "West"]
    inst, data = survey(tmp_path, regions, encoding)
    if encoding != "utf-16":
        assert not data.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "rows_read 5 = rows_valid 4 + rows_quarantined 1" in result.output
    assert regions_read(inst, data) == regions


def test_too_little_evidence_to_tell_the_encoding_stops_naming_the_candidates(tmp_path):
    # 华南 in GBK is also two common characters in Big5 (貌鰍): one word cannot decide.
    inst, data = survey(tmp_path, ["East", "华南"], "gbk")
    result = validate(data, "--instrument", inst, "--out-dir", tmp_path / "out")
    assert result.exit_code == 65, result.output
    message = " ".join(result.output.split())
    assert str(data.name) in message and "encoding" in message
    assert "gb18030" in message and "big5" in message
    assert 'set encoding = "gb18030" in [instrument]' in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # Named in the instrument, the file is read.
    named = replace_in_instrument('segments = ["region"]',
                                  'segments = ["region"]\nencoding = "gb18030"')
    write(inst, named)
    assert regions_read(inst, data) == ["East", "华南"]


def test_bytes_that_read_as_no_plausible_text_stop_the_run(tmp_path):
    rng = random.Random(7)
    noise = [bytes(rng.choice(range(0x80, 0x100)) for _ in range(9)) for _ in range(6)]
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = tmp_path / "2026Q3.csv"
    data.write_bytes(HEADER.encode() + b"\n" + b"".join(
        b"r%d,%s,4,5,3,3,5,4\n" % (n, word) for n, word in enumerate(noise)))
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    message = " ".join(result.output.split())
    assert "2026Q3.csv" in message and "no plausible text" in message
    assert "gb18030, big5, cp949, cp932, cp1252" in message and "set encoding" in message


def test_legacy_bytes_late_in_the_file_are_judged_by_the_same_rule(tmp_path):
    # The first 64 KiB are ASCII; Korean further on must not be read as Chinese.
    filler = [f"x{i},East,4,4,4,4,4,4" for i in range(4000)]
    korean = ["서울", "부산", "대구", "인천", "광주", "대면", "전화", "온라인"]
    inst, data = survey(tmp_path, ["East", *korean], "cp949")
    lines = data.read_bytes().split(b"\n")
    data.write_bytes(b"\n".join(lines[:2] + [f.encode() for f in filler] + lines[2:]))
    result = validate(data, "--instrument", inst, "--out-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert regions_read(inst, data)[-len(korean):] == korean
    # Too little evidence there stops the run as it does at the start.
    inst, data = survey(tmp_path, ["East", "华南"], "gbk")
    lines = data.read_bytes().split(b"\n")
    data.write_bytes(b"\n".join(lines[:2] + [f.encode() for f in filler] + lines[2:]))
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65 and "big5" in result.output, result.output


def test_named_encoding_still_wins_over_detection(tmp_path):
    named = replace_in_instrument('segments = ["region"]',
                                  'segments = ["region"]\nencoding = "cp949"')
    # Chinese bytes read as Korean on purpose: the instrument says so.
    inst, data = survey(tmp_path, ["华东", "华东"], "gbk", instrument=named)
    assert regions_read(inst, data) == ["华东".encode("gbk").decode("cp949")] * 2


# --------------------------------------------------------------------------------------------
# Stray quotes


def sample_rows(count: int) -> list[str]:
    """The header and the first ``count`` data rows of a sample wave (no quotes in them)."""
    lines = SAMPLE_WAVE.read_text(encoding="utf-8").split("\n")[:count + 1]
    assert '"' not in "".join(lines[1:])
    return lines


def open_quote(line: str, field: int) -> str:
    """``line`` with an unbalanced quote at the start of field ``field``."""
    fields = line.split(",")
    fields[field] = '"' + fields[field]
    return ",".join(fields)


def validate_rows(tmp_path: Path, lines: list[str], newline: str = "\n"):
    data = tmp_path / "2025Q4.csv"
    data.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    out = tmp_path / "out"
    result = validate(data, "--instrument", INSTRUMENT, "--out-dir", out)
    return result, (quarantined(out, data) if result.exit_code == 0 else None)


def test_stray_quote_does_not_swallow_the_records_after_it(tmp_path):
    lines = sample_rows(150)
    lines[11] = open_quote(lines[11], 1)  # data row 11: spreadsheet row 12
    fields = lines[30].split(",")
    fields[lines[0].replace('"', "").split(",").index("interview_date")] = "x"  # any value
    lines[30] = ",".join(fields)
    result, rejected = validate_rows(tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "rows_read 150 = rows_valid 149 + rows_quarantined 1" in result.output
    assert rejected[["source_row", "reason"]].values.tolist() == [["12", "unparseable"]]
    assert rejected.loc[0, "value"] == lines[11]


def test_stray_quote_row_numbers_after_resynchronising_stay_right(tmp_path):
    lines = sample_rows(150)
    lines[11] = open_quote(lines[11], 1)
    fields = lines[40].split(",")
    fields[4] = "8"  # E01 out of scale in data row 40: spreadsheet row 41
    lines[40] = ",".join(fields)
    result, rejected = validate_rows(tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "rows_read 150 = rows_valid 148 + rows_quarantined 2" in result.output
    rows = sorted(rejected[["source_row", "reason"]].values.tolist(), key=lambda r: int(r[0]))
    assert rows == [["12", "unparseable"], ["41", "out_of_scale"]]


@pytest.mark.parametrize("row", [148, 150])
def test_stray_quote_running_to_the_end_of_the_file_is_quarantined_alone(tmp_path, row):
    lines = sample_rows(150)
    lines[row] = open_quote(lines[row], 3)
    result, rejected = validate_rows(tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "rows_read 150 = rows_valid 149 + rows_quarantined 1" in result.output
    assert rejected[["source_row", "reason"]].values.tolist() == [[str(row + 1), "unparseable"]]


def test_several_stray_quotes_each_quarantine_their_own_row(tmp_path):
    lines = sample_rows(150)
    for row, field in ((11, 1), (40, 5), (41, 2), (150, 2)):
        lines[row] = open_quote(lines[row], field)
    result, rejected = validate_rows(tmp_path, lines, newline="\r\n")
    assert result.exit_code == 0, result.output
    assert "rows_read 150 = rows_valid 146 + rows_quarantined 4" in result.output
    assert rejected["source_row"].tolist() == ["12", "41", "42", "151"]
    assert set(rejected["reason"]) == {"unparseable"}


def test_quote_inside_unquoted_text_is_just_a_character(tmp_path):
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = tmp_path / "2026Q3.csv"
    data.write_text('id,region,note,E1,E2,E3,P1,P2,P3\n'
                    'r1,East,Bob "the" Builder,4,5,3,3,5,4\n'
                    'r2,East,"quoted, with ""escaped"" quotes",5,4,2,2,3,2\n'
                    'r3,West,12" screen,3,,5,4,4,5\n'
                    'r4,West,plain,9,4,4,5,2,8\n', encoding="utf-8")
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "rows_read 4 = rows_valid 3 + rows_quarantined 1" in result.output
    rejected = quarantined(out, data)
    assert rejected[["source_row", "reason"]].values.tolist() == [["5", "out_of_scale"]]
    notes = read_table(data, load_instrument(inst)).frame["note"].astype(str).tolist()
    assert notes == ['Bob "the" Builder', 'quoted, with "escaped" quotes', '12" screen', "plain"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_quoted_values_with_line_breaks_stay_one_record(tmp_path, newline):
    # A comment over three lines (with delimiters in it) and a header whose question text
    # wraps: legitimate line breaks, not stray quotes.
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = tmp_path / "2026Q3.csv"
    text = ('id,region,"Your comment\n(optional)",E1,E2,E3,P1,P2,P3\n'
            'r1,East,"first line, with a comma\nsecond, line\nthird",4,5,3,3,5,4\n'
            'r2,East,"one\nbreak",5,4,2,2,3,2\n'
            'r3,West,,3,,5,4,4,8\n'
            'r4,West,"last\nrecord",9,4,4,5,2,1\n')
    data.write_bytes(text.replace("\n", newline).encode("utf-8"))
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "rows_read 4 = rows_valid 3 + rows_quarantined 1" in result.output
    assert quarantined(out, data)[["source_row", "reason"]].values.tolist() == [
        ["4", "out_of_scale"]]
    raw = read_table(data, load_instrument(inst))
    assert raw.source_rows.tolist() == [2, 3, 4, 5]
    comments = raw.frame.iloc[:, 2].astype(str).tolist()
    assert comments[0] == newline.join(["first line, with a comma", "second, line", "third"])


# --------------------------------------------------------------------------------------------
# Line endings


def with_line_endings(text: str, kind: str) -> str:
    lines = text.split("\n")
    if kind == "mixed":
        return "".join(line + ("\r\n", "\n", "\r")[n % 3] for n, line in enumerate(lines[:-1]))
    return {"lf": "\n", "crlf": "\r\n", "cr": "\r"}[kind].join(lines)


def test_cr_only_and_mixed_line_endings_read_like_lf(tmp_path):
    text = SAMPLE_WAVE.read_text(encoding="utf-8")
    outputs = {}
    for kind in ("lf", "crlf", "cr", "mixed"):
        data = tmp_path / kind / SAMPLE_WAVE.name
        data.parent.mkdir()
        data.write_bytes(with_line_endings(text, kind).encode("utf-8"))
        result = validate(data, "--instrument", INSTRUMENT, "--out-dir", tmp_path / kind)
        assert result.exit_code == 0, (kind, result.output)
        assert "rows_read 1484 = rows_valid 1476 + rows_quarantined 8" in result.output
        outputs[kind] = quarantined(tmp_path / kind, data).drop(columns="source_file")
        raw = read_table(data, load_instrument(INSTRUMENT))
        assert raw.source_rows.tolist() == list(range(2, 1486))
    for kind in ("crlf", "cr", "mixed"):
        pd.testing.assert_frame_equal(outputs[kind], outputs["lf"])


@pytest.mark.parametrize("kind", ["crlf", "cr", "mixed"])
def test_line_numbers_in_errors_count_every_kind_of_line_break(tmp_path, kind):
    named = replace_in_instrument('segments = ["region"]',
                                  'segments = ["region"]\nencoding = "utf-8"')
    inst = write(tmp_path / "instrument.toml", named)
    rows = [HEADER, *[f"r{n},East,4,5,3,3,5,4" for n in range(5)], "r9,华东,4,5,3,3,5,4", ""]
    data = tmp_path / "2026Q3.csv"
    data.write_bytes(with_line_endings("\n".join(rows), kind).encode("gbk"))
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    assert "line 7" in result.output and "2026Q3.csv" in result.output


def test_cr_only_file_with_a_header_of_several_rows(tmp_path):
    qualtrics = replace_in_instrument("segments = [\"region\"]",
                                      "segments = [\"region\"]\nheader_rows = 3")
    inst = write(tmp_path / "instrument.toml", qualtrics)
    text = (HEADER + "\n" + ",".join(f'"Question {c}\nwrapped"' for c in HEADER.split(",")) +
            "\n" + ",".join('"{""ImportId"":""' + c + '""}"' for c in HEADER.split(",")) + "\n"
            "r1,East,4,5,3,3,5,4\nr2,West,5,4,2,2,3,2\n")
    data = tmp_path / "2026Q3.csv"
    data.write_bytes(text.replace("\n", "\r").encode("utf-8"))
    raw = read_table(data, load_instrument(inst))
    assert raw.source_rows.tolist() == [4, 5] and raw.platform is not None
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 0, result.output
    assert "rows_read 2 = rows_valid 2 + rows_quarantined 0" in result.output


# --------------------------------------------------------------------------------------------
# Streamed files (over servqual.ingest.slices.FULL_READ_BYTES) read as files read whole


def test_streamed_files_read_stray_quotes_line_endings_and_gbk_as_files_read_whole(tmp_path):
    from fixtures import compare_streamed

    lines = sample_rows(150)
    for row, field in ((11, 1), (40, 5), (41, 2), (150, 2)):
        lines[row] = open_quote(lines[row], field)
    text = "\n".join(lines) + "\n"
    files = {"stray.csv": text.encode("utf-8"),
             "stray-gbk-cr.csv": with_line_endings(text, "cr").encode("gbk"),
             "mixed.csv": with_line_endings(SAMPLE_WAVE.read_text(encoding="utf-8"),
                                            "mixed").encode("gbk")}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        validated, checked = compare_streamed([path], INSTRUMENT)
        if name.startswith("stray"):
            assert checked.quality.rows_read == 150
            unparseable = checked.quarantine[checked.quarantine["reason"] == "unparseable"]
            assert unparseable["source_row"].tolist() == [12, 41, 42, 151]


def test_streamed_file_whose_first_record_has_a_stray_quote_running_to_the_end(tmp_path):
    # Every record is read into the first one: the streamed reader yields no batch at all.
    from fixtures import compare_streamed

    lines = sample_rows(20)
    lines[1] = open_quote(lines[1], 5)
    path = tmp_path / "2025Q4.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    validated, checked = compare_streamed([path], INSTRUMENT)
    assert (checked.quality.rows_read, checked.quality.rows_quarantined) == (20, 1)


def test_streamed_answers_as_plain_numbers_or_with_text_in_a_later_batch(tmp_path,
                                                                         monkeypatch):
    # A streamed file's answers come as text: a column of plain numbers is cast at once
    # (servqual.validation.cells._plain_numbers), one holding other text is parsed text by
    # text; the verdicts are those of the file read whole. The quarantine shows the cells as
    # the file holds them: 8, not 8.0 (a column holding a decimal is read as decimals).
    import servqual.ingest.slices as slices
    from fixtures import compare_streamed

    monkeypatch.setattr(slices, "STREAM_BLOCK", 4096)  # many batches from a small file
    lines = sample_rows(300)
    column = lines[0].split(",").index('"E01"')

    def with_cell(line: str, value: str) -> str:
        fields = line.split(",")
        fields[column] = value
        return ",".join(fields)

    lines[20] = with_cell(lines[20], "8")
    lines[60] = with_cell(lines[60], "9.5")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines[250] = with_cell(lines[250], "abc")  # in a later batch than the first ones
    text = tmp_path / "text.csv"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for path, reasons in ((numbers, {21: "out_of_scale", 61: "out_of_scale"}),
                          (text, {21: "out_of_scale", 61: "out_of_scale", 251: "non_numeric"})):
        validated, streamed = compare_streamed([path], INSTRUMENT)
        for q in (validated.quarantine, streamed.quarantine):
            rows = q[q["column"] == "E01"]
            assert dict(zip(rows["source_row"], rows["reason"])) == reasons
            shown = dict(zip(rows["source_row"], rows["value"]))
            assert (shown[21], shown[61]) == ("8", "9.5")
            assert [str(v) for v in rows["E01"]][:2] == ["8", "9.5"]


# --------------------------------------------------------------------------------------------
# Parquet columns of lists or records


@pytest.mark.parametrize("column, values", [
    ("P2", pa.array([[4], [3, 5]], pa.list_(pa.int64()))),            # a multiple-choice export
    ("region", pa.array([{"code": "E", "name": "East"}] * 2)),      # a segment as a record
])
def test_a_parquet_column_of_lists_or_records_is_an_error_naming_it(tmp_path, column, values):
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    table = pa.table({"id": ["r1", "r2"], "region": ["East", "West"], "E1": [4, 5],
                      "E2": [4, 5], "E3": [4, 5], "P1": [3, 4], "P2": [3, 4], "P3": [3, 4]})
    data = tmp_path / "2026Q3.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, values), data)
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    assert f"2026Q3.parquet, column {column!r}: the column holds" in result.output
    assert "not one answer or label per cell" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("rows", [2000, 20_000])  # within the first 64 KB judged, and after
def test_a_stray_byte_in_a_utf8_file_names_its_line(tmp_path, rows):
    # With encoding = "auto" the error named no line: in a file of thousands of good lines
    # the analyst could not find the one pasted from another export.
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    rows = [HEADER] + [f"r{n},华东,4,5,3,3,5,4" for n in range(rows)]
    data = tmp_path / "2026Q3.csv"
    lines = [r.encode("utf-8") for r in rows]
    lines[1500] = lines[1500].replace("华东".encode("utf-8"), b"Ea\xffst")
    data.write_bytes(b"\n".join(lines) + b"\n")
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    assert "line 1501 is the first that is not UTF-8 text" in result.output


@pytest.mark.parametrize("spans", [False, True])
def test_records_ending_in_a_delimiter_the_header_lacks_are_read(tmp_path, monkeypatch, spans):
    # "1,2,3," under "a,b,c": every record had a field more than the header, and the whole
    # file was quarantined as unparseable without saying why.
    if spans:  # a large file is read in spans of records, each with the whole file's options
        monkeypatch.setenv("SERVQUAL_PART_ROWS", "40")
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    rows = [HEADER] + [f"r{n},East,4,5,3,3,5,4," for n in range(600)]
    rows[450] = "r449,East,4,5,3,3,5,8,"  # out of scale: still read as its own field
    data = tmp_path / "2026Q3.csv"
    data.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    from servqual.engines.parts import parts_of
    assert len(parts_of([str(data)], load_instrument(inst))) == (15 if spans else 1)
    out = tmp_path / "q"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "rows_read 600 = rows_valid 599 + rows_quarantined 1" in result.output
    rejected = quarantined(out, data)
    assert rejected[["id", "reason", "column", "value"]].values.tolist() == [
        ["r449", "out_of_scale", "P3", "8"]]
