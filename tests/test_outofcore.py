"""The out-of-core path (DuckDB) gives the in-memory path's verdicts and aggregates.

Every statistic computed in SQL is compared with :func:`servqual.stats.aggregate.aggregate`
(itself tested against scipy, statsmodels and hand-computed values), and every verdict with
:func:`servqual.validate.validate`, on the sample and on small files made to be awkward.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import INSTRUMENT, SAMPLE
from fixtures import TINY_CSV, TINY_INSTRUMENT, replace_in_instrument, tiny, write
from servqual.errors import DataError, UsageError
from servqual.instrument import load_instrument
from servqual.ingest.layout import TextLayout
from servqual.outofcore import Staging, check_and_aggregate
from servqual.pipeline import aggregated, choose_engine, ingest_and_validate, read_files
from servqual.stats.aggregate import CROSS_KEYS, HISTOGRAM_KEYS, Aggregates
from servqual.stats.moments import KEYS


def assert_same_aggregates(a: Aggregates, b: Aggregates) -> None:
    for name, keys in (("moments", KEYS), ("histograms", HISTOGRAM_KEYS),
                       ("crossproducts", CROSS_KEYS)):
        x = getattr(a, name).set_index(keys).sort_index()
        y = getattr(b, name).set_index(keys).sort_index()
        assert list(x.columns) == list(y.columns), name
        assert x.index.equals(y.index), (name, x.index.symmetric_difference(y.index)[:10])
        np.testing.assert_allclose(y.to_numpy(dtype=float), x.to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-9, err_msg=name)
    assert a.importance == b.importance


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantine values compared as text, numbers as numbers (5, '5' and 5.0 alike)."""
    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return ""
        try:
            return repr(float(v))
        except (TypeError, ValueError):
            return str(v)
    return frame.reset_index(drop=True).astype(object).map(cell)


def compare(paths, instrument_path, *, whole: bool = True, raw_values: bool = True):
    """Both paths on the same files: verdicts, accounting and aggregates must agree."""
    inst = load_instrument(instrument_path)
    validated = ingest_and_validate(paths, inst)
    checked, aggregates, waves = check_and_aggregate(paths, inst, whole=whole)
    assert checked.quality.as_dict() == validated.quality.as_dict()
    mem, sql = validated.quarantine, checked.quarantine
    assert list(mem.columns) == list(sql.columns)
    if raw_values:
        pd.testing.assert_frame_equal(sql.reset_index(drop=True), mem.reset_index(drop=True),
                                      check_dtype=False)
    else:  # streamed: the file's values as text, duplicates as parsed
        fixed = ["source_file", "source_row", "reason", "column", "value", "duplicate_of"]
        pd.testing.assert_frame_equal(normalised(sql[fixed]), normalised(mem[fixed]))
    if len(validated.responses):
        expected = aggregated(validated, inst)
        assert waves == expected.waves
        assert_same_aggregates(expected.aggregates, aggregates)
    else:
        assert waves == []
    for path in paths if raw_values else []:
        pd.testing.assert_frame_equal(checked.quarantine_of(str(path)),
                                      validated.quarantine_of(str(path)), check_dtype=False)
    return validated, checked


# --------------------------------------------------------------------------------------------
# The sample


def test_sample_equals_in_memory_path():
    validated, checked = compare(SAMPLE, INSTRUMENT)
    assert checked.quality.rows_quarantined == 64  # the planted faulty rows


def test_streamed_sample_equals_in_memory_path():
    compare(SAMPLE[:3], INSTRUMENT, whole=False, raw_values=False)


def test_parquet_equals_csv(tmp_path):
    """Parquet files (typed columns, rows numbered from 1) give the CSV's aggregates."""
    inst = load_instrument(INSTRUMENT)
    parquet = []
    for path in SAMPLE[:2]:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={
            c: "string" for c in ("respondent_id", "customer_class", "region", "survey_mode")
        }))
        dest = tmp_path / (path.stem + ".parquet")
        pq.write_table(table, dest, row_group_size=700)  # several row groups
        parquet.append(dest)
    validated = ingest_and_validate(SAMPLE[:2], inst)
    checked, aggregates, waves = check_and_aggregate(parquet, inst)
    assert_same_aggregates(aggregated(validated, inst).aggregates, aggregates)
    assert checked.quality.rows_valid == validated.quality.rows_valid
    mem = validated.quarantine.sort_values(["source_file", "source_row"])
    sql = checked.quarantine.sort_values(["source_file", "source_row"])
    assert list(sql["reason"]) == list(mem["reason"])
    assert list(sql["source_row"]) == list(mem["source_row"] - 1)  # no header row


