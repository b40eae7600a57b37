"""Perception-only (SERVPERF) instruments and items' importance ratings, through the command
line, against figures computed by hand and by scipy; and the SERVPERF weak-point rule on
simulated waves with a known answer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from fixtures import TINY_CSV, TINY_INSTRUMENT, report_tiny, write
from servqual.cli import app

# The tiny survey without its expectations: the file's E columns are simply not read.
SERVPERF = TINY_INSTRUMENT.replace('expectation = "E1"\n', "").replace(
    'expectation = "E2"\n', "").replace('expectation = "E3"\n', "")
# Perceptions of r1..r4 (TINY_CSV): P1 3,2,4,5  P2 5,3,4,2  P3 4,2,5,1.
P = {"i1": [3, 2, 4, 5], "i2": [5, 3, 4, 2], "i3": [4, 2, 5, 1]}
# Dimension SERVPERF scores per respondent: alpha = mean(P1, P2), beta = P3.
ALPHA = [4.0, 2.5, 4.0, 3.5]
BETA = [4.0, 2.0, 5.0, 1.0]


def t_interval(values):
    values = np.asarray(values, dtype=float)
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


def load(out):
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_perception_only_figures_by_hand(tmp_path, engine):
    result, out = report_tiny(tmp_path, SERVPERF, TINY_CSV, "--engine", engine)
    assert result.exit_code == 0, result.output
    doc = load(out)
    assert doc["method"] == "servperf"
    items = {i["item"]: i for i in doc["items"]}
    for item, answers in P.items():
        row = items[item]
        assert row["n"] == 4  # every answered perception counts (no expectation to pair)
        assert row["perception_mean"] == pytest.approx(np.mean(answers))
        low, high = t_interval(answers)
        assert row["perception_ci95_low"] == pytest.approx(low)
        assert row["perception_ci95_high"] == pytest.approx(high)
        for field in ("expectation_mean", "gap_mean", "gap_ci95_low", "p_value"):
            assert row[field] is None, field
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    for key, scores in (("alpha", ALPHA), ("beta", BETA)):
        assert dims[key]["n"] == 4
        assert dims[key]["perception_mean"] == pytest.approx(np.mean(scores))
        assert dims[key]["servperf_mean"] == pytest.approx(np.mean(scores))
        assert dims[key]["perception_ci95_low"] == pytest.approx(t_interval(scores)[0])
        assert dims[key]["gap_mean"] is None and dims[key]["expectation_mean"] is None
    overall = np.mean([(a + b) / 2 for a, b in zip(ALPHA, BETA)])
    assert doc["overall"]["servperf"] == pytest.approx(overall)
    assert doc["overall"]["servqual_unweighted"] is None
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "perceptions only (SERVPERF)" in html


def test_a_mixed_instrument_keeps_the_gap_of_an_item_with_both_columns(tmp_path):
    mixed = TINY_INSTRUMENT.replace('expectation = "E2"\n', "").replace(
        'expectation = "E3"\n', "")
    result, out = report_tiny(tmp_path, mixed, TINY_CSV)
    assert result.exit_code == 0, result.output
    doc = load(out)
    assert doc["method"] == "servperf"
    i1 = next(i for i in doc["items"] if i["item"] == "i1")
    # E1 4,5,3,(9 = missing); P1 3,2,4,5: three pairs with gaps -1,-3,+1; all four perceptions
    assert i1["n"] == 4 and i1["perception_mean"] == pytest.approx(3.5)
    assert i1["gap_n"] == 3 and i1["gap_mean"] == pytest.approx(-1.0)
    assert i1["p_value"] == pytest.approx(stats.ttest_1samp([-1, -3, 1], 0).pvalue)
    assert all(d["gap_mean"] is None for d in doc["dimensions"])  # no dimension gap


def test_zh_cn_report_of_a_servperf_survey(tmp_path):
    result, _ = report_tiny(tmp_path, SERVPERF, TINY_CSV, "--lang", "zh-CN")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "本次调查只测量实际感受（SERVPERF）" in html
    assert "SERVQUAL gap" not in html and "This survey measures" not in html


IMPORTANCE = SERVPERF.replace('perception = "P1"\n', 'perception = "P1"\nimportance = "I1"\n')
IMPORTANCE = IMPORTANCE.replace('perception = "P3"\n', 'perception = "P3"\nimportance = "I3"\n')
IMPORTANCE += '\n[answer_labels]\n"Very important" = 5\n'


def test_importance_ratings_by_hand(tmp_path):
    data = TINY_CSV.replace("P3\n", "P3,I1,I3\n").replace("r1,East,4,5,3,3,5,4", "r1,East,4,5,3,3,5,4,5,4")
    data = data.replace("r2,East,5,4,2,2,3,2", "r2,East,5,4,2,2,3,2,Very important,3")
    data = data.replace("r3,West,3,,5,4,4,5", "r3,West,3,,5,4,4,5,8,")
    data = data.replace("r4,West,9,4,4,5,2,1", "r4,West,9,4,4,5,2,1,2,9")
    result, out = report_tiny(tmp_path, IMPORTANCE, data)
    assert result.exit_code == 0, result.output
    doc = load(out)
    assert doc["data_quality"]["rows_quarantined"] == 0  # a bad rating costs no answers
    items = {i["item"]: i for i in doc["items"]}
    # I1: 5, "Very important" = 5, 8 (off the 1–5 scale: missing), 2 -> mean 4 over 3
    assert items["i1"]["importance_n"] == 3
    assert items["i1"]["importance_mean"] == pytest.approx(4.0)
    # I3: 4, 3, blank, 9 (missing code) -> mean 3.5 over 2
    assert items["i3"]["importance_n"] == 2
    assert items["i3"]["importance_mean"] == pytest.approx(3.5)
    assert items["i2"]["importance_mean"] is None
    assert "Importance is the mean importance" in (tmp_path / "r.html").read_text("utf-8")


def test_importance_column_missing_from_the_file_is_named(tmp_path):
    result, _ = report_tiny(tmp_path, IMPORTANCE, TINY_CSV)
    assert result.exit_code != 0
    assert "I1" in result.output and "Traceback" not in result.output


def test_straightlining_in_servperf_is_judged_on_perception(tmp_path):
    inst = SERVPERF.replace("[analysis]", "quarantine_straightlining = true\n\n[analysis]")
    data = TINY_CSV.replace("r2,East,5,4,2,2,3,2", "r2,East,5,4,2,3,3,3")
    result, out = report_tiny(tmp_path, inst, data)
    assert result.exit_code == 0, result.output
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # r2 answered 3 to every perception; its expectations (5, 4, 2, not read) do not count
    assert [(r["id"], r["reason"]) for r in rows] == [("r2", "straightlining")]


def test_adequate_without_expectation_is_refused_at_load(tmp_path):
    inst = SERVPERF.replace('perception = "P1"\n', 'perception = "P1"\nadequate = "A1"\n')
    result, _ = report_tiny(tmp_path, inst, TINY_CSV)
    assert result.exit_code != 0 and "items[0].adequate" in result.output


# --------------------------------------------------------------------------------------------
# The SERVPERF weak-point rule against a known answer

SIM = """
[instrument]
name = "SERVPERF simulation"
scale_min = 1
scale_max = 7
respondent_id = "id"
wave = "wave"

