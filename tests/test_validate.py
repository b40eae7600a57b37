"""Validation: every row analysed or quarantined with one reason; missing is never zero."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import TINY_CSV, replace_in_instrument, tiny, write
from servqual.errors import DataError
from servqual.instrument import load_instrument
from fixtures import check_files

FAULTY = TINY_CSV + "\n".join([
    "r5,East,4,4,4,4,8,4",        # out of scale (P2 = 8)
    "r6,East,4,x,4,4,4,4",        # non-numeric
    "r1,East,4,5,3,3,5,4",        # later exact copy of r1
    "r7,West,,,,,,",              # nothing answered
    ",West,4,4,4,4,4,4",          # no respondent id
    "r8,East,3,3,3,3,3,3",        # conflicting copies of r8 ...
    "r8,East,3,3,3,3,3,2",        # ... all set aside
    "r9,East,4,4,4,4,4,4,4",      # too many fields
    "r10,East,0,4,4,4,4,4",       # out of scale (below 1)
]) + "\n"


def run(tmp_path, csv, **kw):
    inst, data = tiny(tmp_path, csv=csv, **kw)
    return check_files([data], load_instrument(inst)), data


def test_accounting_and_one_reason_per_row(tmp_path):
    validated, data = run(tmp_path, FAULTY)
    q = validated.quality
    assert q.rows_read == 4 + 9
    assert q.rows_valid == 4
    assert q.rows_read == q.rows_valid + q.rows_quarantined
    reasons = {k: v for k, v in q.quarantine_reasons.items() if v}
    assert reasons == {"out_of_scale": 2, "non_numeric": 1, "duplicate_respondent": 1,
                       "all_missing": 1, "missing_respondent_id": 1, "duplicate_conflict": 2,
                       "unparseable": 1}
    quarantine = validated.quarantine.set_index("source_row")
    # Spreadsheet row numbers: the header is row 1, r1 is row 2.
    assert quarantine.loc[6, "reason"] == "out_of_scale"
    assert (quarantine.loc[6, "column"], str(quarantine.loc[6, "value"])) == ("P2", "8")
    assert quarantine.loc[7, "column"] == "E2" and quarantine.loc[7, "value"] == "x"
    assert quarantine.loc[8, "reason"] == "duplicate_respondent"
    assert quarantine.loc[8, "duplicate_of"] == 2
    assert set(quarantine.loc[[11, 12], "reason"]) == {"duplicate_conflict"}
    assert quarantine.loc[13, "reason"] == "unparseable"
    assert quarantine.loc[14, "column"] == "E1"
    assert sorted(validated.responses.meta["respondent_id"]) == ["r1", "r2", "r3", "r4"]


def test_missing_answers_are_missing_never_zero(tmp_path):
    validated, _ = run(tmp_path, TINY_CSV)
    e = validated.responses.expectation
    assert np.isnan(e[3, 0])  # missing code 9
    assert np.isnan(e[2, 1])  # blank
    assert not (e == 0).any() and not (e == 9).any()
    assert validated.quality.answers_missing == 2


def test_original_values_kept_in_quarantine(tmp_path):
    validated, data = run(tmp_path, FAULTY)
    q = validated.quarantine_of(str(data))
    assert list(q.columns[:6]) == ["source_file", "source_row", "reason", "column", "value",
                                   "duplicate_of"]
    assert {"id", "region", "E1", "P3"} <= set(q.columns)
    row = q[q["source_row"] == 7].iloc[0]
    assert row["E2"] == "x" and row["id"] == "r6"


def test_reverse_scored_items(tmp_path):
    text = replace_in_instrument('perception = "P2"', 'perception = "P2"\nreverse = true')
    validated, _ = run(tmp_path, TINY_CSV, instrument=text)
    # r1 answered E2 = 5, P2 = 5 on a 1..5 scale: reverse-scored 1 and 1.
    assert validated.responses.expectation[0, 1] == 1
    assert validated.responses.perception[1, 1] == 3  # 1 + 5 - 3


def test_missing_instrument_column_names_column_and_closest(tmp_path):
    csv = TINY_CSV.replace("P3", "P_3")
    with pytest.raises(DataError) as info:
        run(tmp_path, csv)
    err = info.value
    assert err.exit_code == 65 and err.column == "P3"
    assert "'P_3'" in str(err) and "2026Q3.csv" in str(err)


def test_without_id_column_rows_are_numbered_and_never_deduplicated(tmp_path):
    text = replace_in_instrument('respondent_id = "id"\n', "")
    csv = TINY_CSV + "r1,East,4,5,3,3,5,4\n"
    validated, _ = run(tmp_path, csv, instrument=text)
    assert validated.quality.rows_valid == 5
    assert list(validated.responses.meta["respondent_id"]) == ["2", "3", "4", "5", "6"]


def test_duplicate_across_files_of_the_same_wave(tmp_path):
    text = replace_in_instrument('segments = ["region"]', 'wave = "wave"\nsegments = ["region"]')
    inst = write(tmp_path / "i.toml", text)
    a = write(tmp_path / "a.csv", "wave,id,region,E1,E2,E3,P1,P2,P3\n2026Q3,r1,East,4,5,3,3,5,4\n"
                                  "2026Q3,r2,East,5,4,2,2,3,2\n")
    b = write(tmp_path / "b.csv", "wave,id,region,E1,E2,E3,P1,P2,P3\n2026Q3,r1,East,4,5,3,3,5,4\n"
                                  "2026Q3,r2,East,5,4,2,2,3,3\n2026Q2,r1,East,4,5,3,3,5,4\n")
    validated = check_files([a, b], load_instrument(inst))
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (5, 2, 3)
    assert q.quarantine_reasons["duplicate_respondent"] == 1
    assert q.quarantine_reasons["duplicate_conflict"] == 2
    kept = validated.responses.meta[["wave", "respondent_id"]].astype(str)
    assert sorted(map(tuple, kept.to_numpy())) == [("2026Q2", "r1"), ("2026Q3", "r1")]


def test_straightlining_is_reported_and_optionally_quarantined(tmp_path):
    csv = TINY_CSV + "s1,East,4,4,4,2,2,2\n"
    validated, _ = run(tmp_path, csv)
    assert validated.quality.straightlining == 1 and validated.quality.rows_valid == 5
    text = replace_in_instrument('segments = ["region"]',
                                 'segments = ["region"]\nquarantine_straightlining = true')
    validated, _ = run(tmp_path, csv, instrument=text)
    assert validated.quality.quarantine_reasons["straightlining"] == 1
    assert validated.quality.rows_valid == 4


def test_header_only_file_reads_zero_rows(tmp_path):
    validated, _ = run(tmp_path, "id,region,E1,E2,E3,P1,P2,P3\n")
    assert validated.quality.rows_read == 0


def test_empty_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="empty"):
        run(tmp_path, "")


def test_semicolon_delimiter_and_bom(tmp_path):
    csv = "\ufeff" + TINY_CSV.replace(",", ";")
    validated, _ = run(tmp_path, csv)
    assert validated.quality.rows_valid == 4


def test_wave_from_file_name(tmp_path):
    validated, _ = run(tmp_path, TINY_CSV, name="2025Q2.csv")
    assert set(validated.responses.meta["wave"].astype(str)) == {"2025Q2"}


def test_ids_keep_leading_zeros(tmp_path):
    validated, _ = run(tmp_path, TINY_CSV.replace("r1,", "007,"))
    assert "007" in set(validated.responses.meta["respondent_id"])


# Cells of a text-typed answer column: numbers as exports write them, and what is not one.
CELLS = ["1", "7", " 3 ", "4.0", "+2", "-1.5", ".5", "1e0", "2E+0", "inf", "-Infinity", "５",
         "３.５", "", "   ", None, "x", "五", "1,5", "2 3", "..", "e3", "true", "NaN", "1e400",
         "N/A", "NA", " NA", "null", "Null", "#N/A"]
NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?))")


def oracle(cell):
    """A cell's number (NaN when blank or text) and whether it is text: Python's own parse
    of the NFKC-normalised, stripped cell; a cell that is exactly a text exports write for
    "no value" (NA, N/A, null, NaN, #N/A …, not " NA" or "Null") is blank."""
    if cell is None or cell in {"NaN", "N/A", "NA", "null", "#N/A"}:
        return np.nan, False
    text = unicodedata.normalize("NFKC", cell.strip()).strip()
    if not text:
        return np.nan, False
    if NUMBER.fullmatch(text):
        return float(text), False
    return np.nan, True


@given(st.lists(st.sampled_from(CELLS), min_size=1, max_size=60), st.integers(1, 4))
@settings(max_examples=150, deadline=None)
def test_text_answer_cells_parse_as_python_parses_them(cells, pieces):
    """numbers_into on a text column (parsed once per distinct text) against the oracle,
    cell by cell, on an Arrow column of several chunks as the CSV reader gives."""
    from servqual.validation.cells import numbers_into

    bounds = np.linspace(0, len(cells), pieces + 1).astype(int)
    chunked = pa.chunked_array([pa.array(cells[a:b], pa.string())
                                for a, b in zip(bounds[:-1], bounds[1:])], pa.string())
    series = pd.Series(pd.arrays.ArrowStringArray(chunked))
    out = np.empty(len(cells), dtype=np.float32)
    with np.errstate(over="ignore"):
        bad = numbers_into(series, out)
        expected = [oracle(c) for c in cells]
        want = np.array([v for v, _ in expected], dtype=np.float32)
    np.testing.assert_array_equal(out, want)  # NaN where NaN, infinities included
    assert bad.tolist() == [b for _, b in expected]


def test_the_quarantine_does_not_keep_the_file_in_memory(tmp_path):
    """A quarantined row is copied out of the table read from the file: a slice of the
    table would keep its whole block of rows alive for the rest of the run."""
    rows = [f"r{i},East,4,5,3,3,5,4" for i in range(40_000)]
    rows[123] = "r123,East,8,5,3,3,5,4"  # out of scale
    validated, _ = run(tmp_path, "id,region,E1,E2,E3,P1,P2,P3\n" + "\n".join(rows) + "\n")
    quarantine = validated.quarantine
    assert quarantine["source_row"].tolist() == [125]
    held = 0
    for j in range(quarantine.shape[1]):
        array = quarantine.iloc[:, j].array
        if hasattr(array, "__arrow_array__"):
            arrow = array.__arrow_array__()
            chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
            held += sum(b.size for c in chunks for b in c.buffers() if b is not None)
    assert 0 < held < 4096  # a few bytes per column, not 40,000 rows' worth
