"""The satisfaction–loyalty matrix (issue 19, contract §6 ``loyalty.matrix``), through the
command line.

Group counts are checked against a placement done here by hand, shares against pandas
counts on the files, intervals against statsmodels' Wilson interval, and each group's gap
profile against the dimension gaps computed with pandas from the file's own cells.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, report_tiny, write
from servqual.cli import app

OUTCOMES = """
[outcomes.satisfaction]
column = "sat"
scale_min = 1
scale_max = 5

[outcomes.repurchase]
column = "again"
scale_min = 1
scale_max = 5
"""

# (satisfaction, repurchase) per respondent; high = 4 or 5 on both 1–5 scales (top two).
PAIRS = [("5", "5"), ("4", "4"), ("5", "4"), ("4", "5"), ("5", "5"), ("4", "4"),  # both high
         ("5", "3"), ("4", "1"), ("5", "2"),                                      # satisfied only
         ("3", "5"), ("2", "4"), ("1", "5"), ("3", "4"),                          # loyal only
         ("3", "3"), ("2", "2"), ("1", "1"), ("3", "1"), ("2", "3"),              # neither
         ("", "5"), ("5", ""), ("6", "4"), ("4", "x")]                            # not placed
EXPECTED = {"loyal_satisfied": 6, "satisfied_not_loyal": 3, "loyal_not_satisfied": 4,
            "neither": 5}


def survey(pairs, regions=None) -> pd.DataFrame:
    """A wave whose SERVQUAL answers differ from row to row (all answered)."""
    rows = []
    for n, (sat, again) in enumerate(pairs):
        rows.append({"id": f"r{n}", "region": regions[n] if regions else ["East", "West"][n % 2],
                     "E1": 1 + (n * 3) % 5, "E2": 1 + (n * 2) % 5, "E3": 5 - n % 3,
                     "P1": 1 + (n * 7) % 5, "P2": 1 + n % 5, "P3": 1 + (n * 4) % 5,
                     "sat": sat, "again": again})
    return pd.DataFrame(rows)


def as_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def hand_group(sat: str, again: str) -> str | None:
    try:
        s, a = float(sat), float(again)
    except ValueError:
        return None
    if not (1 <= s <= 5 and 1 <= a <= 5):
        return None
    return {(True, True): "loyal_satisfied", (True, False): "satisfied_not_loyal",
            (False, True): "loyal_not_satisfied", (False, False): "neither"}[(s >= 4, a >= 4)]


def matrix_of(out) -> dict:
    return json.loads(out.read_text(encoding="utf-8"))["loyalty"]["matrix"]


def test_groups_shares_intervals_and_gap_profiles_by_hand(tmp_path):
    frame = survey(PAIRS)
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES, as_csv(frame))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["data_quality"]["rows_valid"] == len(PAIRS)  # unplaced rows still analysed
    m = doc["loyalty"]["matrix"]
    assert m["satisfaction"] == {"outcome": "satisfaction", "high_from": 4.0}
    assert m["loyalty"] == {"outcome": "repurchase", "high_from": 4.0}
    assert m["basis"] == "gap"
    whole = {r["group"]: r for r in m["shares"] if r["column"] is None}
    assert list(whole) == list(EXPECTED)  # the contract's order of the groups
    placed = sum(EXPECTED.values())
    for group, count in EXPECTED.items():
        row = whole[group]
        assert (row["n"], row["count"]) == (placed, count)
        assert row["share"] == pytest.approx(count / placed)
        low, high = proportion_confint(count, placed, alpha=0.05, method="wilson")
        assert (row["ci95_low"], row["ci95_high"]) == (pytest.approx(low), pytest.approx(high))

    # gap profiles: each group's mean dimension gap, from the file with pandas
    frame["group"] = [hand_group(s, a) for s, a in PAIRS]
    frame["alpha"] = ((frame["P1"] - frame["E1"]) + (frame["P2"] - frame["E2"])) / 2
    frame["beta"] = frame["P3"] - frame["E3"]
    expected = frame.dropna(subset=["group"]).groupby("group")[["alpha", "beta"]].agg(
        ["mean", "size"])
    profiles = [r for r in m["profiles"] if r["column"] is None]
    assert len(profiles) == 4 * 2
    for row in profiles:
        assert row["mean"] == pytest.approx(expected.loc[row["group"], (row["dimension"], "mean")])
        assert row["n"] == expected.loc[row["group"], (row["dimension"], "size")]

    # each group's strategy names the dimension it rates worst, with that gap
    worst = {g: ("Alpha" if expected.loc[g, ("alpha", "mean")] < expected.loc[g, ("beta", "mean")]
                 else "Beta") for g in EXPECTED}
    groups = {g["group"]: g for g in m["groups"]}
    assert list(groups) == list(EXPECTED)
    for g in ("loyal_not_satisfied", "neither"):
        gap = min(expected.loc[g, ("alpha", "mean")], expected.loc[g, ("beta", "mean")])
        assert f"({worst[g]}: gap {gap:+.2f}".replace("-", "−") in groups[g]["strategy"]["en"]
        assert groups[g]["strategy"]["en"].startswith(f"{100 * EXPECTED[g] / placed:.0f}%")
        assert groups[g]["strategy"]["zh-CN"]  # both languages, from the strategy book


def test_shares_per_segment_value_and_small_cells_withheld(tmp_path):
    regions = ["North"] * 3 + ["East"] * 10 + ["West"] * 9
    instrument = TINY_INSTRUMENT.replace("min_cell = 1", "min_cell = 5")
    frame = survey(PAIRS, regions)
    result, out = report_tiny(tmp_path, instrument + OUTCOMES, as_csv(frame))
    assert result.exit_code == 0, result.output
    m = matrix_of(out)
    rows = [r for r in m["shares"] if r["column"] == "region"]
    assert {r["value"] for r in rows} == {"East", "West"}  # North: 3 respondents, withheld
    frame["group"] = [hand_group(s, a) for s, a in PAIRS]
    counts = pd.crosstab(frame["region"], frame["group"])
    for row in rows:
        n = counts.loc[row["value"]].sum()
        assert row["n"] == n
        assert row["share"] == pytest.approx(counts.loc[row["value"]].get(row["group"], 0) / n)
    assert not any(r["value"] == "North" for r in m["profiles"])


def test_shares_of_the_sample_waves_equal_a_direct_count(tmp_path):
    """The demo's last two waves through `servqual report`: the shares per wave and per
    customer class as pandas counts them over the rows the run analysed."""
    from conftest import ROOT, SAMPLE

    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, [
        "report", *map(str, SAMPLE[-2:]), "--instrument", str(ROOT / "surveys" / "instrument.toml"),
        "--out", str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    m = matrix_of(out)
    rejected = pd.read_csv(tmp_path / "r.rejected.csv", dtype=str, encoding="utf-8-sig")
    for path in SAMPLE[-2:]:
        data = pd.read_csv(path, dtype=str, keep_default_na=False)
        bad = rejected[rejected["source_file"].str.endswith(path.name)]["source_row"]
        data = data.drop(index=sorted({int(r) - 2 for r in bad}))
        s = pd.to_numeric(data["overall_satisfaction"], errors="coerce")
        r = pd.to_numeric(data["repurchase"], errors="coerce")
        ok = s.between(1, 7) & r.between(1, 5)
        group = np.select([(s >= 6) & (r >= 4), s >= 6, r >= 4], [
            "loyal_satisfied", "satisfied_not_loyal", "loyal_not_satisfied"], "neither")
        table = pd.DataFrame({"group": group, "cls": data["customer_class"]})[ok.to_numpy()]
        wave = [row for row in m["shares"] if row["wave"] == path.stem]
        for row in wave:
            own = table if row["column"] is None else (
                table[table["cls"] == row["value"]] if row["column"] == "customer_class" else None)
            if own is None:
                continue
            assert row["n"] == len(own)
            assert row["share"] == pytest.approx((own["group"] == row["group"]).mean())
        assert {r["value"] for r in wave if r["column"] == "customer_class"} == {"核心", "重要", "常规"}


def test_recommend_as_loyalty_and_a_chosen_threshold(tmp_path):
    """`[loyalty_matrix] loyalty = "recommend"` counts promoters (9–10) as loyal; `high_from`
    moves the line between satisfied and not."""
    extra = OUTCOMES.replace('column = "sat"\n', 'column = "sat"\nhigh_from = 5\n') + """
