"""Weak points against known truth: material shortfalls, the zone of tolerance, units.

Surveys are simulated with fixed seeds on a 7-point scale: expectations around 5, perceptions
the expectation plus a planted gap plus noise, so the truth of each dimension is known. Every
decision is driven through the command line (``servqual report --json``).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from servqual.cli import app
from servqual.config import AnalysisConfig
from servqual.findings.weak_points import weak_points
from servqual.stats.trends import TrendTables

REGIONS = ("East", "North", "South", "Central", "West")
WEAK_POINT_FIELDS = {"kind", "id", "dimension", "item", "column", "value", "parent", "label",
                     "n", "gap_mean", "perception_mean", "gap_ci95_low", "gap_ci95_high", "zone", "reach",
                     "priority", "score", "evidence", "evidence_details", "direction",
                     "customer_class", "alert", "strategy", "strategy_parts"}


def instrument_text(adequate: bool = False) -> str:
    items = []
    for dim in ("a", "b", "c"):
        for k in (1, 2):
            item = f"{dim}{k}"
            extra = f'adequate = "A_{item}"\n' if adequate else ""
            items.append(f'[[items]]\nid = "{item}"\ndimension = "{dim}"\n'
                         f'expectation = "E_{item}"\nperception = "P_{item}"\n{extra}'
                         f'text = {{ en = "Item {item}", zh-CN = "题目 {item}" }}\n')
    dims = "".join(f'[dimensions.{d}]\nlabel = {{ en = "Dim {d.upper()}", zh-CN = "维度{d}" }}\n\n'
                   for d in ("a", "b", "c"))
    return textwrap.dedent("""
        [instrument]
        name = "Simulated"
        scale_min = 1
        scale_max = 7
        respondent_id = "id"
        segments = ["region"]

        [analysis]
        benchmark_segment = "region"

        """).lstrip() + dims + "\n".join(items)


def simulate(n: int, gaps: dict[str, float], seed: int, *, unit_gaps=None,
             adequate_below: dict[str, float] | None = None) -> pd.DataFrame:
    """Respondents with a planted gap per dimension (``unit_gaps``: {region: {dim: gap}}
    overrides it in a region); ``adequate_below``: the adequate level this many points
    below the expectation (the desired level), per dimension."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, n)
    frame = {"id": [f"r{i}" for i in range(n)], "region": region}
    for dim, gap in gaps.items():
        planted = np.full(n, gap)
        for unit, own in (unit_gaps or {}).items():
            planted = np.where(region == unit, own.get(dim, gap), planted)
        for k in (1, 2):
            item = f"{dim}{k}"
            e = np.clip(np.rint(5 + rng.normal(0, 0.7, n)), 1, 7)
            p = np.clip(np.rint(e + planted + rng.normal(0, 0.7, n)), 1, 7)
            frame[f"E_{item}"], frame[f"P_{item}"] = e.astype(int), p.astype(int)
            if adequate_below is not None:
                a = np.clip(np.rint(e - adequate_below[dim]), 1, 7)
                frame[f"A_{item}"] = a.astype(int)
    return pd.DataFrame(frame)


def report(tmp_path: Path, frame: pd.DataFrame, *options: str, adequate: bool = False,
           name: str = "2026Q3.csv") -> dict:
    inst = tmp_path / "instrument.toml"
    inst.write_text(instrument_text(adequate), encoding="utf-8")
    data = tmp_path / name
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst),
                                      "--out", str(out / "r.html"), "--json",
                                      str(out / "r.json"), *options])
    assert result.exit_code == 0, result.output
    return json.loads((out / "r.json").read_text(encoding="utf-8"))


def cards(doc: dict) -> list[dict]:
    return [p for p in doc["weak_points"] if p["parent"] is None]


def test_planted_material_shortfall_is_a_weak_point(tmp_path):
    doc = report(tmp_path, simulate(600, {"a": -1.0, "b": -0.15, "c": 0.0}, seed=1))
    gaps = {d["dimension"]: d for d in doc["dimensions"]}
    assert gaps["b"]["p_adjusted"] < 0.05  # b falls short significantly, but not materially
    assert [(p["kind"], p["id"]) for p in cards(doc)] == [("dimension", "a")]
    point = doc["weak_points"][0]
    assert point["evidence"] == ["negative_gap"] and point["gap_mean"] < -0.8
    assert all(set(p) == WEAK_POINT_FIELDS for p in doc["weak_points"])


def test_small_significant_gap_everywhere_is_not_a_weak_point(tmp_path):
    doc = report(tmp_path, simulate(4000, {"a": -0.2, "b": -0.2, "c": -0.2}, seed=2))
    assert all(d["p_adjusted"] < 1e-6 for d in doc["dimensions"])
    assert all(i["p_adjusted"] < 1e-6 for i in doc["items"])
    assert doc["weak_points"] == []
    assert doc["thresholds"]["weak_min_shortfall"] == 0.5


