"""The in-memory path a file at a time (pipeline.stream_files) gives what validating all the
files together gives: the same aggregates, verdicts, quarantine and row accounting."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from conftest import INSTRUMENT, SAMPLE
from fixtures import TINY_INSTRUMENT, replace_in_instrument, write
from servqual import pipeline
from servqual.engines import read_ahead
from servqual.instrument import load_instrument
from servqual.pipeline import aggregated, ingest_and_validate, read_files
from test_outofcore import assert_same_aggregates


def assert_same_as_joint(paths, instrument_path):
    """read_files in memory against validate() over every file at once, then aggregate()."""
    inst = load_instrument(instrument_path)
    data, checked = read_files(paths, inst, engine="memory")
    validated = ingest_and_validate(paths, inst)
    expected = aggregated(validated, inst)
    assert data.waves == expected.waves
    assert data.quality.as_dict() == validated.quality.as_dict()
    assert_same_aggregates(expected.aggregates, data.aggregates)
    pd.testing.assert_frame_equal(checked.quarantine.reset_index(drop=True),
                                  validated.quarantine.reset_index(drop=True))
    for path in paths:
        pd.testing.assert_frame_equal(checked.quarantine_of(str(path)),
                                      validated.quarantine_of(str(path)))
    return data, checked


def test_sample_a_file_at_a_time_equals_all_files_at_once(monkeypatch):
    calls = []
    real = pipeline.aggregate

    def counted(responses, inst):
        calls.append(len(responses))
        return real(responses, inst)

    monkeypatch.setattr(pipeline, "aggregate", counted)
    data, checked = read_files(SAMPLE, load_instrument(INSTRUMENT), engine="memory")
    # Streamed: one aggregation per file, and no respondents held at the end.
    assert len(calls) == len(SAMPLE) and sum(calls) == data.quality.rows_valid
    assert len(checked.responses) == 0
    monkeypatch.undo()
    data, _ = assert_same_as_joint(SAMPLE, INSTRUMENT)
    assert data.quality.rows_quarantined == 64  # the planted faulty rows


WAVE_INSTRUMENT = replace_in_instrument('respondent_id = "id"',
                                        'respondent_id = "id"\nwave = "wave"')


def test_files_sharing_a_wave_are_checked_together_for_duplicates(tmp_path):
    """Two files of one wave: a respondent in both is found only by comparing the files,
    so they are validated together (and a third file of another wave with them)."""
    inst = write(tmp_path / "instrument.toml", WAVE_INSTRUMENT)
    east = write(tmp_path / "east.csv", textwrap.dedent("""\
        id,wave,region,E1,E2,E3,P1,P2,P3
        r1,2026Q3,East,4,5,3,3,5,4
        r2,2026Q3,East,5,4,2,2,3,2
        """))
    west = write(tmp_path / "west.csv", textwrap.dedent("""\
        id,wave,region,E1,E2,E3,P1,P2,P3
        r2,2026Q3,East,5,4,2,2,3,2
        r3,2026Q3,West,3,,5,4,4,5
        """))
    older = write(tmp_path / "older.csv", textwrap.dedent("""\
        id,wave,region,E1,E2,E3,P1,P2,P3
        r1,2026Q2,East,4,4,4,3,3,3
        r2,2026Q2,West,5,5,5,4,4,4
        """))
    data, checked = assert_same_as_joint([older, east, west], inst)
    assert data.quality.quarantine_reasons["duplicate_respondent"] == 1
    assert checked.quarantine["source_file"].tolist() == [str(west)]
    assert data.waves == ["2026Q2", "2026Q3"]
    # Files being read ahead (as the command line passes them) are let go before the files
    # are read again together: no table is held or read for nothing meanwhile.
    later = write(tmp_path / "later.csv", older.read_text().replace("2026Q2", "2026Q4"))
    files, loaded = [older, east, west, later], load_instrument(inst)
    with read_ahead(pipeline.read_all(files, loaded)) as ahead:
        again, _ = read_files(files, loaded, engine="memory", tables=ahead)
        with pytest.raises(StopIteration):
            next(ahead)  # the file after west was being read ahead: dropped
    assert again.waves == ["2026Q2", "2026Q3", "2026Q4"]


def test_a_file_with_every_row_quarantined_among_others(tmp_path):
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    good = write(tmp_path / "2026Q2.csv", "id,region,E1,E2,E3,P1,P2,P3\nr1,East,4,5,3,3,5,4\n")
    bad = write(tmp_path / "2026Q3.csv", "id,region,E1,E2,E3,P1,P2,P3\nr1,East,7,5,3,3,5,4\n")
    data, _ = assert_same_as_joint([good, bad], inst)
    assert data.waves == ["2026Q2"]
    assert data.quality.quarantine_reasons["out_of_scale"] == 1