# --------------------------------------------------------------------------------------------
# Awkward files


def test_every_reason_and_awkward_values(tmp_path):
    """Each quarantine reason, in order of precedence, and cells DuckDB must not judge alone:
    full-width digits (valid), '1_000' and ' nan' (not numbers), Unicode spaces around
    labels, blanks, missing codes, a row that does not split."""
    csv = textwrap.dedent("""\
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
    inst, data = tiny(tmp_path, csv=csv)
    validated, checked = compare([data], inst)
    reasons = checked.quarantine["reason"].value_counts().to_dict()
    assert reasons == {"missing_respondent_id": 1, "non_numeric": 3, "out_of_scale": 2,
                       "all_missing": 1, "duplicate_respondent": 1, "duplicate_conflict": 2,
                       "unparseable": 2}


def test_weights_importance_overall_reverse_and_adequate(tmp_path):
    """The general float path: sampling weights (and invalid ones), importance points (valid,
    off 100, all zero, negative, missing), an overall rating, a reverse-scored item and the
    zone of tolerance."""
    instrument = TINY_INSTRUMENT.replace(
        'segments = ["region"]',
        'segments = ["region", "mode"]\nsampling_weight = "w"\n'
        'overall_satisfaction = "overall"\nwave = "wave"')
    alpha = '[dimensions.alpha]\nlabel = { en = "Alpha", zh-CN = "甲维度" }'
    instrument = instrument.replace(alpha, alpha + '\nimportance = "ia"')
    instrument = instrument.replace('[dimensions.beta]\nlabel = { en = "Beta", zh-CN = "乙维度" }',
                                    '[dimensions.beta]\nlabel = { en = "Beta", zh-CN = "乙维度" }'
                                    '\nimportance = "ib"')
    instrument = instrument.replace('perception = "P2"', 'perception = "P2"\nreverse = true')
    for n in (1, 2, 3):
        instrument = instrument.replace(f'perception = "P{n}"',
                                        f'perception = "P{n}"\nadequate = "A{n}"', 1)
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "wave": rng.choice(["2025Q4", "2026Q1", "2026Q2"], n),
        "region": rng.choice(["East", "West", "North", ""], n),
        "mode": rng.choice(["web", "phone"], n),
        **{f"E{j}": rng.integers(1, 6, n).astype(float) for j in (1, 2, 3)},
        **{f"P{j}": rng.integers(1, 6, n).astype(float) for j in (1, 2, 3)},
        **{f"A{j}": rng.integers(1, 6, n).astype(float) for j in (1, 2, 3)},
        "w": rng.gamma(2.0, 0.5, n).round(3),
        "ia": rng.integers(0, 80, n).astype(float),
        "overall": rng.integers(1, 6, n).astype(float),
    })
    frame["ib"] = 100 - frame["ia"]
    frame.loc[::17, "ib"] += 7  # off 100: rescaled
    frame.loc[::23, ["ia", "ib"]] = 0  # all zero
    frame.loc[::29, "ia"] = -5  # invalid
    frame.loc[::31, "ib"] = np.nan  # missing
    frame.loc[::13, "E2"] = np.nan
    frame.loc[::11, "A3"] = np.nan
    frame.loc[::19, "P1"] = 9  # missing code
    frame.loc[5, "w"] = 0  # invalid weight
    frame.loc[6, "w"] = -1
    frame.loc[7, "w"] = np.nan
    frame.loc[8, "overall"] = np.nan
    frame.loc[[40, 41], "E1"] = [2.5, 3.5]  # half points
    text = frame.to_csv(index=False, lineterminator="\n").replace(",,", ", ,", 3)
    text += "r9,2026Q2,East,web,4,4,4,4,4,4,4,4,4,abc,50,3,50\n"  # text weight
    inst_path = write(tmp_path / "instrument.toml", instrument)
    data = write(tmp_path / "survey.csv", text)
    validated, checked = compare([data], inst_path)
    assert checked.quality.quarantine_reasons["invalid_weight"] == 3
    assert checked.quality.quarantine_reasons["non_numeric"] == 1


def test_straightlining_quarantined_and_counted(tmp_path):
    csv = TINY_CSV + "r5,East,4,4,4,4,4,4\nr6,West,2,2,,2,2,2\nr7,West,3,3,3,3,3,3\n"
    instrument = replace_in_instrument('respondent_id = "id"',
                                       'respondent_id = "id"\nquarantine_straightlining = true')
    inst, data = tiny(tmp_path, csv=csv, instrument=instrument)
    validated, checked = compare([data], inst)
    assert checked.quality.quarantine_reasons["straightlining"] == 2
    counted, data2 = tiny(tmp_path / "counted", csv=csv)
    validated, checked = compare([data2], counted)
    assert checked.quality.straightlining == 2


def test_header_rows_delimiters_and_encodings(tmp_path):
    """A Qualtrics-like export (3 header rows), semicolons, tabs, a byte-order mark and a
    GB18030 file with Chinese labels."""
    qualtrics = replace_in_instrument("segments", "header_rows = 3\nsegments")
    body = TINY_CSV.splitlines()
    three = "\n".join([body[0], "question texts,,,,,,,", '{"ImportId":"x"},,,,,,,'] + body[1:])
    inst, data = tiny(tmp_path / "q", csv=three + "\n", instrument=qualtrics)
    compare([data], inst)
    inst, data = tiny(tmp_path / "semi", csv=TINY_CSV.replace(",", ";"))
    compare([data], inst)
    inst, data = tiny(tmp_path / "tsv", csv=TINY_CSV.replace(",", "\t"), name="2026Q3.tsv")
    compare([data], inst)
    inst, data = tiny(tmp_path / "bom", csv="\ufeff" + TINY_CSV)
    compare([data], inst)
    gb = replace_in_instrument("segments", 'encoding = "gb18030"\nsegments')
    inst = write(tmp_path / "gb" / "instrument.toml", gb)
    data = write(tmp_path / "gb" / "2026Q3.csv", TINY_CSV.replace("East", "华东"),
                 encoding="gb18030")
    compare([data], inst)


def test_duplicates_across_files_and_waves_from_a_column(tmp_path):
    """Two files of the same wave: a repeated respondent is a later duplicate, one with other
    answers a conflict in both files; a third file holds two waves."""
    instrument = replace_in_instrument("segments", 'wave = "wave"\nsegments')
    a = "wave,id,region,E1,E2,E3,P1,P2,P3\n" \
        "2026Q2,r1,East,4,5,3,3,5,4\n2026Q2,r2,East,5,4,2,2,3,2\n2026Q2,r3,West,3,2,5,4,4,5\n"
    b = "wave,id,region,E1,E2,E3,P1,P2,P3\n" \
        "2026Q2,r1,East,4,5,3,3,5,4\n2026Q2,r2,East,5,4,2,2,3,3\n2026Q2,r4,West,3,2,5,4,4,5\n" \
        " ,r5,West,3,2,5,4,4,5\n,r6,West,3,2,5,4,4,5\n"  # no wave: a space, and nothing
    c = "wave,id,region,E1,E2,E3,P1,P2,P3\n" \
        "2026Q1,r1,East,4,5,3,3,5,4\n2026Q3,r1,East,1,5,3,3,5,4\n2026Q3,r1,East,1,5,3,3,5,4\n"
    inst = write(tmp_path / "instrument.toml", instrument)
    paths = [write(tmp_path / n, t) for n, t in (("a.csv", a), ("b.csv", b), ("c.csv", c))]
    validated, checked = compare(paths, inst)
    q = checked.quarantine
    assert sorted(q["reason"]) == ["duplicate_conflict", "duplicate_conflict",
                                   "duplicate_respondent", "duplicate_respondent",
                                   "missing_wave", "missing_wave"]
    compare(paths, inst, whole=False, raw_values=False)


def test_a_file_with_no_rows_and_an_all_quarantined_file(tmp_path):
    inst, data = tiny(tmp_path, csv=TINY_CSV)
    empty = write(tmp_path / "2026Q2.csv", TINY_CSV.splitlines()[0] + "\n")
    bad = write(tmp_path / "2026Q1.csv", TINY_CSV.splitlines()[0] + "\nr1,East,8,8,8,8,8,8\n")
    compare([empty, bad, data], inst)
    validated, checked = compare([bad], inst)
    assert checked.quality.rows_valid == 0
    with pytest.raises(DataError, match="every row was quarantined"):
        read_files([bad], load_instrument(inst), engine="duckdb")


def test_missing_column_and_missing_file_are_the_same_errors(tmp_path):
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("P2", "Q2"))
    with pytest.raises(DataError, match="'P2'"):
        check_and_aggregate([data], load_instrument(inst))
    with pytest.raises(Exception, match="does not exist"):
        check_and_aggregate([tmp_path / "nope.csv"], load_instrument(inst))


def test_source_rows_skip_unparseable_records():
    """Records keep the row numbers a spreadsheet shows when records in between did not
    split (pyarrow numbers records from 1), whatever batch of a streamed file they are in."""
    layout = TextLayout(encoding="utf-8", names=[], rest=[], header_row=1, first_row=2,
                        body_start=0, end=0, options=None)
    invalid = [(3, "x"), (6, "y")]  # spreadsheet rows 4 and 7
    assert list(layout.source_rows(np.arange(6), invalid)) == [2, 3, 5, 6, 8, 9]
    assert list(layout.source_rows(np.arange(4, 6), invalid)) == [8, 9]


# --------------------------------------------------------------------------------------------
# Any small survey


answers = st.one_of(st.integers(0, 6).map(str), st.sampled_from(["", "9", "x", " 3 ", "２"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", "r4", "", "r5"]),
                               st.sampled_from(["East", "West", "", " North"]),
                               st.lists(answers, min_size=6, max_size=6)),
                     min_size=1, max_size=25))
def test_any_small_survey_gives_the_same_answer(tmp_path_factory, rows):
    """Random rows with repeated ids, blanks, text, missing codes and out-of-scale answers:
    the two paths agree on every verdict, count and aggregate."""
    folder = tmp_path_factory.mktemp("prop")
    lines = ["id,region,E1,E2,E3,P1,P2,P3"] + [",".join([i, r, *a]) for i, r, a in rows]
    inst, data = tiny(folder, csv="\n".join(lines) + "\n")
    compare([data], inst)


# --------------------------------------------------------------------------------------------
# Choosing the engine


def test_engine_choice_by_size_and_format(tmp_path, monkeypatch):
    import servqual.engines as engines

    small = write(tmp_path / "a.csv", "x\n")
    assert choose_engine([small]) == "memory"
    monkeypatch.setattr(engines, "DUCKDB_FROM_BYTES", 1)
    assert choose_engine([small]) == "duckdb"
    parquet = tmp_path / "a.parquet"
    assert choose_engine([parquet]) == "duckdb"
    with pytest.raises(UsageError):
        choose_engine([parquet], "memory")
    with pytest.raises(UsageError):
        choose_engine([small], "fast")


def test_staging_can_be_closed_twice():
    with Staging(load_instrument(INSTRUMENT)) as staging:
        staging.close()
    staging.close()


def test_other_formats_come_through_servqual_s_own_reader(tmp_path, monkeypatch):
    """Files the pyarrow reader does not take (spreadsheets, once servqual.ingest reads them)
    are read by servqual.ingest.read_table and then staged: same verdicts, row numbers and
    aggregates. Shown here by sending CSV files that way."""
    import servqual.outofcore as outofcore

    monkeypatch.setattr(outofcore, "TEXT_SUFFIXES", ())
    csv = TINY_CSV + "r5,East,4,4,4,4,4\nr6,East,8,4,4,4,4,4\nr1,East,4,5,3,3,5,4\n"
    inst, data = tiny(tmp_path, csv=csv)
    compare([data], inst)
    compare(SAMPLE[:2], INSTRUMENT)


def test_a_long_layout_is_refused_not_misread(tmp_path):
    """The out-of-core path reads wide files only: an instrument describing a long layout is
    refused with a message, and report's automatic choice keeps such files in memory."""
    long = TINY_INSTRUMENT.replace('respondent_id = "id"',
                                   'respondent_id = "id"\nlayout = "long"', 1)
    long = long.replace("[analysis]", '[instrument.long]\nitem = "item"\nexpectation = "E"\n'
                        'perception = "P"\n\n[analysis]', 1)
    for n in (1, 2, 3):
        long = long.replace(f'expectation = "E{n}"\nperception = "P{n}"\n', "")
    inst_path = write(tmp_path / "long.toml", long)
    inst = load_instrument(inst_path)
    with pytest.raises(DataError, match="long layout"):
        Staging(inst)
    data = write(tmp_path / "2026Q3.csv", "id,region,item,E,P\nr1,East,i1,4,3\n")
    assert choose_engine([data], "auto", inst) == "memory"


def test_progress_is_reported_while_streaming_and_aggregating():
    """What the progress bar shows: bytes read of each streamed file, then the aggregation
    steps, never past their total and ending complete."""
    calls = []
    check_and_aggregate(SAMPLE[:2], load_instrument(INSTRUMENT), whole=False,
                        progress=lambda what, done, total: calls.append((what, done, total)))
    reading = [c for c in calls if c[0].startswith("reading")]
    aggregating = [c for c in calls if c[0].startswith("aggregating")]
    assert {c[0] for c in reading} == {f"reading {p.name} (MB)" for p in SAMPLE[:2]}
    assert all(0 <= done <= total for _, done, total in calls)
    for path in SAMPLE[:2]:
        last = [c for c in reading if path.name in c[0]][-1]
        assert last[1] == last[2] == pytest.approx(path.stat().st_size / 1e6)
    assert aggregating[-1][1] == aggregating[-1][2] and len(aggregating) >= 5