[dimensions.reliability]
label = { en = "Reliability" }
[dimensions.empathy]
label = { en = "Empathy" }
[dimensions.tangibles]
label = { en = "Tangibles" }
"""
for _n, _dim in enumerate(["reliability"] * 3 + ["empathy"] * 3 + ["tangibles"] * 3, 1):
    SIM += f'\n[[items]]\nid = "q{_n}"\ndimension = "{_dim}"\nperception = "P{_n}"\n'


def simulate(folder, seed: int, fall: float = 0.0, low: float = 0.0, n: int = 250):
    """Four waves; reliability's perceptions fall by ``fall`` per wave, item q7 sits ``low``
    below the others (means around 5.2 on 1–7, well above the standard of 4)."""
    rng = np.random.default_rng(seed)
    paths = []
    for k, wave in enumerate(["2026Q1", "2026Q2", "2026Q3", "2026Q4"]):
        frame = pd.DataFrame({"id": [f"{wave}-{i}" for i in range(n)], "wave": wave})
        person = rng.normal(0, 0.6, n)
        for j in range(1, 10):
            mean = 5.2 + person - (fall * k if j <= 3 else 0) - (low if j == 7 else 0)
            frame[f"P{j}"] = np.clip(np.rint(rng.normal(mean, 0.9)), 1, 7).astype(int)
        paths.append(write(folder / f"{wave}.csv", frame.to_csv(index=False)))
    return paths


def weak_points(tmp_path, name: str, **kwargs):
    folder = tmp_path / name
    paths = simulate(folder, **kwargs)
    inst = write(folder / "instrument.toml", SIM)
    out = folder / "r.json"
    result = CliRunner().invoke(app, ["report", *map(str, paths), "-i", str(inst),
                                      "-o", str(folder / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    return {(p["kind"], p["id"]): p["evidence"] for p in load(out)["weak_points"]}


def test_planted_fall_and_low_item_are_found(tmp_path):
    found = weak_points(tmp_path, "planted", seed=11, fall=0.2, low=2.0)
    assert "falling_trend" in found[("dimension", "reliability")]
    assert "low_perception" in found[("item", "q7")]
    assert ("dimension", "tangibles") not in found


def test_nothing_planted_rarely_raises_a_weak_point(tmp_path):
    seeds = range(100, 110)
    alarms = [bool(weak_points(tmp_path, f"null{seed}", seed=seed)) for seed in seeds]
    # Each report decides its trends at a false-alarm rate of 5 % (alarm_fdr); at most 2 of
    # 10 quiet reports with any weak point leaves room for chance, not for a broken rule.
    assert sum(alarms) <= 2, alarms


def test_init_drafts_a_perception_only_survey_that_reports(tmp_path):
    data = write(tmp_path / "2026Q3.csv", "id,region,P1,I1,P2,I2,P3\n" + "\n".join(
        f"r{n},{'East' if n % 2 else 'West'},{1 + n % 5},{1 + (n * 3) % 5},{1 + (n * 2) % 5},"
        f"{5 - n % 5},{1 + (n + 1) % 5}" for n in range(12)) + "\n")
    inst = tmp_path / "instrument.toml"
    result = CliRunner().invoke(app, ["init", str(data), "--out", str(inst)])
    assert result.exit_code == 0, result.output
    assert "3 with a perception only (SERVPERF)" in result.output
    text = inst.read_text(encoding="utf-8")
    assert 'importance = "I1"' in text and "expectation =" not in text
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(data), "-i", str(inst), "-o",
                                      str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    items = {i["item"]: i for i in load(out)["items"]}
    assert items["q01"]["perception_mean"] == pytest.approx(np.mean([1 + n % 5 for n in range(12)]))
    assert items["q01"]["importance_mean"] == pytest.approx(
        np.mean([1 + (n * 3) % 5 for n in range(12)]))


UNITS = SIM.replace('wave = "wave"\n', 'wave = "wave"\nsegments = ["region", "tier"]\n') + """
[analysis]
benchmark_segment = "region"

