"""A large text file read a run of records at a time (servqual.ingest.spans).

The cuts are checked against pyarrow's own parse of generated text (quotes, doubled quotes,
stray quotes, delimiters and line breaks in values, every line ending, empty lines): the
spans parsed one by one give the records of the whole text, in order. Through the command
line, a wave read in spans (SERVQUAL_PART_ROWS) gives the report of the wave read whole: the
same figures (1e-9), the same quarantine with the same row numbers, duplicates judged across
spans; a file whose records span lines is read whole.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import INSTRUMENT, SAMPLE
from fixtures import assert_same, write
from servqual.cli import app
from servqual.engines import choose_engine
from servqual.engines.partition import parts_of
from servqual.ingest.spans import record_ends, text_spans
from servqual.instrument import load_instrument

runner = CliRunner()
WIDTH = 3


def parse(text: bytes) -> tuple[list[dict], list[str]]:
    """pyarrow's parse of records as servqual's reader asks for it: the rows and the texts
    of the unparseable records."""
    invalid: list[str] = []

    def skip(row):
        invalid.append(row.text)
        return "skip"

    if not text:
        return [], []
    table = pacsv.read_csv(pa.py_buffer(text), read_options=pacsv.ReadOptions(
        column_names=[str(j) for j in range(WIDTH)], use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                         invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types={str(j): pa.string() for j in range(WIDTH)}))
    return table.to_pylist(), invalid


_plain = st.text(alphabet='ab 1"', max_size=4)  # a quote inside a value is a character
_quoted = st.text(alphabet='ab,\n\r"', max_size=5).map(lambda v: '"' + v.replace('"', '""') + '"')
_stray = st.sampled_from(['"a', '"a"b', '"', 'a"', '""'])  # unbalanced, or text after the close
_field = st.one_of(_plain, _quoted, _stray)
_record = st.one_of(st.lists(_field, min_size=WIDTH, max_size=WIDTH),
                    st.lists(_field, min_size=0, max_size=WIDTH + 1))
_end = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(_record, _end), min_size=1, max_size=12),
       every=st.integers(1, 4), unquoted=st.booleans())
def test_spans_hold_the_records_pyarrow_reads(records, every, unquoted):
    text = "".join(",".join(fields) + end for fields, end in records).encode()
    if unquoted:  # the way without quotes
        text = text.replace(b'"', b"")
    whole_rows, whole_invalid = parse(text)
    data = np.frombuffer(text, dtype=np.uint8)
    ends, count, spanning = record_ends(data, 0, len(text), every, ord(","), b'"' in text)
    assert count == len(whole_rows) + len(whole_invalid)
    cuts = [0, *ends.tolist(), len(text)]
    assert len(cuts) - 2 == (count - 1) // every
    rows, invalid = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        part_rows, part_invalid = parse(text[a:b])
        assert len(part_rows) + len(part_invalid) == (every if b < len(text) else
                                                      count - every * (len(cuts) - 2))
        rows += part_rows
        invalid += part_invalid
    assert (rows, invalid) == (whole_rows, whole_invalid)
    # Where a value or an unparseable record holds a line break, a record spans lines (the
    # file is then read whole). Not conversely: a quote left open at the end of the text
    # holds the last line break, which pyarrow may take for the record's end.
    broken = any("\n" in v or "\r" in v for r in whole_rows for v in r.values() if v) or \
        any("\n" in t[:-1] or "\r" in t[:-1] for t in whole_invalid)
    assert spanning > 0 or not broken


def report(tmp_path, name, files, *options):
    out = tmp_path / name
    result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(INSTRUMENT),
                                 "--out", str(out / "r.html"), "--json", str(out / "r.json"),
                                 "--engine", "memory", *options])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "r.json").read_text(encoding="utf-8"))
    with (out / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        return doc, list(csv.DictReader(fh))


def hostile_wave(tmp_path, line_end: str = "\r\n"):
    """A sample wave with a byte-order mark and ``line_end``, a respondent copied into a later
    span (exactly, and with an answer changed), a record of too few fields, an empty line and
    a value with a quote inside it."""
    lines = SAMPLE[0].read_text(encoding="utf-8-sig").splitlines()
    header, body = lines[0], lines[1:]
    copied = body[10]
    changed = body[20].rsplit(",", 1)[0] + ",1"
    body.insert(700, copied)
    body.insert(900, changed)
    body.insert(300, "only,three,fields")
    body.insert(1200, "")
    fields = body[400].split(",")
    fields[3] = 'said "ok"'  # a quote inside a value (not opening it) is a character
    body[400] = ",".join(fields)
    text = "\ufeff" + line_end.join([header, *body]) + line_end
    return write(tmp_path / SAMPLE[0].name, text), len(body)


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_a_wave_read_in_spans_is_the_wave_read_whole(tmp_path, line_end, monkeypatch):
    data, records = hostile_wave(tmp_path / "in", line_end)
    inst = load_instrument(INSTRUMENT)
    whole_doc, whole_rows = report(tmp_path, "whole", [data])
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "97")
    spans_doc, spans_rows = report(tmp_path, "spans", [data])
    assert len(parts_of([str(data)], inst)) == -(-records // 97)
    assert_same(spans_doc, whole_doc)
    assert spans_rows == whole_rows
    # Spreadsheet rows (the header is row 1), known from where the lines were put: the
    # short record, the exact copy of row 12 (in another span of 97 records), the changed
    # copy of row 22 (both in conflict), the empty line.
    got = {(int(r["source_row"]), r["reason"], r["duplicate_of"]) for r in whole_rows}
    assert {(302, "unparseable", ""), (703, "duplicate_respondent", "12"),
            (22, "duplicate_conflict", ""), (903, "duplicate_conflict", ""),
            (1202, "missing_respondent_id", "")} <= got
    assert whole_doc["data_quality"]["rows_read"] == records


def test_records_spanning_lines_are_read_whole(tmp_path, monkeypatch):
    """A quoted value holding a line break may be a stray quote's doing, mended by reading
    the records after it again: such a file is not cut."""
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "50")
    lines = SAMPLE[0].read_text(encoding="utf-8-sig").splitlines()
    fields = lines[600].split(",")
    fields[3] = '"a comment\nover two lines"'
    lines[600] = ",".join(fields)
    data = write(tmp_path / SAMPLE[0].name, "\n".join(lines) + "\n")
    inst = load_instrument(INSTRUMENT)
    assert text_spans(data, inst, 50) is None
    assert [p.span for p in parts_of([str(data)], inst)] == [None]
    plain = write(tmp_path / "plain" / SAMPLE[0].name, SAMPLE[0].read_text(encoding="utf-8-sig"))
    assert len(text_spans(plain, inst, 50)) > 1


def test_large_files_go_to_the_memory_engine_when_they_can_be_cut(tmp_path, monkeypatch):
    """The DuckDB engine is chosen for a large file only where the memory engine would read
    it whole: not UTF-8, or records spanning lines."""
    import servqual.engines as engines

    monkeypatch.setattr(engines, "DUCKDB_FROM_BYTES", 1000)
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "50")
    inst = load_instrument(INSTRUMENT)
    text = SAMPLE[0].read_text(encoding="utf-8-sig")
    utf8 = write(tmp_path / "a" / "2024Q4.csv", text)
    gbk = write(tmp_path / "b" / "2024Q4.csv", text, encoding="gb18030")
    # UTF-8 by its first 64 KB, not after: looked at whole before it is cut.
    late = write(tmp_path / "c" / "2024Q4.csv", "")
    late.write_bytes(text.encode("utf-8")[:200_000] + "华东".encode("gb18030") +
                     text.encode("utf-8")[200_000:])
    assert choose_engine([utf8], "auto", inst) == "memory"
    assert len(parts_of([str(utf8)], inst)) > 1
    assert choose_engine([gbk], "auto", inst) == "duckdb"
    assert choose_engine([late], "auto", inst) == "duckdb"
    assert text_spans(late, inst, 50) is None
    assert choose_engine([utf8, gbk], "auto", inst) == "duckdb"


def test_the_memory_engine_tells_its_progress_part_by_part(tmp_path, monkeypatch):
    """A wave of many spans takes a while: the terminal's progress bar hears of each part."""
    from servqual.engines import open_engine

    monkeypatch.setenv("SERVQUAL_PART_ROWS", "400")
    told = []
    with open_engine("memory", load_instrument(INSTRUMENT),
                     progress=lambda *a: told.append(a)) as engine:
        engine.collect([SAMPLE[0]])
    assert told[:4] == [("reading parts", k, 4) for k in (1, 2, 3, 4)]
    # then the parts holding respondents that two spans share, read twice more (2 parts),
    # each pass under its own name: the bar must not seem to start the reading over
    assert told[4:] == [("finding respondents parts share", 1, 2),
                        ("finding respondents parts share", 2, 2),
                        ("reading again parts they share", 1, 2),
                        ("reading again parts they share", 2, 2)]


