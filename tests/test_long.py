"""Long files (one row per respondent × item): every input row accounted for, respondents
reassembled from their rows without losing or double-counting anything."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fixtures import (TINY_CSV, TINY_DIMENSIONS, TINY_INSTRUMENT, TINY_ITEMS, TINY_OVERALL,
                      cells, write, write_xlsx)
from servqual.errors import InstrumentError
from servqual.instrument import load_instrument
from fixtures import check_files, run_and_check

LONG_INSTRUMENT = "\n".join(
    line for line in TINY_INSTRUMENT.splitlines()
    if not line.startswith(("expectation =", "perception ="))
).replace('segments = ["region"]', '''segments = ["region"]
layout = "long"

[instrument.long]
item = "item"
expectation = "E"
perception = "P"''').replace('id = "i3"', 'id = "i3"\ncode = "Q3"') + "\n"


def to_long(csv: str = TINY_CSV, codes=("i1", "i2", "Q3")) -> list[str]:
    """The tiny survey as long rows: id, region, item, E, P (blanks kept as blanks)."""
    rows = []
    for line in csv.splitlines()[1:]:
        rid, region, *answers = line.split(",")
        for j, code in enumerate(codes):
            rows.append(f"{rid},{region},{code},{answers[j]},{answers[j + 3]}")
    return rows


def long_file(tmp_path, rows: list[str], name="2026Q3.csv", instrument=LONG_INSTRUMENT,
              header="id,region,item,E,P"):
    inst = write(tmp_path / "instrument.toml", instrument)
    data = write(tmp_path / name, "\n".join([header, *rows]) + "\n")
    return load_instrument(inst), data


def test_long_file_gives_the_same_results_as_the_wide_one(tmp_path):
    instrument, data = long_file(tmp_path, to_long())
    results, validated = run_and_check([data], instrument)
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (12, 12, 0)
    assert (q.respondents_valid, q.answers_missing) == (4, 2)
    items = results.items.set_index("item")
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items.loc[item, key] == pytest.approx(value), (item, key)
    dims = results.dimensions.set_index("dimension")
    for dim, expected in TINY_DIMENSIONS.items():
        assert dims.loc[dim, "gap_mean"] == pytest.approx(expected["gap_mean"])
    assert results.overall["servqual_unweighted"] == pytest.approx(TINY_OVERALL)


def test_row_order_does_not_matter(tmp_path):
    rows = to_long()
    shuffled = [rows[i] for i in np.random.default_rng(7).permutation(len(rows))]
    instrument, data = long_file(tmp_path, shuffled)
    validated = check_files([data], instrument)
    order = np.argsort(validated.responses.meta["respondent_id"].to_numpy())
    np.testing.assert_array_equal(
        validated.responses.expectation[order],
        [[4, 5, 3], [5, 4, 2], [3, np.nan, 5], [np.nan, 4, 4]])
    # A respondent is numbered by its first row in the file.
    first = {rid: 2 + min(n for n, r in enumerate(shuffled) if r.startswith(rid + ","))
             for rid in ("r1", "r2", "r3", "r4")}
    meta = validated.responses.meta
    assert dict(zip(meta["respondent_id"], meta["source_row"])) == first


FAULTY_ROWS = [
    "r5,East,i1,4,8",   # 14 out of scale: this row only; r5 is still analysed
    "r5,East,i2,4,4",   # 15
    "r1,East,i2,5,5",   # 16 a later exact copy of r1's i2 row (row 3)
    "r6,East,i9,3,3",   # 17 no such item
    "r7,West,i1,3,3",   # 18 two different answers to i1:
    "r7,West,i1,3,2",   # 19 ... none of r7's rows can be trusted
    "r7,West,i2,4,4",   # 20
    "r8,East,i1,3,3",   # 21 r8 is in two regions at once:
    "r8,West,i2,3,3",   # 22 ... both rows set aside
    "r9,East,i1,,",     # 23 r9 answered nothing (9 is the missing code)
    "r9,East,i2,9,9",   # 24
    ",East,i1,3,3",     # 25 no respondent id
    "r10,East,i1,x,3",  # 26 text for a number
]


def test_bad_long_rows_are_quarantined_one_by_one(tmp_path):
    instrument, data = long_file(tmp_path, to_long() + FAULTY_ROWS)
    validated = check_files([data], instrument)
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (25, 13, 12)
    assert {k: v for k, v in q.quarantine_reasons.items() if v} == {
        "out_of_scale": 1, "duplicate_respondent": 1, "unknown_item": 1,
        "duplicate_conflict": 5, "all_missing": 2, "missing_respondent_id": 1,
        "non_numeric": 1}
    reasons = validated.quarantine.set_index("source_row")
    assert reasons.loc[14, "reason"] == "out_of_scale" and reasons.loc[14, "column"] == "P"
    assert reasons.loc[16, "duplicate_of"] == 3
    assert reasons.loc[17, ["column", "value"]].tolist() == ["item", "i9"]
    assert set(reasons.loc[[18, 19, 20, 21, 22], "reason"]) == {"duplicate_conflict"}
    assert set(reasons.loc[[23, 24], "reason"]) == {"all_missing"}
    # Each bad row once; the 12 good rows and r5's row 15 went into respondents.
    assert sorted(reasons.index) == [14, *range(16, 27)]
    # r5 is reassembled from its one good row: i1 (row 14) is missing, not zero.
    meta = validated.responses.meta
    r5 = int(np.flatnonzero(meta["respondent_id"].to_numpy() == "r5")[0])
    np.testing.assert_array_equal(validated.responses.perception[r5], [np.nan, 4, np.nan])
    assert q.respondents_valid == 5 and q.answers_missing == 2 + 4


def test_straightlining_quarantines_all_of_a_respondents_rows(tmp_path):
    flat = ["s1,East,i1,4,2", "s1,East,i2,4,2", "s1,East,Q3,4,2"]
    instrument, data = long_file(tmp_path, to_long() + flat)
    validated = check_files([data], instrument)
    assert validated.quality.straightlining == 1 and validated.quality.rows_valid == 15
    text = LONG_INSTRUMENT.replace('layout = "long"',
                                   'layout = "long"\nquarantine_straightlining = true')
    instrument, data = long_file(tmp_path, to_long() + flat, instrument=text)
    validated = check_files([data], instrument)
    q = validated.quality
    assert (q.rows_valid, q.quarantine_reasons["straightlining"], q.respondents_valid) == (12, 3, 4)
    assert sorted(validated.quarantine["source_row"]) == [14, 15, 16]


def test_duplicates_across_files_quarantine_every_row_of_the_copy(tmp_path):
    text = LONG_INSTRUMENT.replace('layout = "long"', 'layout = "long"\nwave = "wave"').replace(
        'id = "i2"', 'id = "i2"\nreverse = true')
    inst = write(tmp_path / "i.toml", text)
    header = "wave,id,region,item,E,P"
    rows = ["2026Q3," + r for r in to_long()]
    a = write(tmp_path / "a.csv", "\n".join([header, *rows[:6]]) + "\n")  # r1, r2
    copy = rows[:3]  # r1 again, identical
    conflict = [r.replace("2026Q3,r2,East,i1,5,2", "2026Q3,r2,East,i1,5,3") for r in rows[3:6]]
    b = write(tmp_path / "b.csv", "\n".join([header, *copy, *conflict, *rows[6:]]) + "\n")
    validated = check_files([a, b], load_instrument(inst))
    q = validated.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (6 + 12, 9, 9)
    assert q.quarantine_reasons["duplicate_respondent"] == 3
    assert q.quarantine_reasons["duplicate_conflict"] == 6  # r2's rows in both files
    assert sorted(validated.responses.meta["respondent_id"]) == ["r1", "r3", "r4"]
    files = {f["file"]: f for f in q.files}
    assert (files[str(a)]["rows_valid"], files[str(a)]["rows_quarantined"]) == (3, 3)
    assert (files[str(b)]["rows_valid"], files[str(b)]["rows_quarantined"]) == (6, 6)
    copies = validated.quarantine[validated.quarantine["reason"] == "duplicate_respondent"]
    assert sorted(copies["source_row"]) == [2, 3, 4]
    assert set(copies["duplicate_of"]) == {2}
    # The reverse-scored item is shown as it was read (E = 5 for r1's i2), not reversed.
    assert copies.set_index("item").loc["i2", "E"] == 5


def test_long_layout_needs_a_respondent_id(tmp_path):
    text = LONG_INSTRUMENT.replace('respondent_id = "id"\n', "")
    with pytest.raises(InstrumentError) as info:
        load_instrument(write(tmp_path / "i.toml", text))
    assert info.value.key == "instrument.respondent_id"


def test_long_item_codes_must_be_unique(tmp_path):
    text = LONG_INSTRUMENT.replace('code = "Q3"', 'code = "i1"')
    with pytest.raises(InstrumentError) as info:
        load_instrument(write(tmp_path / "i.toml", text))
    assert info.value.key == "items[0].code"


def test_numeric_item_codes_in_a_workbook_match(tmp_path):
    text = LONG_INSTRUMENT.replace('id = "i1"', 'id = "i1"\ncode = "1"').replace(
        'id = "i2"', 'id = "i2"\ncode = "2"').replace('code = "Q3"', 'code = "3"')
    rows = [r.split(",") for r in ["id,region,item,E,P", *to_long(codes=("1", "2", "3"))]]
    path = write_xlsx(tmp_path / "2026Q3.xlsx", cells(rows))  # item codes as numbers
    validated = check_files([path], load_instrument(write(tmp_path / "i.toml", text)))
    assert (validated.quality.rows_valid, validated.quality.respondents_valid) == (12, 4)


def test_validate_command_prints_rows_reasons_and_respondents(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from servqual.cli import app

    long_file(tmp_path, to_long() + FAULTY_ROWS)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "2026Q3.csv"), "--instrument",
                                      str(tmp_path / "instrument.toml")])
    assert result.exit_code == 0, result.output
    assert "rows_read 25 = rows_valid 13 + rows_quarantined 12" in result.output
    assert "respondents analysed: 5" in result.output
    for reason, count in (("unknown_item", 1), ("duplicate_conflict", 5), ("all_missing", 2)):
        assert re.search(rf"{reason}\W+{count}\b", result.output), reason
    rejected = pd.read_csv(tmp_path / "2026Q3.rejected.csv", encoding="utf-8-sig")
    assert len(rejected) == 12 and list(rejected.columns[6:]) == ["id", "region", "item", "E", "P"]
