"""``servqual trend``: the report's trends, answered from the history store."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE
from fixtures import replace_in_instrument, tiny
from servqual.celltext import bound_label
from servqual.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def trend_json(store, *args) -> dict:
    result = invoke("trend", "--store", store, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def report(sample_results):
    results, _ = sample_results
    return results.to_json()


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


FIT = ["direction", "slope_per_wave", "slope_ci95_low", "slope_ci95_high", "p_value", "change",
       "waves", "first", "last", "first_wave", "last_wave", "kendall_tau", "kendall_p",
       "theil_sen_slope"]


def test_every_dimension_as_the_report_classifies_it(sample_store, report):
    answer = trend_json(sample_store)
    assert answer["waves"] == report["waves"]
    by_dimension = {t["dimension"]: t for t in report["trends"]}
    assert [s["id"] for s in answer["series"]] == list(by_dimension)
    for series in answer["series"]:
        expected = by_dimension[series["id"]]
        for key in FIT:
            assert same(series["gap_trend"][key], expected[key]), (series["id"], key)
            assert same(series["perception_trend"][key], expected["perception_" + key])
    directions = {s["id"]: s["gap_trend"]["direction"] for s in answer["series"]}
    assert directions["reliability"] == "falling" and directions["responsiveness"] == "rising"


def test_gap_and_perception_per_wave_are_the_reports(sample_store, report):
    answer = trend_json(sample_store, "--dimension", "assurance")
    (series,) = answer["series"]
    expected = [r for r in report["by_wave"] if r["dimension"] == "assurance"]
    assert [p["wave"] for p in series["by_wave"]] == [r["wave"] for r in expected]
    for point, row in zip(series["by_wave"], expected):
        for key in ("n", "gap_mean", "perception_mean", "expectation_mean", "gap_ci95_low",
                    "gap_ci95_high"):
            assert same(point[key], row[key]), key


def test_an_item(sample_store, report):
    (series,) = trend_json(sample_store, "--item", "q05")["series"]
    expected = next(t for t in report["item_trends"] if t["item"] == "q05")
    assert series["dimension"] == "reliability"
    for key in FIT:
        assert same(series["gap_trend"][key], expected[key]), key


def test_a_segment_value(sample_store, report):
    answer = trend_json(sample_store, "--dimension", "responsiveness", "--segment", "region=West")
    (series,) = answer["series"]
    expected = next(t for t in report["segment_trends"] if t["column"] == "region"
                    and t["value"] == "West" and t["dimension"] == "responsiveness")
    for key in FIT:
        assert same(series["gap_trend"][key], expected[key]), key
    assert {k: answer["segment"][k] for k in ("column", "value")} == {"column": "region",
                                                                      "value": "West"}
    # West's responsiveness is planted worse than the whole sample's.
    whole = trend_json(sample_store, "--dimension", "responsiveness")["series"][0]
    assert series["by_wave"][-1]["gap_mean"] < whole["by_wave"][-1]["gap_mean"] - 0.3


def test_a_table_on_the_terminal(sample_store):
    result = invoke("trend", "--store", sample_store, "--dimension", "reliability")
    assert result.exit_code == 0, result.output
    assert "2026Q3" in result.stdout and "▼ falling: −0." in result.stdout
    everything = invoke("trend", "--store", sample_store)
    assert everything.exit_code == 0 and "Empathy" in everything.stdout


def report_number(x: float, digits: int = 2, sign: bool = True) -> str:
    """How the report writes a number, computed here independently: a true minus sign."""
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return text.replace("-", "\u2212")


@pytest.mark.parametrize("lang, words", [
    ("en", ["Region = West", "Reliability", "▼ falling", "Gap (P − E)", "Perception:"]),
    ("zh-CN", ["区域 = 西部", "可靠性", "▼ 呈下降趋势", "差距（P − E）", "实际感受：", "波次",
               "样本量", "95% 置信区间"])])
def test_trend_speaks_the_language_asked_with_the_reports_numbers(sample_store, lang, words):
    """--lang: the table's words, the dimension's and the segment's labels in that language
    (from the store's instrument), the numbers as the report writes them."""
    args = ("--dimension", "reliability", "--segment", "region=West")
    answer = trend_json(sample_store, *args)
    result = invoke("trend", "--store", sample_store, *args, "--lang", lang)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for word in words:
        assert word in text, word
    for row in answer["series"][0]["by_wave"]:
        assert f"{report_number(row['gap_mean'])} " in text
        assert f"{report_number(row['perception_mean'], sign=False)} " in text
    fit = answer["series"][0]["gap_trend"]
    assert report_number(fit["slope_per_wave"], 3) in text
    assert not re.search(r"(?<![\w.])-\d", text)  # no ASCII hyphen as a minus
    if lang == "zh-CN":
        english = set(re.findall(r"[A-Za-z]{2,}", text)) - {"CI"}
        assert english == set(), english
    overview = invoke("trend", "--store", sample_store, "--lang", lang)
    assert overview.exit_code == 0, overview.output
    labels = [s["label"][lang] for s in trend_json(sample_store)["series"]]
    assert all(label in overview.stdout for label in labels)


@pytest.mark.parametrize("args, named", [
    (("--dimension", "speed"), "tangibles (Tangibles), reliability (Reliability), "
                               "responsiveness (Responsiveness), assurance (Assurance), "
                               "empathy (Empathy)"),
    (("--item", "q99"), "q01 (The company's equipment looks modern and up to date.)"),
    (("--segment", "planet=Mars"), "customer_class, region, survey_mode"),
    (("--segment", "region=Mars"), "Central, East, North, South, West"),
    (("--dimension", "tangibles", "--item", "q05"), "reliability"),
])
def test_unknown_names_are_usage_errors_naming_the_known_ones(sample_store, args, named):
    result = invoke("trend", "--store", sample_store, *args)
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args, closest", [
    (("--dimension", "responsivenes"), "did you mean 'responsiveness'?"),
    (("--dimension", "Emphaty"), "did you mean 'empathy'?"),
    (("--item", "q5"), "did you mean 'q05'?"),
    (("--segment", "regoin=West"), "did you mean 'region'?"),
    (("--segment", "region=Wset"), "did you mean 'West'?"),
])
def test_a_misspelt_name_is_answered_with_the_closest_one(sample_store, args, closest):
    result = invoke("trend", "--store", sample_store, *args)
    assert result.exit_code == 2, result.output
    assert closest in result.output


