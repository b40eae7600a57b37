"""Columns given by position (contract §5): ``{ position = N }`` or ``{ letter = "L" }``, for
exports whose header repeats names (问卷星 matrices label the expectation and perception
blocks with the same row texts)."""

from __future__ import annotations

import json

import pytest

from fixtures import TINY_CSV, TINY_INSTRUMENT, TINY_ITEMS, report_tiny

REPEATED = TINY_CSV.replace("id,region,E1,E2,E3,P1,P2,P3",
                            "id,region,服务态度,响应速度,可靠性,服务态度,响应速度,可靠性", 1)


def positioned(instrument: str = TINY_INSTRUMENT) -> str:
    for n, (e, p) in enumerate((("E1", "P1"), ("E2", "P2"), ("E3", "P3"))):
        instrument = instrument.replace(f'expectation = "{e}"',
                                        f"expectation = {{ position = {3 + n} }}")
        instrument = instrument.replace(f'perception = "{p}"',
                                        f'perception = {{ letter = "{"FGH"[n]}" }}')
    return instrument


def run(tmp_path, instrument: str, data: str, *more: str):
    return report_tiny(tmp_path, instrument, data, *more)


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_repeated_names_told_apart_by_position(tmp_path, engine):
    result, out = run(tmp_path, positioned(), REPEATED, "--engine", engine)
    assert result.exit_code == 0, result.output
    items = {i["item"]: i for i in json.loads(out.read_text(encoding="utf-8"))["items"]}
    for item, expected in TINY_ITEMS.items():
        for key, value in expected.items():
            assert items[item][key] == pytest.approx(value), (item, key)


def test_a_quarantined_cell_of_a_positioned_column_is_named_by_its_position(tmp_path):
    data = REPEATED.replace("r1,East,4,5,3,3,5,4", "r1,East,4,5,3,3,5,x", 1)
    result, out = run(tmp_path, positioned(), data)
    assert result.exit_code == 0, result.output
    rejected = (tmp_path / "r.rejected.csv").read_text(encoding="utf-8-sig")
    assert "non_numeric,#8,x" in rejected


@pytest.mark.parametrize("change, code, words", [
    (('{ position = 3 }', '{ position = 0 }'), 65, "items[0].expectation"),
    (('{ letter = "F" }', '{ letter = "F1" }'), 65, "items[0].perception"),
    (('{ position = 3 }', '{ position = 12 }'), 65, "is column 12 of the file, which has 8"),
    (('{ position = 4 }', '{ position = 3 }'), 65, "used twice"),
    (('{ position = 3 }', '"可靠性"'), 65, "more than once"),
])
def test_wrong_positions_are_named(tmp_path, change, code, words):
    instrument = positioned().replace(*change, 1)
    assert instrument != positioned()
    result, _ = run(tmp_path, instrument, REPEATED)
    assert result.exit_code == code, result.output
    assert words in result.output, result.output


def test_a_name_and_a_position_for_one_column_is_an_error(tmp_path):
    data = TINY_CSV  # E1..P3 named as usual: item i1's expectation by name, i2's by position 3
    instrument = TINY_INSTRUMENT.replace('expectation = "E2"', "expectation = { position = 3 }")
    result, _ = run(tmp_path, instrument, data)
    assert result.exit_code == 65, result.output
    assert "column 3 is named by items[0].expectation and given by position" in result.output