[customer_classes]
column = "tier"
core = ["A"]
regular = ["C"]
"""


def test_units_and_classes_are_judged_on_perception(tmp_path):
    """One wave: South perceives empathy a point worse than the other regions (a unit below
    its peers), and tangibles sits below the standard, mostly among tier C customers."""
    rng = np.random.default_rng(5)
    n = 900
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "wave": "2026Q3",
                          "region": rng.choice(["North", "South", "East"], n),
                          "tier": rng.choice(["A", "C"], n)})
    for j in range(1, 10):
        mean = np.full(n, 5.2)
        if j in (4, 5, 6):
            mean -= np.where(frame["region"] == "South", 1.0, 0.0)
        if j in (7, 8, 9):
            mean = np.where(frame["tier"] == "C", 2.4, 3.8)
        frame[f"P{j}"] = np.clip(np.rint(rng.normal(mean, 0.9)), 1, 7).astype(int)
    data = write(tmp_path / "2026Q3.csv", frame.to_csv(index=False))
    inst = write(tmp_path / "instrument.toml", UNITS)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(data), "-i", str(inst), "-o",
                                      str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    doc = load(out)
    bench = {(b["unit"], b["dimension"]): b for b in doc["benchmark"]}
    empathy = frame[["P4", "P5", "P6"]].mean(axis=1)
    for unit in ("North", "South", "East"):
        mine = empathy[frame["region"] == unit]
        assert bench[(unit, "empathy")]["perception_mean"] == pytest.approx(mine.mean())
        assert bench[(unit, "empathy")]["gap_mean"] is None
    assert bench[("South", "empathy")]["below_peers"] is True
    points = {p["id"]: p for p in doc["weak_points"]}
    south = points["empathy@region=South"]
    assert "below_peers" in south["evidence"]
    assert "perception" in south["evidence_details"]["below_peers"]["detail"]["en"]
    tangibles = points["tangibles"]
    assert "low_perception" in tangibles["evidence"]
    assert tangibles["customer_class"]["class"] == "regular"
    assert tangibles["customer_class"]["measure"] == "perception"
    part = next(p for p in tangibles["strategy_parts"] if p["kind"] == "customer_class")
    assert "perception" in part["en"] and "实际感受" in part["zh-CN"]


def changed_history(tmp_path):
    """Four SERVPERF waves; i2 is asked from the third wave on, i1's perception falls."""
    rng = np.random.default_rng(43)
    waves, files, first = ["2025Q4", "2026Q1", "2026Q2", "2026Q3"], [], []
    for w, wave in enumerate(waves):
        n = 80
        p = rng.integers(2, 6, size=(n, 3))
        p[:, 0] = np.clip(5 - w + rng.integers(-1, 2, size=n), 1, 5)
        first.append(p[:, 0])
        rows = ["id,region,P1,P2,P3"] + [
            f"{wave}-{i},{'East' if i % 2 else 'West'},{p[i, 0]},"
            f"{p[i, 1] if w >= 2 else ''},{p[i, 2]}" for i in range(n)]
        files.append(write(tmp_path / f"{wave}.csv", "\n".join(rows) + "\n"))
    means = [float(np.mean(x)) for x in first]
    se = [float(np.std(x, ddof=1) / np.sqrt(len(x))) for x in first]
    slope = float(np.polyfit(np.arange(4), means, 1, w=1 / np.array(se))[0])
    return write(tmp_path / "instrument.toml", SERVPERF), files, slope