def test_weak_min_shortfall_from_analysis_decides(tmp_path):
    """The threshold is read from [analysis]: at 0.1 the same −0.2 gaps are material."""
    frame = simulate(4000, {"a": -0.2, "b": -0.2, "c": -0.2}, seed=2)
    inst = tmp_path / "instrument.toml"
    inst.write_text(instrument_text().replace('benchmark_segment = "region"',
                                              'benchmark_segment = "region"\n'
                                              'weak_min_shortfall = 0.1'), encoding="utf-8")
    data = tmp_path / "2026Q3.csv"
    frame.to_csv(data, index=False)
    result = CliRunner().invoke(app, ["report", str(data), "--instrument", str(inst), "--out",
                                      str(tmp_path / "r.html"), "--json",
                                      str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {p["id"] for p in cards(doc)} == {"a", "b", "c"}


def test_zone_of_tolerance_inside_is_not_weak_below_adequate_is(tmp_path):
    # a: desired − 0.9, adequate 2 points below desired → inside the zone (MSA ≈ +1.1);
    # b: desired − 1.2, adequate only 0.4 below desired → below adequate (MSA ≈ −0.8);
    # c: no shortfall.
    frame = simulate(800, {"a": -0.9, "b": -1.2, "c": 0.0}, seed=3,
                     adequate_below={"a": 2.0, "b": 0.4, "c": 1.0})
    doc = report(tmp_path, frame, adequate=True)
    tolerance = {t["dimension"]: t for t in doc["tolerance"] if t["level"] == "dimension"}
    assert tolerance["a"]["msa_mean"] > 0.8 and tolerance["b"]["msa_mean"] < -0.5
    dims = {p["id"]: p for p in doc["weak_points"] if p["kind"] == "dimension"}
    assert set(dims) == {"b"}  # a's material gap lies inside the zone: not weak by itself
    assert dims["b"]["evidence"] == ["negative_gap", "below_adequate"]
    assert dims["b"]["zone"] == "below_adequate"
    detail = dims["b"]["evidence_details"]["below_adequate"]
    assert detail["msa"] == pytest.approx(tolerance["b"]["msa_mean"])
    assert "adequate" in detail["detail"]["en"] and "可接受" in detail["detail"]["zh-CN"]
    assert not any(p["dimension"] == "a" for p in doc["weak_points"])


UNIT_TARGETS = """
[[targets]]
dimension = "a"
gap = -0.6

[[targets]]
dimension = "a"
gap = -0.6
segment = { region = "West" }
"""


def test_unit_far_below_the_others_is_a_unit_weak_point(tmp_path):
    frame = simulate(1500, {"a": -0.3, "b": 0.0, "c": 0.0}, seed=4,
                     unit_gaps={"West": {"a": -1.3}})
    targets = tmp_path / "targets.toml"
    targets.write_text(UNIT_TARGETS, encoding="utf-8")
    doc = report(tmp_path, frame, "--targets", str(targets), "--split-by", "region")
    whole_a = next(d for d in doc["dimensions"] if d["dimension"] == "a")
    met = {(t["column"], t["value"]): t["met"] for t in doc["targets"]}
    assert met == {("", ""): True, ("region", "West"): False}
    units = [p for p in doc["weak_points"] if p["kind"] == "unit"]
    assert [(u["id"], u["column"], u["value"], u["dimension"]) for u in units] == [
        ("a@region=West", "region", "West", "a")]
    unit = units[0]
    west = next(s for s in doc["segments"] if s["column"] == "region" and s["value"] == "West"
                and s["dimension"] == "a")
    assert unit["n"] == west["n"] and unit["gap_mean"] == pytest.approx(west["gap_mean"])
    assert unit["gap_ci95_high"] == pytest.approx(west["gap_ci95_high"])
    assert unit["reach"] == pytest.approx(west["n"] / whole_a["n"])
    assert set(unit["evidence"]) == {"negative_gap", "target_missed", "below_peers"}
    assert unit["label"] == {"en": "Dim A in West", "zh-CN": "West的维度a"}
    assert "West" in unit["strategy"]["en"] and "West" in unit["strategy"]["zh-CN"]
    assert any(part["kind"] == "unit" for part in unit["strategy_parts"])
    # The company-wide dimension carries none of the unit's evidence.
    for point in doc["weak_points"]:
        if point["kind"] != "unit":
            assert not {"target_missed", "below_peers"} & set(point["evidence"])
    # West's own report shows its own evidence: its target missed, below the other units.
    html = (tmp_path / "out" / "r.region-West.html").read_text(encoding="utf-8")
    section = html[html.index('id="weak-points"'):]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "Target missed" in text and "Below peers" in text
    assert "West ranks 5 of 5 units" in text
    assert "Dim A in West" not in text  # West is the whole of its report: no unit card
    east = (tmp_path / "out" / "r.region-East.html").read_text(encoding="utf-8")
    assert "Below peers" not in east and "Target missed" not in east


def test_priority_score_by_hand():
    """Two dimensions; d (importance 0.3 of 2 dimensions) falls short by 0.6, materially,
    and falls; its unit West (50 of 200 respondents) is 0.8 short, below the others and
    misses its target.

    d:    0.6 × (0.3·2) × 1.5 × (1 + 0.25·1) × 1 = 0.675
    West: 0.8 × (0.3·2) × 1   × (1 + 0.25·1) × 50/200 = 0.15
    """
    dims = pd.DataFrame({"dimension": ["d", "e"], "n": [200, 200], "gap_mean": [-0.6, 0.1],
                         "p_adjusted": [0.001, 0.5], "gap_ci95_low": [-0.7, 0.0],
                         "gap_ci95_high": [-0.5, 0.2], "importance_weight": [0.3, 0.7]})
    trend = {"direction": "falling", "slope_per_wave": -0.1, "p_value": 0.01, "change": -0.5,
             "waves": 6, "first": -0.1, "last": -0.6, "observed_first": -0.1,
             "observed_last": -0.6, "first_wave": "2025Q2", "last_wave": "2026Q3"}
    trends = TrendTables(dimensions=pd.DataFrame([{"dimension": "d", **trend}]),
                         items=pd.DataFrame(columns=["item", "direction"]),
                         overall=pd.DataFrame(), segments=pd.DataFrame(),
                         wave_over_wave=pd.DataFrame())
    targets = pd.DataFrame([{"level": "dimension", "id": "d", "column": "region",
                             "value": "West", "measure": "gap", "target": -0.5,
                             "actual": -0.8, "distance": -0.3, "met": False,
                             "revise": False}])
    bench = pd.DataFrame([{"column": "region", "dimension": "d", "unit": "West", "n": 50,
                           "gap_mean": -0.8, "average_others": -0.53, "difference": -0.27,
                           "p_adjusted": 0.01, "below_peers": True, "best_unit": "East",
                           "best_gap": -0.4, "rank": 2, "units": 2}])
    segments = pd.DataFrame([{"column": "region", "value": "West", "dimension": "d", "n": 50,
                              "gap_mean": -0.8, "gap_ci95_low": -1.0, "gap_ci95_high": -0.6,
                              "p_adjusted": 0.2, "suppressed": False}])
    points = weak_points(dimensions=dims, items=pd.DataFrame(
        columns=["item", "dimension", "gap_mean", "p_adjusted"]), trends=trends,
        targets=targets, complaints=None, benchmark=bench, peers=pd.DataFrame(),
        segments=segments, segment_tests=pd.DataFrame(),
        instrument=type("I", (), {"customer_classes": None, "servperf": False})(), config=AnalysisConfig(),
        benchmark_column="region")
    assert [(p.kind, p.priority) for p in points] == [("dimension", 1), ("unit", 2)]
    d, west = points
    assert list(d.evidence) == ["negative_gap", "falling_trend"]
    assert d.score == pytest.approx(0.675)
    assert list(west.evidence) == ["target_missed", "below_peers"]  # p 0.2: not material
    assert west.score == pytest.approx(0.15)


def test_sample_report_has_a_dozen_weak_points_at_most(tmp_path):
    from conftest import INSTRUMENT, ROOT, SAMPLE
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, [
        "report", *map(str, SAMPLE), "--instrument", str(INSTRUMENT),
        "--targets", str(ROOT / "surveys" / "targets.toml"),
        "--complaints", str(ROOT / "surveys" / "sample" / "complaints.csv"),
        "--peers", str(ROOT / "surveys" / "benchmark.toml"),
        "--out", str(out), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    points = doc["weak_points"]
    assert 0 < len(points) <= 12
    by_id = {p["id"]: p for p in points}
    # Responsiveness meets its target and beats the external peer: the missed target and
    # the place below the other regions are West's, on West's own card.
    assert not {"target_missed", "below_peers"} & set(by_id["responsiveness"]["evidence"])
    west = by_id["responsiveness@region=West"]
    assert west["kind"] == "unit" and {"target_missed", "below_peers"} <= set(west["evidence"])
    assert all(p["parent"] in by_id for p in points if p["parent"] is not None)
    html = out.read_text(encoding="utf-8")
    summary = html[html.index('id="summary"'):html.index('class="summary-chart"')]
    listed = summary[summary.index('class="top-weak"'):summary.index("</ol>")]
    # Page one: the first three with their strategy, the others by name with their gap.
    assert listed.count("<li>") == min(3, len(cards(doc))) and len(cards(doc)) > 3
    also = summary[summary.index('class="also"'):]
    assert also.count("(−") == len(cards(doc)) - 3
    section = html[html.index('id="weak-points"'):]
    assert section.count('class="card') >= len(cards(doc))
    assert "Priority score = shortfall" in section and "× reach" in section
