"""Every engine against answers known independently of servqual.

An engine decides where rows live, never what is computed: each one, through the command
line, must give the hand-computed figures of the tiny survey (tests/fixtures.py), the reasons
a hand-written oracle expects row by row, the duplicate verdicts the rule spells out, and the
same figures from a Parquet file as from its CSV.
"""

from __future__ import annotations

import json
import textwrap

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fixtures import (TINY_DIMENSIONS, TINY_INSTRUMENT, TINY_ITEMS, TINY_OVERALL, tiny, write)
from servqual.cli import app

ENGINES = ["memory", "duckdb", "dask"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _options(engine_options):
    global OPTIONS
    OPTIONS = engine_options


def report(tmp_path, files, instrument, engine, *more):
    js = tmp_path / f"{engine}.json"
    result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(instrument),
                                 *OPTIONS(engine), "--out", str(tmp_path / f"{engine}.html"),
                                 "--json", str(js), *map(str, more)])
    assert result.exit_code == 0, result.output
    return json.loads(js.read_text(encoding="utf-8"))


def quarantine(tmp_path, files, instrument, engine):
    out = tmp_path / f"q-{engine}"
    result = runner.invoke(app, ["validate", *map(str, files), "--instrument", str(instrument),
                                 *OPTIONS(engine), "--out-dir", str(out)])
    assert result.exit_code in (0, 65), result.output
    import csv

    rows = []
    for path in sorted(out.glob("*.rejected.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


@pytest.mark.parametrize("engine", ENGINES)
def test_tiny_survey_gives_the_hand_computed_figures(tmp_path, engine):
    inst, data = tiny(tmp_path)
    doc = report(tmp_path, [data], inst, engine)
    items = {i["item"]: i for i in doc["items"]}
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items[item][key] == pytest.approx(value), (item, key)
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    for dim, expected in TINY_DIMENSIONS.items():
        for key, value in expected.items():
            assert dims[dim][key] == pytest.approx(value), (dim, key)
    assert doc["overall"]["servqual_unweighted"] == pytest.approx(TINY_OVERALL)


ORACLE = textwrap.dedent("""\
    id,region,E1,E2,E3,P1,P2,P3
    r1,East,4,5,3,3,5,4
    r2,\u3000East ,５,4,2,2,3,2
    r3,West,3,,5,4,4,5
    r4,West,9,4,4,5,2,1
    ,East,4,4,4,4,4,4
    r6,East,1_000,4,4,4,4,4
    r7,East, nan,4,4,4,4,4
    r8,East,8,x,4,4,4,4
    r9,East,9,9,,,9,
    r1,East,4,5,3,3,5,4
    r10,,2,2,2,2,2,2
    r10,,2,2,2,2,2,3
    r11,North,1,2,3,4,5
    r12,North,7,2,3,4,5,1
    r13,North,-1,2,3,4,5,1
    r14, ,  ,2,3,4,5,1
    r15,South,5,5,5,5,5,5,5
    """)
# Row by row (spreadsheet rows; the header is row 1), what the reasons' definitions say.
ORACLE_REASONS = {
    6: "missing_respondent_id",  # blank id
    7: "non_numeric",            # 1_000 is not a number as people type them
    8: "non_numeric",            # " nan" is text, not the null token "nan"
    9: "non_numeric",            # x (text is checked before 8, out of the 1..5 scale)
    10: "all_missing",           # 9 is the missing code; blanks
    11: "duplicate_respondent",  # an exact copy of row 2 (r1)
    12: "duplicate_conflict",    # r10 twice, P3 differs: both copies
    13: "duplicate_conflict",
    14: "unparseable",           # a field short
    15: "out_of_scale",          # 7
    16: "out_of_scale",          # -1
    18: "unparseable",           # a field too many
}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_reason_as_its_definition_says(tmp_path, engine):
    inst, data = tiny(tmp_path, csv=ORACLE)
    rows = quarantine(tmp_path, [data], inst, engine)
    assert {int(r["source_row"]): r["reason"] for r in rows} == ORACLE_REASONS
    duplicate = next(r for r in rows if r["reason"] == "duplicate_respondent")
    assert duplicate["duplicate_of"] == "2"
    doc = report(tmp_path, [data], inst, engine)
    q = doc["data_quality"]
    assert (q["rows_read"], q["rows_valid"]) == (17, 17 - len(ORACLE_REASONS))
    # r14's blank region is in no segment; r2's " East" (ideographic space) is East.
    east = next(s for s in doc["segments"] if s["value"] == "East" and s["dimension"] == "alpha")
    assert east["n"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_respondent_in_two_files_of_a_wave(tmp_path, engine):
    """The rule across files, among the rows each file keeps: r1 copied exactly into the
    second file is a duplicate there (pointing at row 2 of the first); r2 given again with
    other answers is a conflict in both files; r3 appears in another wave: no duplicate."""
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT.replace(
        'segments = ["region"]', 'segments = ["region"]\nwave = "wave"'))
    first = write(tmp_path / "a.csv", "id,wave,region,E1,E2,E3,P1,P2,P3\n"
                  "r1,2026Q3,East,4,5,3,3,5,4\nr2,2026Q3,East,5,4,2,2,3,2\n"
                  "r3,2026Q2,West,3,4,5,4,4,5\n")
    second = write(tmp_path / "b.csv", "id,wave,region,E1,E2,E3,P1,P2,P3\n"
                   "r1,2026Q3,East,4,5,3,3,5,4\nr2,2026Q3,East,5,4,2,2,3,3\n"
                   "r3,2026Q3,West,3,4,5,4,4,5\n")
    rows = quarantine(tmp_path, [first, second], inst, engine)
    got = {(r["source_file"].rsplit("/", 1)[-1], int(r["source_row"])):
           (r["reason"], r["duplicate_of"]) for r in rows}
    assert got == {("b.csv", 2): ("duplicate_respondent", "2"),
                   ("a.csv", 3): ("duplicate_conflict", ""),
                   ("b.csv", 3): ("duplicate_conflict", "")}
    doc = report(tmp_path, [first, second], inst, engine)
    assert doc["waves"] == ["2026Q2", "2026Q3"]
    assert doc["data_quality"]["rows_valid"] == 3  # r1 (a), r3 (a, 2026Q2), r3 (b, 2026Q3)


@pytest.mark.parametrize("engine", ENGINES)
def test_parquet_gives_the_csv_figures(tmp_path, engine):
    inst, data = tiny(tmp_path)
    table = pacsv.read_csv(data, convert_options=pacsv.ConvertOptions(
        column_types={"id": "string", "region": "string"}))
    parquet = tmp_path / "2026Q3.parquet"
    pq.write_table(table, parquet, row_group_size=2)  # two row groups
    from_csv = report(tmp_path / "csv", [data], inst, engine)
    from_parquet = report(tmp_path / "parquet", [parquet], inst, engine)
    for key in ("dimensions", "items", "overall", "segments"):
        assert from_parquet[key] == from_csv[key], key


def test_long_layout_is_read_in_memory_only(tmp_path):
    """A long layout judges a respondent over all its rows: the DuckDB engine refuses it
    with a usage error naming the engine to use."""
    text = TINY_INSTRUMENT.replace('segments = ["region"]', 'segments = ["region"]\n'
                                   'layout = "long"\n[instrument.long]\nitem = "item"\n'
                                   'expectation = "E"\nperception = "P"')
    inst = write(tmp_path / "i.toml", text)
    data = write(tmp_path / "2026Q3.csv", "id,region,item,E,P\nr1,East,i1,4,3\n")
    result = runner.invoke(app, ["report", str(data), "--instrument", str(inst), "--engine",
                                 "duckdb", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "--engine memory" in result.output


@pytest.mark.parametrize("engine", ENGINES)
def test_respondent_in_two_row_groups_of_a_file(tmp_path, engine, monkeypatch):
    """A Parquet file read a row group at a time (SERVQUAL_PART_ROWS=2: parts of two rows)
    is judged as the whole file: r1 copied exactly into a later group is a duplicate of
    record 1; r2 three times, two copies agreeing, is a conflict in all three records.
    (A Parquet file has no header row: its rows are numbered as records, from 1.)"""
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "2")
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    text = ("id,region,E1,E2,E3,P1,P2,P3\n"
            "r1,East,4,5,3,3,5,4\nr2,East,5,4,2,2,3,2\n"
            "r3,West,3,4,5,4,4,5\nr1,East,4,5,3,3,5,4\n"
            "r2,East,5,4,2,2,3,2\nr4,West,2,2,2,2,2,2\n"
            "r2,East,5,4,2,2,3,3\n")
    table = pacsv.read_csv(write(tmp_path / "t.csv", text), convert_options=pacsv.ConvertOptions(
        column_types={"id": "string", "region": "string"}))
    parquet = tmp_path / "2026Q3.parquet"
    pq.write_table(table, parquet, row_group_size=2)
    assert pq.ParquetFile(parquet).num_row_groups == 4
    rows = quarantine(tmp_path, [parquet], inst, engine)
    got = {int(r["source_row"]): (r["reason"], r["duplicate_of"]) for r in rows}
    assert got == {4: ("duplicate_respondent", "1"), 2: ("duplicate_conflict", ""),
                   5: ("duplicate_conflict", ""), 7: ("duplicate_conflict", "")}
    doc = report(tmp_path, [parquet], inst, engine)
    assert (doc["data_quality"]["rows_read"], doc["data_quality"]["rows_valid"]) == (7, 3)


def test_part_rows_must_be_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "lots")
    inst, data = tiny(tmp_path)
    parquet = tmp_path / "2026Q3.parquet"
    pq.write_table(pacsv.read_csv(data), parquet, row_group_size=2)
    result = runner.invoke(app, ["report", str(parquet), "--instrument", str(inst),
                                 "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "SERVQUAL_PART_ROWS" in result.output


@pytest.mark.parametrize("engine", ENGINES)
def test_quarantine_file_holds_the_rows_as_the_file_does(tmp_path, engine):
    """Every engine's quarantine file, row by row in the file's order (its unparseable records
    last), holds each rejected row's cells as the input file holds them: also the rows the
    duplicate rule sets aside after the DuckDB engine staged them (rows 11-13), which it
    showed as parsed floats (4.0) until 2026-12-05."""
    inst, data = tiny(tmp_path, csv=ORACLE)
    rows = quarantine(tmp_path, [data], inst, engine)
    assert [int(r["source_row"]) for r in rows] == sorted(
        ORACLE_REASONS, key=lambda n: (ORACLE_REASONS[n] == "unparseable", n))
    lines = ORACLE.splitlines()
    header = lines[0].split(",")
    for row in rows:
        if row["reason"] == "unparseable":
            assert row["value"] == lines[int(row["source_row"]) - 1]
            continue
        cells = lines[int(row["source_row"]) - 1].split(",")
        assert [row[c] for c in header] == cells, row["source_row"]


SET_ASIDE = textwrap.dedent("""\
    id,region,note,E1,E2,E3,P1,P2,P3
    r1,East,first visit,4,5,3,3,5,4
    r2,West,,5,4,2,9,3,2
    r3,East,called twice,3,4,5,4,4,5
    r2,West,complained,5,4,2,2,3,2
    r4,East,,4,4,4,4,4,4
    r5,West,late,2,3,2,3,2,3
    r1,East,first visit,4,5,3,3,5,4
    """)
# What the duplicate rule and the straight-lining rule set aside, row by row: r2's two copies
# differ (a conflict, both out; the first holds the missing code 9 in P1), row 8 copies row 2
# exactly, r4 gives one answer throughout.
SET_ASIDE_REASONS = {3: "duplicate_conflict", 5: "duplicate_conflict",
                     6: "straightlining", 8: "duplicate_respondent"}


@pytest.mark.parametrize("streamed", [False, True])
def test_rows_set_aside_after_staging_are_quarantined_as_the_file_holds_them(
        tmp_path, monkeypatch, streamed):
    """The DuckDB engine judges duplicates and straight-liners on rows it has already staged
    as numbers: their quarantine rows must still hold the file's cells (the missing code 9,
    the note the analysis never reads), in the file's order, byte for byte the memory
    engine's quarantine file; read whole or streamed (then the file is read again)."""
    import servqual.ingest.slices as slices

    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT.replace(
        'segments = ["region"]', 'segments = ["region"]\nquarantine_straightlining = true'))
    data = write(tmp_path / "2026Q3.csv", SET_ASIDE)
    memory = quarantine(tmp_path, [data], inst, "memory")
    if streamed:
        monkeypatch.setattr(slices, "FULL_READ_BYTES", 0)
    rows = quarantine(tmp_path, [data], inst, "duckdb")
    lines = SET_ASIDE.splitlines()
    header = lines[0].split(",")
    assert {int(r["source_row"]): r["reason"] for r in rows} == SET_ASIDE_REASONS
    assert [int(r["source_row"]) for r in rows] == sorted(SET_ASIDE_REASONS)
    for row in rows:
        assert [row[c] for c in header] == lines[int(row["source_row"]) - 1].split(",")
    assert rows == memory
    written = sorted((tmp_path / "q-duckdb").glob("*.rejected.csv"))
    assert [p.read_bytes() for p in written] == [
        p.read_bytes() for p in sorted((tmp_path / "q-memory").glob("*.rejected.csv"))]


@pytest.mark.parametrize("streamed", [False, True])
def test_copies_across_files_are_quarantined_as_their_files_hold_them(
        tmp_path, monkeypatch, streamed):
    """A respondent in two files of one wave with other answers: both copies go (a conflict),
    the first from a file whose turn is long over (read again for its row), with its cells
    as written there — the note, the missing code 9 — byte for byte the memory engine's."""
    import servqual.ingest.slices as slices

    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT.replace(
        'segments = ["region"]', 'segments = ["region"]\nwave = "wave"'))
    header = "id,wave,region,note,E1,E2,E3,P1,P2,P3\n"
    first = write(tmp_path / "a.csv", header + "r1,2026Q3,East,kept,4,5,3,3,5,4\n"
                  "r2,2026Q3,West,called twice,5,4,2,9,3,2\n")
    second = write(tmp_path / "b.csv", header + "r2,2026Q3,West,,5,4,2,2,3,2\n"
                   "r3,2026Q3,East,,3,4,5,4,4,5\n")
    memory = quarantine(tmp_path, [first, second], inst, "memory")
    if streamed:
        monkeypatch.setattr(slices, "FULL_READ_BYTES", 0)
    rows = quarantine(tmp_path, [first, second], inst, "duckdb")
    assert [(r["source_file"].rsplit("/", 1)[-1], r["source_row"], r["reason"], r["note"],
             r["P1"]) for r in rows] == [("a.csv", "3", "duplicate_conflict", "called twice", "9"),
                                         ("b.csv", "2", "duplicate_conflict", "", "2")]
    assert rows == memory
    for name in ("a", "b"):
        mine = next((tmp_path / "q-duckdb").glob(f"{name}*.rejected.csv"))
        theirs = next((tmp_path / "q-memory").glob(f"{name}*.rejected.csv"))
        assert mine.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("engine", [*ENGINES, "duckdb-streamed"])
@pytest.mark.parametrize("straight", [True, False])
def test_straight_liners_in_two_files_follow_the_duplicate_rule(tmp_path, monkeypatch, engine,
                                                                straight):
    """The duplicate rule across the files of a wave compares the copies each file keeps:
    a straight-liner a file quarantines is not one of them (see duplicates.judge_shared).
    So r2, straight-lining in both files with other answers, is two straight-liners and a
    copy (not three conflicts), and r1, straight-lining in a.csv only, is kept from b.csv.
    Without quarantining straight-liners, both respondents' kept copies conflict."""
    import servqual.ingest.slices as slices

    text = TINY_INSTRUMENT.replace('segments = ["region"]', 'segments = ["region"]\nwave = "wave"')
    if straight:
        text = text.replace('wave = "wave"', 'wave = "wave"\nquarantine_straightlining = true')
    inst = write(tmp_path / "i.toml", text)
    header = "id,wave,region,E1,E2,E3,P1,P2,P3\n"
    a = write(tmp_path / "a.csv", header + "r2,2026Q3,East,5,5,5,5,5,5\n"
              "r4,2026Q3,East,4,5,3,3,5,4\nr1,2026Q3,West,4,4,4,4,4,4\n")
    b = write(tmp_path / "b.csv", header + "r2,2026Q3,East,3,3,3,3,3,3\n"
              "r5,2026Q3,East,3,4,5,4,4,5\nr2,2026Q3,East,3,3,3,3,3,3\n"
              "r1,2026Q3,West,4,5,3,2,3,4\n")
    if engine == "duckdb-streamed":
        monkeypatch.setattr(slices, "FULL_READ_BYTES", 0)
        engine = "duckdb"
    rows = quarantine(tmp_path, [a, b], inst, engine)
    got = [(r["source_file"].rsplit("/", 1)[-1], int(r["source_row"]), r["reason"],
            r["duplicate_of"]) for r in rows]
    if straight:
        assert got == [("a.csv", 2, "straightlining", ""), ("a.csv", 4, "straightlining", ""),
                       ("b.csv", 2, "straightlining", ""),
                       ("b.csv", 4, "duplicate_respondent", "2")]
    else:
        assert got == [("a.csv", 2, "duplicate_conflict", ""),
                       ("a.csv", 4, "duplicate_conflict", ""),
                       ("b.csv", 2, "duplicate_conflict", ""),
                       ("b.csv", 4, "duplicate_respondent", "2"),
                       ("b.csv", 5, "duplicate_conflict", "")]