@pytest.mark.parametrize("engine", ["memory", "duckdb", "dask"])
def test_changed_questionnaire_perception_trend_over_common_items(tmp_path, engine,
                                                                  engine_options):
    inst, files, slope = changed_history(tmp_path)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", *map(str, files), "-i", str(inst),
                                      *engine_options(engine), "-o", str(tmp_path / "r.html"),
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    alpha = next(t for t in load(out)["trends"] if t["dimension"] == "alpha")
    assert alpha["common_items_only"] is True
    assert alpha["slope_per_wave"] == pytest.approx(slope, rel=1e-9)
    assert alpha["direction"] == "falling"


def test_changed_questionnaire_perception_trend_through_the_store(tmp_path):
    inst, files, slope = changed_history(tmp_path)
    store = tmp_path / "h.duckdb"
    for batch in (files[:2], files[2:]):
        result = CliRunner().invoke(app, ["ingest", *map(str, batch), "-i", str(inst),
                                          "--store", str(store)])
        assert result.exit_code == 0, result.output
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", "--store", str(store), "-i", str(inst),
                                      "-o", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    alpha = next(t for t in load(out)["trends"] if t["dimension"] == "alpha")
    assert alpha["common_items_only"] is True
    assert alpha["slope_per_wave"] == pytest.approx(slope, rel=1e-9)
    result = CliRunner().invoke(app, ["trend", "--store", str(store), "--dimension", "alpha",
                                      "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["method"] == "servperf"
    (series,) = answer["series"]
    assert series["perception_trend"]["slope_per_wave"] == pytest.approx(slope, rel=1e-9)
    assert series["perception_trend"]["direction"] == "falling"


def test_item_importance_performance_and_priority_by_hand(tmp_path):
    """Stated item ratings place each item in a quadrant at the means of the rated items,
    with the t interval of its mean rating; a dimension's priority is scaled by its items'
    mean rating over that of all dimensions."""
    rng = np.random.default_rng(9)
    n = 300
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "wave": "2026Q3"})
    perf = [5.5, 5.5, 5.5, 3.0, 3.0, 3.0, 2.8, 2.8, 2.8]  # empathy, tangibles below 4
    rate = [3.0, 3.0, 3.0, 6.5, 6.5, 6.5, 3.5, 3.5, 3.5]  # empathy matters most
    sim = SIM
    for j in range(1, 10):
        frame[f"P{j}"] = np.clip(np.rint(rng.normal(perf[j - 1], 0.8, n)), 1, 7).astype(int)
        frame[f"I{j}"] = np.clip(np.rint(rng.normal(rate[j - 1], 0.8, n)), 1, 7).astype(int)
        sim = sim.replace(f'perception = "P{j}"\n', f'perception = "P{j}"\nimportance = "I{j}"\n')
    data = write(tmp_path / "2026Q3.csv", frame.to_csv(index=False))
    inst = write(tmp_path / "instrument.toml", sim)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(data), "-i", str(inst), "-o",
                                      str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    doc = load(out)
    ipa = {r["item"]: r for r in doc["importance_performance_items"]}
    ratings = {f"q{j}": frame[f"I{j}"] for j in range(1, 10)}
    perceptions = {f"q{j}": frame[f"P{j}"] for j in range(1, 10)}
    mid = np.mean([r.mean() for r in ratings.values()])
    perf_mid = np.mean([p.mean() for p in perceptions.values()])
    for item, r in ipa.items():
        assert r["importance"] == pytest.approx(ratings[item].mean())
        assert r["performance"] == pytest.approx(perceptions[item].mean())
        assert r["importance_mid"] == pytest.approx(mid)
        low, high = t_interval(ratings[item])
        assert (r["importance_ci95_low"], r["importance_ci95_high"]) == pytest.approx((low, high))
        expected = {(True, False): "concentrate_here", (True, True): "keep_up",
                    (False, False): "low_priority", (False, True): "possible_overkill"}[
            (ratings[item].mean() >= mid, perceptions[item].mean() >= perf_mid)]
        assert r["quadrant"] == expected
    assert ipa["q4"]["quadrant"] == "concentrate_here" and ipa["q4"]["quadrant_supported"]
    points = {p["id"]: p for p in doc["weak_points"]}
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    by_dim = {d: np.mean([ratings[f"q{j}"].mean() for j in js])
              for d, js in (("reliability", (1, 2, 3)), ("empathy", (4, 5, 6)),
                            ("tangibles", (7, 8, 9)))}
    mean_rating = np.mean(list(by_dim.values()))
    for dim in ("empathy", "tangibles"):  # low perception alone: one piece of evidence
        assert points[dim]["evidence"] == ["low_perception"]
        room = 7 - dims[dim]["perception_mean"]
        assert points[dim]["score"] == pytest.approx(room * by_dim[dim] / mean_rating)
    assert points["empathy"]["priority"] < points["tangibles"]["priority"]
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Importance and performance of the items" in html