[outcomes.recommend]
column = "ltr"
scale_min = 0
scale_max = 10

[loyalty_matrix]
loyalty = "recommend"
"""
    frame = survey(PAIRS)
    frame["ltr"] = [str(v) for v in ([10, 9, 8, 0, 6, 7, 9] * 4)[:len(PAIRS)]]
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + extra, as_csv(frame))
    assert result.exit_code == 0, result.output
    m = matrix_of(out)
    assert m["satisfaction"]["high_from"] == 5.0
    assert m["loyalty"] == {"outcome": "recommend", "high_from": 9.0}
    s = pd.to_numeric(frame["sat"], errors="coerce")
    ltr = frame["ltr"].astype(float)
    ok = s.between(1, 5)
    counts = {"loyal_satisfied": ((s >= 5) & (ltr >= 9))[ok].sum(),
              "satisfied_not_loyal": ((s >= 5) & (ltr < 9))[ok].sum(),
              "loyal_not_satisfied": ((s < 5) & (ltr >= 9))[ok].sum(),
              "neither": ((s < 5) & (ltr < 9))[ok].sum()}
    whole = {r["group"]: r["count"] for r in m["shares"] if r["column"] is None}
    assert whole == counts


@pytest.mark.parametrize("extra, key, words", [
    ('\n[loyalty_matrix]\nloyalty = "satisfaction"\n', "loyalty_matrix.loyalty",
     "repurchase, recommend"),
    ('\n[loyalty_matrix]\nloyalty = "recommend"\n', "loyalty_matrix.loyalty",
     "no [outcomes.recommend]"),
    ('\n[loyalty_matrix]\nloyality = "repurchase"\n', "loyalty_matrix.loyality",
     "did you mean 'loyalty'"),
])
def test_matrix_mistakes_name_the_file_and_key(tmp_path, extra, key, words):
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES + extra, as_csv(survey(PAIRS)))
    assert result.exit_code == 65, result.output
    assert key in result.output and words in result.output
    assert "Traceback" not in result.output


def test_a_threshold_off_the_scale_is_refused(tmp_path):
    extra = OUTCOMES.replace('column = "again"\n', 'column = "again"\nhigh_from = 6\n')
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + extra, as_csv(survey(PAIRS)))
    assert result.exit_code == 65, result.output
    assert "outcomes.repurchase.high_from" in result.output and "1–5" in result.output


def test_without_both_outcomes_there_is_no_matrix(tmp_path):
    only = OUTCOMES.split("[outcomes.repurchase]")[0]
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + only, as_csv(survey(PAIRS)))
    assert result.exit_code == 0, result.output
    assert "matrix" not in json.loads(out.read_text("utf-8"))["loyalty"]
    assert 'id="loyalty-matrix"' not in (tmp_path / "r.html").read_text("utf-8")


def test_a_servperf_survey_profiles_perceptions(tmp_path):
    servperf = TINY_INSTRUMENT
    for e in ("E1", "E2", "E3"):
        servperf = servperf.replace(f'expectation = "{e}"\n', "")
    frame = survey(PAIRS)
    result, out = report_tiny(tmp_path, servperf + OUTCOMES, as_csv(frame))
    assert result.exit_code == 0, result.output
    m = matrix_of(out)
    assert m["basis"] == "perception"
    frame["group"] = [hand_group(s, a) for s, a in PAIRS]
    frame["alpha"] = (frame["P1"] + frame["P2"]) / 2
    means = frame.dropna(subset=["group"]).groupby("group")["alpha"].mean()
    for row in m["profiles"]:
        if row["column"] is None and row["dimension"] == "alpha":
            assert row["mean"] == pytest.approx(means[row["group"]])
    assert "perception" in m["groups"][-1]["strategy"]["en"]


def test_group_names_and_strategies_come_from_the_strategy_book(tmp_path):
    from servqual.strategy import default_strategies

    book = default_strategies().read_text(encoding="utf-8")
    renamed = book.replace('label = { en = "Neither satisfied nor loyal"',
                           'label = { en = "At risk"')
    assert renamed != book
    path = write(tmp_path / "book.toml", renamed)
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES, as_csv(survey(PAIRS)),
                              "--strategies", str(path))
    assert result.exit_code == 0, result.output
    assert matrix_of(out)["groups"][-1]["label"]["en"] == "At risk"
    assert "At risk" in (tmp_path / "r.html").read_text("utf-8")

    # a book written before the matrix (no [loyalty]) takes the shipped words
    older = re.sub(r"\n\[loyalty\.[a-z_]+\]\nlabel = .*\nstrategy = .*\n", "\n", book)
    assert "[loyalty." not in older
    path = write(tmp_path / "older.toml", older)
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES, as_csv(survey(PAIRS)),
                              "--strategies", str(path))
    assert result.exit_code == 0, result.output
    assert matrix_of(out)["groups"][0]["label"]["en"] == "Satisfied and loyal"

    # a group the matrix does not have is a mistake named by its key
    wrong = book.replace("[loyalty.neither]", "[loyalty.nether]")
    path = write(tmp_path / "wrong.toml", wrong)
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES, as_csv(survey(PAIRS)),
                            "--strategies", str(path))
    assert result.exit_code == 65, result.output
    assert "loyalty.nether" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("lang, words", [
    ("en", ["Satisfaction and loyalty: four groups of customers", "Satisfied and loyal",
            "Loyal, not satisfied", "Gap profile of each group, 2026Q3",
            "6 of 18 · 95% CI"]),
    ("zh-CN", ["满意度与忠诚度：四类客户", "满意且忠诚", "忠诚但不满意", "2026Q3 各类客户的差距概况",
               "18 人中 6 人"])])
def test_the_report_shows_the_matrix_in_both_languages(tmp_path, lang, words):
    import html

    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + OUTCOMES, as_csv(survey(PAIRS)),
                            "--lang", lang)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", re.sub(
        r"<(script|style)\b.*?</\1>", " ", page, flags=re.S))))
    for word in words:
        assert word in text, word
    assert 'id="loyalty-matrix"' in page


def test_shipped_strategy_book_has_every_group_in_both_languages():
    import tomllib

    from servqual.stats.matrix import GROUPS
    from servqual.strategy import default_strategies

    doc = tomllib.loads(default_strategies().read_text(encoding="utf-8"))
    assert list(doc["loyalty"]) == list(GROUPS)
    for group in GROUPS:
        for field in ("label", "strategy"):
            assert set(doc["loyalty"][group][field]) == {"en", "zh-CN"}
