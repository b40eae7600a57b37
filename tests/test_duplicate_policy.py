"""``duplicates = "keep_first" | "keep_last"`` (contract §5): one respondent submitting twice
(a Google Form) keeps one submission instead of losing both as a conflict."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fixtures import TINY_CSV, TINY_ITEMS, replace_in_instrument, write
from servqual.cli import app
from servqual.models import Reason
from servqual.validation.duplicates import judge

EARLIER_R2 = "r2,East,1,1,1,5,5,5"  # r2's other submission: it disagrees with TINY_CSV's


def test_the_rule_by_hand():
    group = np.array(["a", "b", "a", "a"], dtype=object)
    digest = np.array([1, 2, 1, 3], dtype=np.uint64)  # a's third copy disagrees
    rows = np.array([2, 3, 4, 5])
    conflict, respondent = Reason.duplicate_conflict, Reason.duplicate_respondent
    reason, first = judge(group, digest, rows)
    assert reason.tolist() == [conflict, 0, conflict, conflict]
    assert first.tolist() == [-1, -1, -1, -1]
    reason, first = judge(group, digest, rows, "keep_first")
    assert reason.tolist() == [0, 0, respondent, respondent] and first.tolist() == [-1, -1, 2, 2]
    reason, first = judge(group, digest, rows, "keep_last")
    assert reason.tolist() == [respondent, 0, respondent, 0] and first.tolist() == [5, -1, 5, -1]


def run(tmp_path, files, keep, engine_options, engine):
    instrument = replace_in_instrument('respondent_id = "id"',
                                       f'respondent_id = "id"\nduplicates = "{keep}"')
    inst = write(tmp_path / "instrument.toml", instrument)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, [
        "report", *map(str, files), "--instrument", str(inst), "--wave", "2026Q3",
        *engine_options(engine), "--out", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rejected = [(r["source_file"].rsplit("/", 1)[-1], r["source_row"], r["reason"],
                     r["duplicate_of"]) for r in csv.DictReader(fh)]
    return json.loads(out.read_text(encoding="utf-8")), rejected


def assert_hand_figures(results):
    items = {i["item"]: i for i in results["items"]}
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items[item][key] == pytest.approx(value), (item, key)


@pytest.mark.parametrize("engine", ["memory", "duckdb", "dask"])
def test_keep_last_across_files_and_keep_first_within_one(tmp_path, engine_options, engine):
    earlier = write(tmp_path / "a" / "part1.csv", TINY_CSV.splitlines()[0] + "\n" + EARLIER_R2)
    later = write(tmp_path / "a" / "part2.csv", TINY_CSV)
    results, rejected = run(tmp_path / "a", [earlier, later], "keep_last", engine_options,
                            engine)
    assert_hand_figures(results)
    assert rejected == [("part1.csv", "2", "duplicate_respondent", "3")]

    both = write(tmp_path / "b" / "survey.csv", TINY_CSV + EARLIER_R2 + "\n")
    results, rejected = run(tmp_path / "b", [both], "keep_first", engine_options, engine)
    assert_hand_figures(results)
    assert rejected == [("survey.csv", "6", "duplicate_respondent", "3")]

    results, rejected = run(tmp_path / "c", [both], "quarantine", engine_options, engine)
    assert sorted(rejected) == [("survey.csv", "3", "duplicate_conflict", ""),
                                ("survey.csv", "6", "duplicate_conflict", "")]
    assert results["data_quality"]["rows_valid"] == 3


def test_an_unknown_policy_or_a_long_layout_is_refused(tmp_path):
    from test_long import LONG_INSTRUMENT

    from servqual.errors import InstrumentError
    from servqual.instrument import load_instrument

    inst = write(tmp_path / "instrument.toml", replace_in_instrument(
        'respondent_id = "id"', 'respondent_id = "id"\nduplicates = "last"'))
    data = write(tmp_path / "2026Q3.csv", TINY_CSV)
    result = CliRunner().invoke(app, ["validate", str(data), "--instrument", str(inst)])
    assert result.exit_code == 65 and "instrument.duplicates" in result.output
    assert "keep_last" in result.output
    long = write(tmp_path / "long.toml", LONG_INSTRUMENT.replace(
        'layout = "long"', 'layout = "long"\nduplicates = "keep_last"', 1))
    with pytest.raises(InstrumentError, match="long layout"):
        load_instrument(long)