def test_a_long_file_of_perceptions_reads_as_the_wide_one(tmp_path):
    from test_long import LONG_INSTRUMENT, to_long

    inst = LONG_INSTRUMENT.replace('expectation = "E"\n', "")
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in to_long()]  # drop E
    write(tmp_path / "instrument.toml", inst)
    data = write(tmp_path / "2026Q3.csv", "\n".join(["id,region,item,P", *rows]) + "\n")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", str(data), "-i", str(tmp_path / "instrument.toml"),
                                      "-o", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    doc = load(out)
    assert doc["method"] == "servperf"
    items = {i["item"]: i for i in doc["items"]}
    for item, answers in P.items():
        assert items[item]["n"] == 4
        assert items[item]["perception_mean"] == pytest.approx(np.mean(answers))
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    assert dims["alpha"]["perception_mean"] == pytest.approx(np.mean(ALPHA))
    assert doc["overall"]["servperf"] == pytest.approx(
        np.mean([(a + b) / 2 for a, b in zip(ALPHA, BETA)]))


def test_a_gap_target_of_a_servperf_survey_is_refused_with_the_way_out(tmp_path):
    targets = write(tmp_path / "targets.toml",
                    '[[targets]]\ndimension = "alpha"\ngap = -0.2\n')
    result, _ = report_tiny(tmp_path, SERVPERF, TINY_CSV, "--targets", str(targets))
    assert result.exit_code != 0 and "perception = " in result.output
    assert "Traceback" not in result.output
    targets.write_text('[[targets]]\ndimension = "alpha"\nperception = 3.6\n', encoding="utf-8")
    result, out = report_tiny(tmp_path, SERVPERF, TINY_CSV, "--targets", str(targets))
    assert result.exit_code == 0, result.output
    (target,) = load(out)["targets"]
    assert target["actual"] == pytest.approx(np.mean(ALPHA)) and target["met"] is False
    point = next(p for p in load(out)["weak_points"] if p["id"] == "alpha")
    assert point["evidence"] == ["target_missed"]


