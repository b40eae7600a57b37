"""Outcomes and the Net Promoter Score (issue 19, contract §6), through the command line.

Every figure is checked against a count done here by hand or with pandas on the file's own
cells; the interval against the adjusted Wald formula written out step by step, and against
its coverage on simulated answers with a known NPS.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, report_tiny
from servqual.cli import app
from servqual.stats.nps import adjusted_wald

RECOMMEND = """
[outcomes.recommend]
column = "ltr"
scale_min = 0
scale_max = 10
"""

# 20 respondents: promoters (9–10) 9, passives (7–8) 6, detractors (0–6) 5, and four cells
# that are no usable answer (blank, off the scale, a fraction, text): those respondents
# keep their SERVQUAL answers.
LTR = ["10", "9", "9", "10", "9", "9", "10", "9", "9",  # promoters
       "7", "8", "8", "7", "7", "8",                    # passives
       "0", "6", "3", "5", "6",                         # detractors (0 is an answer here)
       "", "11", "8.5", "n/a"]


def ltr_csv(values: list[str], regions: list[str] | None = None) -> str:
    regions = regions or ["East" if n % 2 else "West" for n in range(len(values))]
    rows = ["id,region,E1,E2,E3,P1,P2,P3,ltr"]
    rows += [f"r{n},{region},4,4,3,3,5,4,{v}" for n, (v, region) in
             enumerate(zip(values, regions))]
    return "\n".join(rows) + "\n"


def test_nps_and_its_adjusted_wald_interval_by_hand(tmp_path):
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + RECOMMEND, ltr_csv(LTR))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["data_quality"]["rows_valid"] == len(LTR)  # no row lost to its outcome cell
    whole = [r for r in doc["loyalty"]["nps"] if r["column"] is None]
    assert len(whole) == 1
    row = whole[0]
    assert row["n"] == 20
    assert row["promoters"] == pytest.approx(45.0) and row["detractors"] == pytest.approx(25.0)
    assert row["passives"] == pytest.approx(30.0)
    assert row["nps"] == pytest.approx(20.0)
    # adjusted Wald (Rocks 2016): n' = 23, p' = 9.75/23, d' = 5.75/23
    p, d = 9.75 / 23, 5.75 / 23
    half = 1.959963984540054 * math.sqrt((p + d - (p - d) ** 2) / 23)
    assert row["ci95_low"] == pytest.approx(100 * (p - d - half))
    assert row["ci95_high"] == pytest.approx(100 * (p - d + half))
    assert (round(row["ci95_low"], 2), round(row["ci95_high"], 2)) == (-15.4, 50.18)
    # The outcome's usable answers: 20 of the 24 (blank, 11, 8.5 and n/a are not), by hand.
    usable = [float(v) for v in LTR[:20]]
    (answered,) = doc["loyalty"]["outcomes"]
    assert (answered["outcome"], answered["source"]) == ("recommend", "survey")
    assert (answered["n"], answered["respondents"]) == (20, 24)
    assert answered["mean"] == pytest.approx(sum(usable) / 20)


def test_nps_per_segment_value_and_small_cells_withheld(tmp_path):
    regions = ["North"] * 4 + ["East"] * 12 + ["West"] * 8
    instrument = TINY_INSTRUMENT.replace("min_cell = 1", "min_cell = 5")
    result, out = report_tiny(tmp_path, instrument + RECOMMEND, ltr_csv(LTR, regions))
    assert result.exit_code == 0, result.output
    rows = {r["value"]: r for r in json.loads(out.read_text("utf-8"))["loyalty"]["nps"]
            if r["column"] == "region"}
    # fewer than min_cell answers are withheld: North (4 respondents) and West (8
    # respondents, 4 of whom gave no usable answer)
    assert set(rows) == {"East"}
    frame = pd.DataFrame({"ltr": pd.to_numeric(LTR, errors="coerce"), "region": regions})
    frame = frame[frame["ltr"].between(0, 10) & (frame["ltr"] % 1 == 0)]
    assert frame.groupby("region").size().to_dict() == {"East": 12, "North": 4, "West": 4}
    for region, group in frame.groupby("region"):
        if region not in rows:
            continue
        share = lambda mask: 100 * mask.mean()  # noqa: E731
        assert rows[region]["n"] == len(group)
        assert rows[region]["nps"] == pytest.approx(share(group["ltr"] >= 9)
                                                    - share(group["ltr"] <= 6))


def test_nps_of_every_sample_wave_equals_a_direct_count(tmp_path):
    """The demo's waves, through `servqual report`: each wave's NPS as pandas counts it on
    the file, over the rows the run analysed (those not in the quarantine file)."""
    from conftest import ROOT, SAMPLE

    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, [
        "report", *map(str, SAMPLE[-3:]), "--instrument", str(ROOT / "surveys" / "instrument.toml"),
        "--out", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["wave"]: r for r in json.loads(out.read_text("utf-8"))["loyalty"]["nps"]
            if r["column"] is None}
    rejected = pd.read_csv(tmp_path / "r.rejected.csv", dtype=str, encoding="utf-8-sig")
    for path in SAMPLE[-3:]:
        data = pd.read_csv(path, dtype=str, keep_default_na=False)
        wave = path.stem
        bad = rejected[rejected["source_file"].str.endswith(path.name)]["source_row"]
        data = data.drop(index=sorted({int(r) - 2 for r in bad}))  # the header is row 1
        ltr = pd.to_numeric(data["recommend"], errors="coerce")
        ltr = ltr[ltr.between(0, 10) & (ltr % 1 == 0)]
        assert rows[wave]["n"] == len(ltr)
        assert rows[wave]["nps"] == pytest.approx(100 * ((ltr >= 9).mean() - (ltr <= 6).mean()))
    # the planted decline: reliability's falling gap pulls recommendation down
    assert rows[SAMPLE[-1].stem]["nps"] < rows[SAMPLE[-3].stem]["nps"]


def test_the_adjusted_wald_interval_covers_a_known_nps_about_95_percent_of_the_time():
    """Coverage on simulated answers (fixed seed): 2,000 samples of 60 from a trinomial with
    45 % promoters and 20 % detractors (NPS 25); Rocks (2016) finds the adjusted Wald close
    to the nominal 95 %."""
    rng = np.random.default_rng(19)
    counts = rng.multinomial(60, [0.45, 0.35, 0.20], size=2000)
    low, high = adjusted_wald(np.full(2000, 60.0), counts[:, 0] / 60, counts[:, 2] / 60)
    coverage = np.mean((low <= 25) & (25 <= high))
    assert 0.93 <= coverage <= 0.97, coverage
    # and it stays inside the scale when everyone agrees
    low, high = adjusted_wald([10.0], [1.0], [0.0])
    assert -100 <= low[0] < high[0] <= 100


@pytest.mark.parametrize("extra, key, words", [
    (RECOMMEND.replace("scale_min = 0", "scale_min = 1"), "outcomes.recommend",
     "0–10"),
    (RECOMMEND.replace("recommend]", "recomend]"), "outcomes.recomend", "did you mean 'recommend'"),
    (RECOMMEND.replace('column = "ltr"', 'colum = "ltr"'), "outcomes.recommend.colum",
     "did you mean 'column'"),
    ('\n[outcomes.satisfaction]\ncolumn = "ltr"\nscale_min = 5\nscale_max = 1\n',
     "outcomes.satisfaction.scale_min", "must be below"),
    ('\n[outcomes.repurchase]\ncolumn = "ltr"\nscale_min = 1\n', "outcomes.repurchase.scale_max",
     "must be a finite number"),
    ('\n[outcomes.repurchase]\ncolumn = "ltr"\nscale_min = 1\nscale_max = nan\n',
     "outcomes.repurchase.scale_max", "must be a finite number"),
])
def test_outcome_mistakes_name_the_file_and_key(tmp_path, extra, key, words):
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + extra, ltr_csv(LTR))
    assert result.exit_code == 65, result.output
    assert key in result.output and words in result.output
    assert "Traceback" not in result.output


def test_an_outcome_column_in_no_file_is_an_error_naming_the_closest(tmp_path):
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + RECOMMEND.replace('"ltr"', '"ltr_q"'),
                            ltr_csv(LTR))
    assert result.exit_code == 65, result.output
    assert "'ltr_q'" in result.output and "outcomes.recommend.column" in result.output
    assert "closest: 'ltr'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_a_wave_without_the_outcome_column_is_analysed_with_a_notice(tmp_path, engine):
    """The question was added in the second wave: the first wave's file has no ltr column.
    Both waves are analysed whole; the first has no NPS and its file record, the command's
    warnings and the report say why. The second wave's NPS is the hand example's."""
    inst = tmp_path / "instrument.toml"
    inst.write_text(TINY_INSTRUMENT + RECOMMEND, encoding="utf-8")
    early = ltr_csv(LTR).splitlines()
    early = [line.rsplit(",", 1)[0] for line in early]  # without the ltr column
    (tmp_path / "2026Q2.csv").write_text("\n".join(early) + "\n", encoding="utf-8")
    (tmp_path / "2026Q3.csv").write_text(ltr_csv(LTR), encoding="utf-8")
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    result = CliRunner().invoke(app, [
        "report", str(tmp_path / "2026Q2.csv"), str(tmp_path / "2026Q3.csv"), "--instrument",
        str(inst), "--engine", engine, "--out", str(page), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "2026Q2.csv: no column 'ltr' ([outcomes.recommend])" in result.output
    assert "2026Q3.csv: no column" not in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["data_quality"]["rows_valid"] == 2 * len(LTR)  # no row lost
    absent = {f["file"].rsplit("/", 1)[-1]: f["outcomes_absent"]
              for f in doc["data_quality"]["files"]}
    assert absent == {"2026Q2.csv": ["recommend"], "2026Q3.csv": []}
    waves = {r["wave"]: r for r in doc["loyalty"]["nps"] if r["column"] is None}
    assert list(waves) == ["2026Q3"]  # no NPS where nobody was asked
    assert waves["2026Q3"]["n"] == 20 and waves["2026Q3"]["nps"] == pytest.approx(20.0)
    text = page.read_text(encoding="utf-8")
    assert "2026Q2.csv has no column for likelihood to recommend" in text
    result = CliRunner().invoke(app, [
        "validate", str(tmp_path / "2026Q2.csv"), "--instrument", str(inst),
        "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no column 'ltr' ([outcomes.recommend])" in result.output


def test_satisfaction_outcome_and_the_older_setting_must_agree(tmp_path):
    instrument = TINY_INSTRUMENT.replace('respondent_id = "id"',
                                         'respondent_id = "id"\noverall_satisfaction = "P3"')
    extra = '\n[outcomes.satisfaction]\ncolumn = "ltr"\nscale_min = 0\nscale_max = 10\n'
    result, _ = report_tiny(tmp_path, instrument + extra, ltr_csv(LTR))
    assert result.exit_code == 65, result.output
    assert "outcomes.satisfaction.column" in result.output and "'P3'" in result.output


def test_without_a_recommend_outcome_loyalty_is_empty(tmp_path):
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT, ltr_csv(LTR))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text("utf-8"))["loyalty"] == {"nps": [], "nps_trends": [],
                                                             "nps_change": [], "outcomes": []}


@pytest.mark.parametrize("lang, words", [
    ("en", ["Loyalty and key drivers", "NPS in 2026Q3: +20 (95% CI −15 to +50), from 20 answers: 45% promoters, "
            "25% detractors.", "Net Promoter Score (NPS)", "NPS by region, 2026Q3"]),
    ("zh-CN", ["客户忠诚度与关键驱动因素", "2026Q3 的净推荐值为 +20（95% 置信区间 −15 至 +50），基于 20 个回答：推荐者 45%，贬损者 25%。",
               "净推荐值（NPS）", "2026Q3 按 region 的净推荐值"])])
def test_the_report_shows_the_nps_in_both_languages(tmp_path, lang, words):
    import html
    import re

    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + RECOMMEND, ltr_csv(LTR), "--lang", lang)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", re.sub(
        r"<(script|style)\b.*?</\1>", " ", page, flags=re.S))))
    for word in words:
        assert word in text, word
    assert 'href="#loyalty"' in page
