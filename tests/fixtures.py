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

import math
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


def report_tiny(tmp_path: Path, instrument: str, data: str, *options: str):
    """``servqual report`` on one wave ``data`` (2026Q3.csv) with the instrument text
    ``instrument``, through the command line: (the CLI result, the path of its JSON)."""
    from typer.testing import CliRunner

    from servqual.cli import app

    inst = write(tmp_path / "instrument.toml", instrument)
    path = write(tmp_path / "2026Q3.csv", data)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(path), "--instrument", str(inst), *options,
                                      "--out", str(tmp_path / "r.html"), "--json", str(out)])
    return result, out


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


# --------------------------------------------------------------------------------------------
# A hostile survey: every user-provided string of the report carries a script payload.

XSS_PAYLOADS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    "\"'><svg onload=window.__xss=3>",
    "</td></tr><b onmouseover='window.__xss=4'>x</b>",
    '<a href="javascript:window.__xss=5">click</a>',
]


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these characters)."""
    import json
    return json.dumps(value, ensure_ascii=False)


def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny survey with payloads in the instrument name, a dimension label, the item
    texts, the segment values and the file name; returns (instrument, data file)."""
    import csv
    import io

    p = XSS_PAYLOADS
    instrument = TINY_INSTRUMENT.replace('name = "Tiny test instrument"',
                                         f"name = {toml_string('Survey ' + p[0])}")
    instrument = instrument.replace('label = { en = "Alpha", zh-CN = "甲维度" }',
                                    f"label = {{ en = {toml_string('Alpha ' + p[1])}, "
                                    f"zh-CN = {toml_string('甲维度 ' + p[1])} }}")
    for n, item in enumerate(("one", "two", "three")):
        zh = "一二三"[n]
        payload = p[n % len(p)] + " " + p[(n + 2) % len(p)]
        instrument = instrument.replace(
            f'text = {{ en = "Item {item}", zh-CN = "题目{zh}" }}',
            f"text = {{ en = {toml_string('Item ' + payload)}, "
            f"zh-CN = {toml_string('题目' + zh + payload)} }}")
    rows = list(csv.reader(io.StringIO(TINY_CSV)))
    regions = {"East": p[2], "West": p[3] + p[4]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        row[1] = regions[row[1]]
        writer.writerow(row)
    name = "2026Q3 <img src=x onerror=window.__xss=6>.csv"
    return write(tmp_path / "instrument.toml", instrument), write(tmp_path / name, out.getvalue())


# --------------------------------------------------------------------------------------------
# Findings in the shapes of the JSON contract (§4) and the trend/weak-point issue, for the
# report sections that show them (summary, trends, weak points, complaints, benchmarking).

FINDINGS = {
    "overall_trends": [
        {"score": "servqual_unweighted", "direction": "flat", "slope_per_wave": 0.002,
         "p_value": 0.61, "waves": 8, "first": -0.55, "last": -0.52}],
    "trends": [
        {"dimension": "reliability", "direction": "falling", "slope_per_wave": -0.085,
         "p_value": 0.0001, "waves": 8, "first": -0.50, "last": -1.08,
         "strategy": {"en": "Reliability is falling (-0.50 to -1.08): investigate fully.",
                      "zh-CN": "可靠性呈下降趋势（−0.50 至 −1.08）：充分调查分析。"}},
        {"dimension": "responsiveness", "direction": "rising", "slope_per_wave": 0.09,
         "p_value": 0.0002, "waves": 8, "first": -1.17, "last": -0.52},
        {"dimension": "tangibles", "direction": "flat", "slope_per_wave": 0.001,
         "p_value": 0.8, "waves": 8, "first": 0.04, "last": 0.08},
    ],
    "alerts": [
        {"level": "dimension", "dimension": "reliability", "item": None, "column": None,
         "value": None, "previous_wave": "2026Q2", "current_wave": "2026Q3",
         "previous_mean": -1.01, "current_mean": -1.08, "change": -0.07, "p_value": 0.012,
         "alert": True},
        {"level": "segment", "dimension": "responsiveness", "item": None, "column": "region",
         "value": "West", "previous_wave": "2026Q2", "current_wave": "2026Q3",
         "previous_mean": -0.9, "current_mean": -1.12, "change": -0.22, "p_value": 0.03,
         "alert": True},
    ],
    "targets": [
        {"level": "dimension", "id": "reliability", "column": None, "value": None,
         "measure": "gap", "target": -0.5, "actual": -1.08, "distance": -0.58, "met": False,
         "revise": True},
        {"level": "dimension", "id": "tangibles", "column": None, "value": None,
         "measure": "gap", "target": 0.0, "actual": 0.08, "distance": 0.08, "met": True,
         "revise": False},
    ],
    "weak_points": [
        {"kind": "item", "id": "q06", "dimension": "reliability", "parent": "reliability",
         "gap_mean": -1.13, "priority": 2, "evidence": ["negative_gap", "falling_trend"],
         "strategy": {"en": "Show sincere interest in solving problems.",
                      "zh-CN": "真诚关心并解决客户的问题。"}},
        {"kind": "dimension", "id": "reliability", "dimension": "reliability", "parent": None,
         "gap_mean": -1.08,
         "priority": 1, "evidence": ["negative_gap", "falling_trend", "target_missed",
                                     "complaints"],
         "evidence_details": {"negative_gap": {"gap": -1.08, "en": "gap -1.08 [-1.13, -1.04]",
                                               "zh-CN": "差距 −1.08 [−1.13, −1.04]"}},
         "direction": "falling",
         "strategy": {"en": "Map the service blueprint of order delivery.",
                      "zh-CN": "绘制订单交付的服务蓝图。"},
         "strategy_parts": [
             {"kind": "direction", "en": "Investigate fully, find the causes, fix them.",
              "zh-CN": "充分调查分析，找出原因，加以改进。"},
             {"kind": "actions", "items": [{"en": "Keep promised delivery times.",
                                            "zh-CN": "严格遵守承诺的送货时间。"}]},
             {"kind": "tool", "en": "Map the service blueprint of order delivery.",
              "zh-CN": "绘制订单交付的服务蓝图。"}]},
    ],
    "complaints": [
        {"wave": "2026Q2", "dimension": "reliability", "count": 9, "respondents": 1496,
         "rate_per_1000": 6.0},
        {"wave": "2026Q3", "dimension": "reliability", "count": 12, "respondents": 1512,
         "rate_per_1000": 7.9},
        {"wave": "2026Q3", "dimension": "empathy", "count": 3, "respondents": 1512,
         "rate_per_1000": 2.0},
    ],
    "benchmark": [
        {"column": "region", "dimension": d, "unit": u, "n": 200, "gap_mean": g, "rank": r,
         "units": 2, "below_peers": b}
        for d in ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
        for u, g, r, b in (("East", -0.3, 1, False), ("West", -1.1, 2, d == "responsiveness"))
    ],
    "importance_performance": [
        {"dimension": d, "importance": i, "importance_source": "stated", "performance": p,
         "quadrant": q, "importance_mid": 0.2, "performance_mid": 5.2, "importance_n": None,
         "importance_ci95_low": None, "importance_ci95_high": None, "quadrant_supported": None}
        for d, i, p, q in (("tangibles", 0.13, 5.17, "low_priority"),
                           ("reliability", 0.31, 4.88, "concentrate_here"),
                           ("responsiveness", 0.22, 5.43, "keep_up"),
                           ("assurance", 0.19, 5.74, "possible_overkill"),
                           ("empathy", 0.15, 4.88, "low_priority"))],
}


class WithFindings:
    """Results whose JSON view also carries ``FINDINGS`` (what the report reads)."""

    def __init__(self, results, extra: dict | None = None) -> None:
        self._results = results
        self._extra = FINDINGS if extra is None else extra
        self.instrument = results.instrument
        self.inputs = results.inputs

    def to_json(self) -> dict:
        return {**self._results.to_json(), **self._extra}


# --------------------------------------------------------------------------------------------
# Runs as production runs them (servqual.run.run), and the validated respondents as the
# validation rules define them (for computing independent references from the answers).


def run_files(paths, instrument, extra=None, **options):
    """``servqual.run.run`` on survey files: the path the command line takes."""
    from servqual.run import Request, RunInputs, run

    return run(Request(instrument=instrument, files=[Path(p) for p in paths],
                       extra=extra or RunInputs(), **options))


def check_files(paths, instrument):
    """The files' respondents and quarantine as validation defines them, all files as one
    (:func:`servqual.validation.tables.check_tables`)."""
    from servqual.ingest import read_table
    from servqual.validation.tables import check_tables

    return check_tables([read_table(p, instrument) for p in paths], instrument)


def run_and_check(paths, instrument, extra=None, **options):
    """The results of the production run, and the validated respondents behind them."""
    return run_files(paths, instrument, extra, **options).results, check_files(paths, instrument)


def assert_same_aggregates(a, b) -> None:
    """Two sets of aggregates hold the same sums (rows in any order)."""
    import numpy as np

    from servqual.models import CROSS_KEYS, HISTOGRAM_KEYS, KEYS

    for name, keys in (("moments", KEYS), ("histograms", HISTOGRAM_KEYS),
                       ("crossproducts", CROSS_KEYS)):
        x = getattr(a, name).set_index(keys).sort_index()
        y = getattr(b, name).set_index(keys).sort_index()
        assert list(x.columns) == list(y.columns), name
        assert x.index.equals(y.index), (name, x.index.symmetric_difference(y.index)[:10])
        np.testing.assert_allclose(y.to_numpy(dtype=float), x.to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-9, err_msg=name)
    assert a.importance == b.importance


def normalised(frame):
    """Quarantine values compared as text, numbers as numbers (5, '5' and 5.0 alike)."""
    import math

    import pandas as pd

    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return ""
        try:
            return repr(float(v))
        except (TypeError, ValueError):
            return str(v)
    return frame.reset_index(drop=True).astype(object).map(cell)


def compare_streamed(paths, instrument_path):
    """The files streamed a batch at a time (the DuckDB engine's reading of files too large
    to read whole) against the same files read whole and validated: the same accounting,
    reasons, row numbers and aggregates."""
    from servqual.engines.duckdb import DuckDBEngine
    from servqual.instrument import load_instrument
    from servqual.stats.aggregate import aggregate

    inst = load_instrument(instrument_path)
    validated = check_files(paths, inst)
    with DuckDBEngine(inst, whole=False) as engine:
        collected = engine.collect([Path(p) for p in paths])
    assert collected.quality.as_dict() == validated.quality.as_dict()

    def rows(q):  # every column: the rows set aside after staging are read again
        return normalised(q).sort_values(["source_file", "source_row"]).reset_index(drop=True)
    import pandas as pd
    pd.testing.assert_frame_equal(rows(collected.quarantine), rows(validated.quarantine))
    if len(validated.responses):
        assert_same_aggregates(aggregate(validated.responses, inst), collected.aggregates)
    return validated, collected


def assert_same(a, b, path="$"):
    """Every field of two JSON documents equal: numbers to 1e-9, everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), path
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9,
                                                                  abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)
