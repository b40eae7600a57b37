"""``servqual init`` (contract §5): an instrument drafted from a survey file as each platform
exports it, then ``servqual report`` on the draft without editing it.

Each export is the tiny survey of tests/fixtures.py written in the platform's layout by the
test itself; the report on the draft must give the figures computed by hand for it
(fixtures.TINY_ITEMS).
"""

from __future__ import annotations

import json
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import INSTRUMENT, SAMPLE
from fixtures import TINY_ITEMS, TINY_ROWS, write
from servqual.cli import app

runner = CliRunner()
AGREE = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree",
         5: "Strongly agree"}
STATEMENTS = ["Staff appearance", "Modern equipment", "Prompt service"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def draft_and_report(tmp_path, path, *more):
    inst = tmp_path / "drafted.toml"
    result = invoke("init", path, "--out", inst)
    assert result.exit_code == 0, result.output
    out = tmp_path / "r.json"
    report = invoke("report", path, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--json", out, *more)
    assert report.exit_code == 0, report.output
    return result.output, tomllib.loads(inst.read_text(encoding="utf-8")), json.loads(
        out.read_text(encoding="utf-8"))


def assert_hand_figures(results):
    items = {i["item"]: i for i in results["items"]}
    for n, (item, expected) in enumerate(TINY_ITEMS.items(), start=1):
        for key, value in expected.items():
            assert items[f"q{n:02d}"][key] == pytest.approx(value), (item, key)


def data_rows():
    """(id, region, E1..E3, P1..P3) of the tiny survey, 9 being its missing code."""
    return [row for row in TINY_ROWS[1:]]


def csv_text(rows) -> str:
    def cell(v):
        v = str(v)
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v
    return "\n".join(",".join(cell(v) for v in row) for row in rows) + "\n"


def test_coded_columns_the_sample_wave_gives_the_shipped_instruments_figures(tmp_path):
    output, drafted, results = draft_and_report(tmp_path, SAMPLE[-1])
    assert "22 expectation–perception pairs" in output and "SERVQUAL dimensions" in output
    assert drafted["instrument"]["scale_min"] == 1 and drafted["instrument"]["scale_max"] == 7
    assert set(drafted["instrument"]["missing_codes"]) == {0, 99}
    assert drafted["instrument"]["segments"] == ["customer_class", "region", "survey_mode"]
    out = tmp_path / "s.json"
    assert invoke("report", SAMPLE[-1], "--instrument", INSTRUMENT, "--out",
                  tmp_path / "s.html", "--json", out).exit_code == 0
    shipped = json.loads(out.read_text(encoding="utf-8"))
    for ours, theirs in zip(results["dimensions"], shipped["dimensions"]):
        assert ours["dimension"] == theirs["dimension"]
        assert ours["gap_mean"] == pytest.approx(theirs["gap_mean"], abs=1e-12)
    for key in ("rows_read", "rows_valid", "rows_quarantined", "quarantine_reasons",
                "answers_missing"):
        assert results["data_quality"][key] == shipped["data_quality"][key], key


def test_qualtrics_export_of_two_matrices(tmp_path):
    names = ["ResponseId", "Region"] + [f"Q2_{n}" for n in (1, 2, 3)] + [
        f"Q3_{n}" for n in (1, 2, 3)]
    texts = ["Response ID", "Region"] + [f"Expectation - {s}" for s in STATEMENTS] + [
        f"Perception - {s}" for s in STATEMENTS]
    ids = ['{"ImportId":"_recordId"}', '{"ImportId":"QID1"}'] + [
        '{"ImportId":"QID%d_%d"}' % (q, n) for q in (2, 3) for n in (1, 2, 3)]
    rows = [[v if v != "9" else "-99" for v in row] for row in data_rows()]
    path = write(tmp_path / "All_Data_Original.csv", "\ufeff" + csv_text([names, texts, ids]
                                                                          + rows))
    output, drafted, results = draft_and_report(tmp_path, path, "--wave", "2026Q3")
    assert "platform: Qualtrics; header rows: 3" in output
    assert drafted["instrument"]["respondent_id"] == "ResponseId"
    assert [i["expectation"] for i in drafted["items"]] == ["Q2_1", "Q2_2", "Q2_3"]
    assert [i["text"]["en"] for i in drafted["items"]] == STATEMENTS
    assert_hand_figures(results)


def test_wenjuanxing_text_export_with_repeated_row_labels(tmp_path):
    labels = ["服务态度", "设备现代", "响应迅速"]
    names = ["序号", "提交答卷时间", "所用时间", "地区"] + labels + labels
    rows = []
    for n, row in enumerate(data_rows()):
        answers = ["(跳过)" if v == "9" else (f"{v}分" if v else "") for v in row[2:]]
        rows.append([str(n + 1), "2026/9/30 10:00:00", "120秒", {"East": "华东", "West": "华西"}[
            row[1]]] + answers)
    path = write(tmp_path / "问卷星导出.csv", csv_text([names] + rows), encoding="gb18030")
    output, drafted, results = draft_and_report(tmp_path, path, "--wave", "2026Q3")
    assert "platform: 问卷星" in output and "repeated text" in output
    assert drafted["instrument"]["encoding"] == "gb18030"
    assert drafted["instrument"]["answer_pattern"] == r"^(\d+)\s*分$"
    assert "(跳过)" in drafted["instrument"]["missing_codes"]
    assert drafted["items"][0]["expectation"] == {"position": 5}
    assert drafted["items"][0]["perception"] == {"position": 8}
    assert drafted["instrument"]["segments"] == ["地区"]
    assert_hand_figures(results)


def test_google_forms_with_agreement_texts_and_a_resubmission(tmp_path):
    names = ["Timestamp", "Email Address", "Region"] + [
        f"What you expect: {s}" for s in STATEMENTS] + [f"What you experienced: {s}"
                                                        for s in STATEMENTS]
    rows = []
    for n, row in enumerate(data_rows()):
        answers = ["Don't know" if v == "9" else (AGREE[int(v)] if v else "") for v in row[2:]]
        rows.append([f"2026/09/{10 + n} 10:00:00", f"{row[0]}@example.com", row[1]] + answers)
    rows.insert(1, ["2026/09/09 09:00:00", "r2@example.com", "East"] + [AGREE[1]] * 6)
    path = write(tmp_path / "Service survey (Responses).csv", csv_text([names] + rows))
    output, drafted, results = draft_and_report(tmp_path, path, "--wave", "2026Q3")
    assert "platform: Google Forms" in output and "e-mail" in output
    assert drafted["instrument"]["duplicates"] == "keep_last"
    assert drafted["answer_labels"]["Strongly agree"] == 5
    assert "Don't know" in drafted["instrument"]["missing_codes"]
    assert_hand_figures(results)  # r2's first submission set aside, its last one counted


@pytest.mark.parametrize("layout", ["limesurvey", "surveymonkey"])
def test_limesurvey_and_surveymonkey_exports(tmp_path, layout):
    if layout == "limesurvey":
        header = [["id", "submitdate", "lastpage", "startlanguage", "region",
                   "E1", "E2", "E3", "P1", "P2", "P3"]]
        rows = [[str(n + 1), "2026-09-30 10:00:00", "3", "en", *row[1:]]
                for n, row in enumerate(data_rows())]
    else:
        header = [["Respondent ID", "Collector ID", "Region", "Expectations", "", "",
                   "Perceptions", "", ""],
                  ["", "", "Response", *STATEMENTS, *STATEMENTS]]
        rows = [[str(1000 + n), "42", *row[1:]] for n, row in enumerate(data_rows())]
    path = write(tmp_path / "results-survey.csv", csv_text(header + rows))
    output, drafted, results = draft_and_report(tmp_path, path, "--wave", "2026Q3")
    assert {"limesurvey": "LimeSurvey", "surveymonkey": "SurveyMonkey"}[layout] in output
    assert_hand_figures(results)


def test_init_refuses_to_overwrite_and_names_what_it_could_not_find(tmp_path):
    inst = write(tmp_path / "instrument.toml", "keep me")
    result = invoke("init", SAMPLE[-1], "--out", inst)
    assert result.exit_code == 73 and "--force" in result.output
    assert inst.read_text() == "keep me"
    plain = write(tmp_path / "2026Q3.csv", "id,region,score\nr1,East,4\nr2,West,5\n")
    result = invoke("init", plain, "--out", tmp_path / "new.toml")
    assert result.exit_code == 65 and "found no expectation–perception pairs" in result.output
    assert not (tmp_path / "new.toml").exists()
    result = invoke("init", tmp_path / "missing.csv", "--out", tmp_path / "new.toml")
    assert result.exit_code == 66


# Property: any small export drafts an instrument or says why not, and the draft runs.
NAMES = ["id", "序号", "Email Address", "Timestamp", "region", "地区", "E01", "P01", "E02",
         "P02", "期望3", "感知3", "Expectation - Staff", "Perception - Staff", "服务态度",
         "服务态度", "Q1_1", "", "=cmd|' /C calc'!A0", "x" * 120]
CELLS = ["1", "2", "3", "4", "5", "7", "9", "99", "-99", "0", "", "4分", "(跳过)", "Agree",
         "Strongly agree", "不同意", "abc", "4.5", "East", "华东", "r1", "1e-320", "=1+1",
         "a,b", 'say "hi"', "\u202eevil"]


PAIRS = [("E01", "P01"), ("期望3", "感知3"), ("Expectation - Staff", "Perception - Staff"),
         ("服务态度", "服务态度"), ("Q1E", "Q1P")]


ANSWERS = ["1", "2", "3", "4", "5", "", "9", "-99", "4分", "(跳过)", "Agree", "不同意"]


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pair=st.sampled_from(PAIRS), others=st.lists(st.sampled_from(NAMES), max_size=6),
       at=st.integers(0, 6),
       rows=st.lists(st.tuples(st.lists(st.sampled_from(ANSWERS), min_size=2, max_size=2),
                               st.lists(st.sampled_from(CELLS), min_size=6, max_size=6)),
                     max_size=12),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_any_export_is_drafted_or_refused_and_the_draft_runs(tmp_path_factory, pair, others,
                                                             at, rows, encoding):
    folder = tmp_path_factory.mktemp("init")
    names = others[:at] + list(pair) + others[at:]
    at = min(at, len(others))  # the pair's columns hold answers, the others anything
    body = [other[:at] + answers + other[at:len(others)] for answers, other in rows]
    path = folder / "export.csv"
    path.write_bytes(csv_text([names] + body).encode(encoding, errors="replace"))
    inst = folder / "drafted.toml"
    result = invoke("init", path, "--out", inst)
    assert result.exit_code in (0, 65), (result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 65:
        assert "export.csv" in result.output and not inst.exists()
        return
    tomllib.loads(inst.read_text(encoding="utf-8"))
    report = invoke("report", path, "--instrument", inst, "--wave", "2026Q3",
                    "--out", folder / "r.html")
    assert report.exit_code in (0, 65), (report.output, report.exception)
    assert "Traceback" not in report.output