_ids = st.sampled_from([f"respondent-{k:05d}-of-wave-2026Q3" for k in range(12)])  # repeats
_answer = st.sampled_from(["1", "2", "3", "4", "5", "5", "4", "9", "", "7", "x"])
_row = st.one_of(
    st.tuples(_ids, st.sampled_from(["East", "West", "华东", ""]),
              st.lists(_answer, min_size=6, max_size=6)).map(
        lambda r: ",".join([r[0], r[1], *r[2]])),
    st.sampled_from(["", "short,row", "respondent-00001-of-wave-2026Q3,East,1,2"]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=20, max_size=45), end=_end, bom=st.booleans())
def test_generated_waves_read_in_spans_as_read_whole(tmp_path_factory, monkeypatch, rows, end,
                                                     bom):
    """Any wave of the tiny instrument (duplicates, conflicts, short records, empty lines,
    out-of-scale and text answers, every line ending, with or without a byte-order mark):
    cut into spans of 2 records, the command line reports what it reports of it whole."""
    from fixtures import TINY_INSTRUMENT

    tmp = tmp_path_factory.mktemp("wave")
    inst = write(tmp / "i.toml", TINY_INSTRUMENT)
    text = ("\ufeff" if bom else "") + end.join(["id,region,E1,E2,E3,P1,P2,P3", *rows]) + end
    data = write(tmp / "2026Q3.csv", text)

    def run(name):
        out = tmp / name
        result = runner.invoke(app, ["report", str(data), "--instrument", str(inst),
                                     "--out", str(out / "r.html"), "--json",
                                     str(out / "r.json"), "--engine", "memory"])
        files = {p.name: p.read_bytes() for p in sorted(out.glob("r.*")) if p.suffix != ".html"}
        return result.exit_code, result.output.replace(str(out), ""), files

    monkeypatch.delenv("SERVQUAL_PART_ROWS", raising=False)
    whole = run("whole")
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "2")
    spans = run("spans")
    # cut wherever it is 512 bytes or more (split_from_bytes(2)), and in spans of 2 records
    parts = parts_of([str(data)], load_instrument(inst))
    assert (len(parts) > 1) == (data.stat().st_size >= 512)
    assert spans[:2] == whole[:2]
    assert spans[2].keys() == whole[2].keys()
    for name, content in whole[2].items():
        if name.endswith(".json"):
            assert_same(json.loads(spans[2][name]), json.loads(content))
        else:
            assert spans[2][name] == content, name