@pytest.mark.parametrize("name", ["Responsiveness", "RESPONSIVENESS", "  responsiveness ",
                                  "响应性", "\u3000响应性\u3000", "ＲＥＳＰＯＮＳＩＶＥＮＥＳＳ"])
def test_a_dimension_named_by_its_label_or_in_another_case_exited_65(sample_store, name):
    """--dimension takes the key or a label in any language, in any case, with surrounding
    (full-width) spaces and full-width letters: the answer is the dimension's."""
    (series,) = trend_json(sample_store, "--dimension", name)["series"]
    assert series["id"] == "responsiveness"
    assert series == trend_json(sample_store, "--dimension", "responsiveness")["series"][0]


def test_an_item_id_in_another_case_exited_65(sample_store):
    (series,) = trend_json(sample_store, "--item", " Q05 ")["series"]
    assert series["id"] == "q05"
    assert series == trend_json(sample_store, "--item", "q05")["series"][0]


def test_a_segment_column_and_value_in_another_case_exited_65(sample_store):
    answer = trend_json(sample_store, "--dimension", "Responsiveness", "--segment", "REGION=west")
    assert {k: answer["segment"][k] for k in ("column", "value")} == {"column": "region",
                                                                      "value": "West"}
    assert answer == trend_json(sample_store, "--dimension", "responsiveness",
                                "--segment", "region=West")


def test_labels_come_from_the_store_without_an_instrument_file(sample_store, tmp_path,
                                                               monkeypatch):
    """The labels are those of the instrument kept in the store: no --instrument, and no
    surveys/instrument.toml where the command runs."""
    monkeypatch.chdir(tmp_path)
    (series,) = trend_json(sample_store, "--dimension", "有形性")["series"]
    assert series["id"] == "tangibles"


def test_many_segment_values_are_listed_bounded(tmp_path):
    """An unknown value of a column with many (and long) values names at most 20 of them,
    each shortened as the report shows it (servqual.celltext.bound_label)."""
    values = [f"Branch {n:02d} " + "x" * 80 for n in range(30)]
    rows = "\n".join(f"r{n},{values[n % 30]},4,4,3,3,4,4" for n in range(60))
    for wave in ("2025Q4", "2026Q1"):
        inst, _ = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\n" + rows + "\n",
                       name=f"{wave}.csv")
    store = tmp_path / "s.duckdb"
    result = invoke("ingest", tmp_path / "2025Q4.csv", tmp_path / "2026Q1.csv",
                    "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    result = invoke("trend", "--store", store, "--segment", "region=Mars")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "Branch 19 " in message and "Branch 20 " not in message
    assert "… and 10 more" in message
    assert values[0] not in message and bound_label(values[0]) + "," in message


def test_a_malformed_segment_is_a_usage_error(sample_store):
    result = invoke("trend", "--store", sample_store, "--segment", "region")
    assert result.exit_code == 2 and "COLUMN=VALUE" in result.output


def test_small_segment_cells_are_suppressed(tmp_path):
    """Cells under min_cell are withheld from the per-wave figures and the fit."""
    instrument = replace_in_instrument("min_cell = 1", "min_cell = 3")
    rows = "\n".join(f"r{i},{'East' if i < 6 else 'West'},4,4,3,{3 + i % 3},4,4"
                     for i in range(8))
    for wave in ("2025Q4", "2026Q1"):
        inst, _ = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\n" + rows + "\n",
                       name=f"{wave}.csv", instrument=instrument)
    store = tmp_path / "s.duckdb"
    result = invoke("ingest", tmp_path / "2025Q4.csv", tmp_path / "2026Q1.csv",
                    "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    west = trend_json(store, "--dimension", "alpha", "--segment", "region=West")["series"][0]
    assert all(p["suppressed"] and p["gap_mean"] is None for p in west["by_wave"])
    assert [p["n"] for p in west["by_wave"]] == [2, 2]
    assert west["gap_trend"]["direction"] == "insufficient_waves"
    east = trend_json(store, "--dimension", "alpha", "--segment", "region=East")["series"][0]
    assert not any(p["suppressed"] for p in east["by_wave"])


def test_trend_answers_without_loading_the_statistics(sample_store):
    """The command imports neither pandas nor scipy nor statsmodels (they take over a
    second to load): everything comes from the store's small trend tables."""
    code = ("import sys; from servqual.cli import main; sys.argv = ['servqual', 'trend', "
            f"'--store', {str(sample_store)!r}, '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('pandas', 'scipy', 'statsmodels') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["series"]


def test_report_and_trend_read_the_sample_store(sample_store):
    """The store holds the sample's eight waves (the fixture every test here shares)."""
    answer = trend_json(sample_store)
    assert len(answer["waves"]) == len(SAMPLE) and answer["instrument"].startswith("SERVQUAL")
