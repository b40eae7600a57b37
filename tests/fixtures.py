"""Canonical test surveys: one tiny hand-computable survey and helpers to write variants.

TINY: 2 dimensions (``alpha``: items i1, i2; ``beta``: item i3), scale 1..5, missing code 9.

=====  ===========  ===========
resp   E i1 i2 i3   P i1 i2 i3
=====  ===========  ===========
r1     4  5  3      3  5  4
r2     5  4  2      2  3  2
r3     3  .  5      4  4  5
r4     9  4  4      5  2  1
=====  ===========  ===========

Hand-computed (gap = P − E, an item counts only when both E and P are answered):

* i1: gaps −1, −3, +1 (r4's E is the missing code 9) → n 3, E 4, P 3, gap −1, sd 2
* i2: gaps 0, −1, −2 (r3's E is blank) → n 3, E 13/3, P 10/3, gap −1
* i3: gaps +1, 0, 0, −3 → n 4, E 3.5, P 3, gap −0.5
* dimension alpha, per respondent mean of answered item gaps: −0.5, −2, +1, −2 → gap −0.875,
  E (4.5, 4.5, 3, 4) → 4, P (4, 2.5, 4, 2) → 3.125, variance 6.1875 / 3 = 2.0625
* dimension beta = i3 → gap −0.5; overall unweighted = (−0.875 − 0.5) / 2 = −0.6875
"""

from __future__ import annotations

import textwrap
from pathlib import Path

TINY_INSTRUMENT = textwrap.dedent("""
    [instrument]
    name = "Tiny test instrument"
    scale_min = 1
    scale_max = 5
    missing_codes = [9]
    respondent_id = "id"
    segments = ["region"]

    [analysis]
    min_cell = 1
    small_base = 2

    [dimensions.alpha]
    label = { en = "Alpha", zh-CN = "甲维度" }

    [dimensions.beta]
    label = { en = "Beta", zh-CN = "乙维度" }

    [[items]]
    id = "i1"
    dimension = "alpha"
    expectation = "E1"
    perception = "P1"
    text = { en = "Item one", zh-CN = "题目一" }

    [[items]]
    id = "i2"
    dimension = "alpha"
    expectation = "E2"
    perception = "P2"
    text = { en = "Item two", zh-CN = "题目二" }

    [[items]]
    id = "i3"
    dimension = "beta"
    expectation = "E3"
    perception = "P3"
    text = { en = "Item three", zh-CN = "题目三" }
""").lstrip()

TINY_CSV = textwrap.dedent("""
    id,region,E1,E2,E3,P1,P2,P3
    r1,East,4,5,3,3,5,4
    r2,East,5,4,2,2,3,2
    r3,West,3,,5,4,4,5
    r4,West,9,4,4,5,2,1
""").lstrip()

# Expected values, computed by hand above.
TINY_ITEMS = {
    "i1": {"n": 3, "expectation_mean": 4.0, "perception_mean": 3.0, "gap_mean": -1.0},
    "i2": {"n": 3, "expectation_mean": 13 / 3, "perception_mean": 10 / 3, "gap_mean": -1.0},
    "i3": {"n": 4, "expectation_mean": 3.5, "perception_mean": 3.0, "gap_mean": -0.5},
}
TINY_DIMENSIONS = {
    "alpha": {"n": 4, "expectation_mean": 4.0, "perception_mean": 3.125, "gap_mean": -0.875},
    "beta": {"n": 4, "expectation_mean": 3.5, "perception_mean": 3.0, "gap_mean": -0.5},
}
TINY_ALPHA_GAPS = [-0.5, -2.0, 1.0, -2.0]
TINY_OVERALL = -0.6875


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def tiny(tmp_path: Path, csv: str = TINY_CSV, name: str = "2026Q3.csv",
         instrument: str = TINY_INSTRUMENT) -> tuple[Path, Path]:
    """Write the tiny instrument and one wave; returns (instrument path, data path)."""
    return write(tmp_path / "instrument.toml", instrument), write(tmp_path / name, csv)


def replace_in_instrument(old: str, new: str, instrument: str = TINY_INSTRUMENT) -> str:
    if old not in instrument:
        raise ValueError(f"{old!r} is not in the instrument")
    return instrument.replace(old, new, 1)


# --------------------------------------------------------------------------------------------
# Other file formats, written by the tests themselves (no binary fixtures are committed)

TINY_ROWS = [line.split(",") for line in TINY_CSV.splitlines()]


def cells(rows: list[list[str]]) -> list[list[object]]:
    """Rows of text as a spreadsheet holds them: numbers as numbers, blanks as nothing."""
    def cell(text: str) -> object:
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            return text
    return [[cell(v) for v in row] for row in rows]


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Sheet1",
               first_row: int = 1, extra_sheets: tuple[str, ...] = ()) -> Path:
    """An .xlsx workbook with ``rows`` on ``sheet`` starting at ``first_row`` (openpyxl)."""
    import openpyxl

    book = openpyxl.Workbook()
    for name in extra_sheets:
        book.create_sheet(name).append(["unrelated"])
    ws = book.active
    ws.title = sheet
    for r, row in enumerate(rows, start=first_row):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    if extra_sheets:
        book.move_sheet(sheet, offset=-len(extra_sheets))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_sav(path: Path, frame, missing: dict[str, list[float]] | None = None) -> Path:
    """An SPSS .sav file (pyreadstat), with user-missing values per variable."""
    import pyreadstat

    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(frame, str(path), missing_ranges=missing or {})
    return path


def tiny_frame():
    """TINY_CSV as a DataFrame: ids and regions as text, answers as floats (NaN blank)."""
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO(TINY_CSV), dtype={"id": str, "region": str})