def test_an_importance_column_in_a_long_layout_is_refused_at_load(tmp_path):
    from test_long import LONG_INSTRUMENT

    inst = LONG_INSTRUMENT.replace('id = "i1"\n', 'id = "i1"\nimportance = "I1"\n')
    result, _ = report_tiny(tmp_path, inst, TINY_CSV)
    assert result.exit_code == 65 and "items[0].importance" in result.output
    assert "Traceback" not in result.output


def test_straightlining_in_a_long_file_of_perceptions(tmp_path):
    from test_long import LONG_INSTRUMENT, to_long

    inst = LONG_INSTRUMENT.replace('expectation = "E"\n', "").replace(
        'layout = "long"', 'layout = "long"\nquarantine_straightlining = true')
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in to_long()]
    rows = [r if not r.startswith("r2,") else ",".join(r.split(",")[:3] + ["3"]) for r in rows]
    write(tmp_path / "instrument.toml", inst)
    data = write(tmp_path / "2026Q3.csv", "\n".join(["id,region,item,P", *rows]) + "\n")
    result = CliRunner().invoke(app, ["report", str(data), "-i", str(tmp_path / "instrument.toml"),
                                      "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "r.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        rejected = list(csv.DictReader(fh))
    assert {(r["id"], r["reason"]) for r in rejected} == {("r2", "straightlining")}
    assert len(rejected) == 3  # every row of the respondent, one per item
