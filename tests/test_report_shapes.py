"""The report and the JSON results on the shapes real quarterly histories take.

A region closes, a survey mode is dropped, the latest wave has five respondents, a new
shop appears, a column is left blank, an item or a whole dimension goes unanswered, the
history is one or two waves long: each must give a report (exit 0) that says what it can,
with valid JSON. Alongside: labels from the data are bounded in size, and the names of
segment values too small to publish (fewer than ``min_cell`` respondents) are withheld.

Every test drives the real command line on waves cut down from the bundled sample.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, ROOT, SAMPLE
from servqual.cli import app
from servqual.celltext import LABEL_MAX_CHARS

WAVES = ["2026Q1", "2026Q2", "2026Q3"]
ROWS = 200  # respondents kept per wave: every region and mode still has 10 or more
EXTRAS = ["--targets", str(ROOT / "surveys" / "targets.toml"),
          "--complaints", str(ROOT / "surveys" / "sample" / "complaints.csv"),
          "--peers", str(ROOT / "surveys" / "benchmark.toml")]
LATEST = WAVES[-1]


def sample_waves(waves=WAVES, rows=ROWS) -> dict[str, pd.DataFrame]:
    """The first ``rows`` respondents of each sample wave, every cell as text."""
    files = {p.stem: p for p in SAMPLE}
    return {w: pd.read_csv(files[w], dtype=str, keep_default_na=False).head(rows)
            for w in waves}


def strict_json(text: str):
    """JSON as the contract has it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


class Run:
    def __init__(self, result, out: Path, json_out: Path):
        self.result = result
        self.exit_code = result.exit_code
        self.out = out
        self.json_path = json_out
        self.html = out.read_text(encoding="utf-8") if out.exists() else ""
        self.json = strict_json(json_out.read_text(encoding="utf-8")) \
            if json_out.exists() else None

    def page(self, html: str | None = None) -> str:
        """The page without its scripts (plotly.js holds every word of a map)."""
        return re.sub(r"<script.*?</script>", "", self.html if html is None else html,
                      flags=re.S)

    def section(self, name: str) -> str:
        """The visible text of one section of the report."""
        found = re.search(rf'<section id="{name}".*?</section>', self.page(), flags=re.S)
        assert found, f"no section {name}"
        text = re.sub(r"data-figure='[^']*'", "", found.group(0))
        text = re.sub(r"<[^>]+>", " ", text)
        return re.sub(r"\s+", " ", htmllib.unescape(text))

    def figures(self, name: str) -> list[dict]:
        return [json.loads(htmllib.unescape(f)) for f in re.findall(
            rf'data-chart="{name}" data-figure=\'([^\']*)\'', self.html)]


def report(tmp_path: Path, waves: dict[str, pd.DataFrame], *options: str, lang: str = "en",
           instrument: Path = INSTRUMENT, name: str = "run") -> Run:
    """Write the waves as CSV files and run ``servqual report`` on them with ``--json``."""
    folder = tmp_path / name
    folder.mkdir()
    files = []
    for wave, frame in waves.items():
        path = folder / f"{wave}.csv"
        frame.to_csv(path, index=False)
        files.append(str(path))
    out, json_out = folder / "out" / "report.html", folder / "out" / "results.json"
    result = CliRunner().invoke(app, ["report", *files, "--instrument", str(instrument),
                                      "--lang", lang, "--out", str(out),
                                      "--json", str(json_out), *options])
    assert result.exit_code == 0, (result.output, result.exception)
    return Run(result, out, json_out)


def with_latest(change) -> dict[str, pd.DataFrame]:
    waves = sample_waves()
    waves[LATEST] = change(waves[LATEST].copy())
    return waves


def current_values(doc: dict, column: str, table: str = "segments") -> set[str]:
    return {r["value"] for r in doc[table] if r["column"] == column}


# --------------------------------------------------------------------------------------------
# Shapes that crashed the report


@pytest.mark.parametrize("lang, options", [("en", ()), ("zh-CN", ("--split-by", "region",
                                                                   *EXTRAS))])
def test_segment_value_missing_from_latest_wave_reports(tmp_path, lang, options):
    """A region closed: West answered in earlier waves, not in the latest one."""
    run = report(tmp_path, with_latest(lambda f: f[f["region"] != "West"]), *options, lang=lang)
    doc = run.json
    assert "West" not in current_values(doc, "region")
    assert {(r["wave"], r["value"]) for r in doc["segment_responses"]} >= {
        ("2026Q1", "West"), ("2026Q2", "West")}
    assert ("2026Q3", "West") not in {(r["wave"], r["value"])
                                      for r in doc["segment_responses"]}
    segments = run.section("segments")  # the sample labels its regions in Chinese
    east, west = ("East", "West") if lang == "en" else ("华东", "西部")
    assert east in segments and west not in segments
    assert west in run.section("data-quality")  # its earlier waves are still counted


@pytest.mark.parametrize("respondents, lang, options", [
    (1, "en", ()), (2, "zh-CN", ()), (5, "en", ("--split-by", "region", *EXTRAS)),
    (5, "zh-CN", ("--split-by", "region", *EXTRAS))])
def test_latest_wave_of_five_respondents_reports(tmp_path, respondents, lang, options):
    """A latest wave of 1, 2 or 5 respondents: every segment cell is below min_cell."""
    run = report(tmp_path, with_latest(lambda f: f.head(respondents)), *options, lang=lang)
    doc = run.json
    assert doc["current_wave"] == LATEST
    assert max(r["n"] for r in doc["dimensions"]) == respondents
    assert not [r for r in doc["segments"] + doc["segment_items"]]  # all suppressed
    held = {r["column"]: r for r in doc["segments_withheld"] if r["wave"] == LATEST}
    assert set(held) == {"customer_class", "region", "survey_mode"}
    assert all(r["n"] == respondents for r in held.values())
    segments = run.section("segments")
    if lang == "en":
        assert "No group of Region has 10 or more respondents in 2026Q3" in segments
        assert "Groups not shown because each has fewer than 10 respondents" in segments
    else:
        assert "2026Q3 中区域没有任何群组达到 10 名受访者" in segments
        assert "因受访者少于 10 人而不予显示的群组" in segments


def test_new_segment_value_in_latest_wave_reports(tmp_path):
    """A shop opened this quarter: a value no earlier wave has."""
    def opened(frame):
        frame.loc[frame.index[::4], "region"] = "Lakeside"
        return frame
    run = report(tmp_path, with_latest(opened), *EXTRAS)
    assert "Lakeside" in current_values(run.json, "region")
    assert {r["wave"] for r in run.json["segment_responses"] if r["value"] == "Lakeside"} \
        == {LATEST}
    assert "Lakeside" in run.section("segments")


def test_segment_column_blank_in_latest_wave_reports(tmp_path):
    run = report(tmp_path, with_latest(lambda f: f.assign(region="")), *EXTRAS)
    assert not current_values(run.json, "region")
    assert "No respondent in 2026Q3 has a value for Region." in run.section("segments")
    run = report(tmp_path, with_latest(lambda f: f.assign(region="")), lang="zh-CN", name="zh")
    assert "2026Q3 中没有受访者填写区域。" in run.section("segments")


def test_every_cell_of_a_segment_column_below_min_cell_reports(tmp_path):
    """A survey mode per handful of respondents: no mode reaches min_cell."""
    def scattered(frame):
        frame["survey_mode"] = [f"mode {i % 40}" for i in range(len(frame))]
        return frame
    run = report(tmp_path, with_latest(scattered), *EXTRAS)
    assert not current_values(run.json, "survey_mode")
    assert {"column": "survey_mode", "wave": LATEST, "values": 40, "n": ROWS} in \
        run.json["segments_withheld"]
    segments = run.section("segments")
    assert "No group of Survey mode has 10 or more respondents in 2026Q3" in segments
    assert "mode 1" not in run.page()


@pytest.mark.parametrize("wave", [LATEST, WAVES[0]])
def test_item_unanswered_by_everyone_reports(tmp_path, wave):
    """Everyone gave a missing code for q05 in one wave (as if it was not asked)."""
    waves = sample_waves()
    waves[wave] = waves[wave].assign(E05="99", P05="0")
    run = report(tmp_path, waves, *EXTRAS)
    items = {r["item"]: r for r in run.json["items"]}
    assert list(items) == [f"q{i:02d}" for i in range(1, 23)]
    if wave == LATEST:
        assert items["q05"]["n"] == 0 and items["q05"]["gap_mean"] is None
    else:
        assert items["q05"]["n"] > 0
    assert {r["wave"] for r in run.json["by_wave_items"] if r["item"] == "q05"} == \
        set(WAVES) - {wave}
    assert "q05" in run.section("items")


def test_dimension_without_scores_in_latest_wave_is_still_listed(tmp_path):
    """No respondent of the latest wave answered a tangibles item: the dimension stays in
    the tables with n = 0 and no figures, and its earlier waves stay in the trends."""
    blank = {c: "0" for c in ["E01", "E02", "E03", "E04", "P01", "P02", "P03", "P04"]}
    run = report(tmp_path, with_latest(lambda f: f.assign(**blank)), *EXTRAS)
    dims = {r["dimension"]: r for r in run.json["dimensions"]}
    assert list(dims)[0] == "tangibles"
    assert dims["tangibles"]["n"] == 0 and dims["tangibles"]["gap_mean"] is None
    assert "Tangibles 0 – – –" in run.section("dimensions")
    trends = run.section("trends")
    assert re.search(r"Tangibles [−+]?\d\.\d\d [−+]?\d\.\d\d –", trends), trends[:600]


@pytest.mark.parametrize("count, lang, options", [(1, "en", ("--split-by", "survey_mode")),
                                                   (1, "zh-CN", ()), (2, "en", ())])
def test_one_or_two_waves_report(tmp_path, count, lang, options):
    waves = sample_waves(WAVES[-count:])
    run = report(tmp_path, waves, *EXTRAS, *options, lang=lang)
    assert run.json["waves"] == WAVES[-count:]
    assert all(t["direction"] == "insufficient_waves" for t in run.json["trends"])


def test_two_waves_of_one_respondent_report(tmp_path):
    run = report(tmp_path, sample_waves(WAVES[-2:], rows=1), "--split-by", "region", *EXTRAS)
    assert run.json["segments"] == [] and run.json["segment_responses"] == []
    assert len(run.json["segments_withheld"]) == 6  # 3 columns × 2 waves


def test_latest_file_with_every_row_quarantined_is_named_in_the_report(tmp_path):
    """Every row of the latest file lacks every answer: the report is of the waves before,
    and says so at the top instead of silently showing an older wave."""
    answers = {f"{k}{i:02d}": "0" for k in "EP" for i in range(1, 23)}
    run = report(tmp_path, with_latest(lambda f: f.assign(**answers)), *EXTRAS)
    assert run.json["current_wave"] == "2026Q2"
    header = re.sub(r"<[^>]+>", " ", run.page().split('<section id="summary"')[0])
    assert "Every row of 2026Q3.csv was quarantined" in htmllib.unescape(header)


# --------------------------------------------------------------------------------------------
# One oversized cell


def test_oversized_segment_value_is_bounded_in_json_and_html(tmp_path):
    """A 5 MB blob pasted into the region column (and a 100 kB one beginning alike), in
    cells large enough to publish (min_cell = 1): each is shown shortened, distinctly, and
    the outputs stay within a few hundred kB of the run without them."""
    instrument = tmp_path / "instrument.toml"
    instrument.write_text(INSTRUMENT.read_text(encoding="utf-8").replace(
        "\nmin_cell = 10 ", "\nmin_cell = 1 "), encoding="utf-8")
    plain = report(tmp_path, sample_waves(), instrument=instrument, name="plain")
    huge, large = "Z" * 5_000_000 + "-a", "Z" * 100_000 + "-b"

    def pasted(frame):
        frame.loc[frame.index[3], "region"] = huge
        frame.loc[frame.index[4], "region"] = large
        return frame
    blob = report(tmp_path, with_latest(pasted), "--split-by", "region", instrument=instrument,
                  name="blob")
    assert blob.json_path.stat().st_size - plain.json_path.stat().st_size < 300_000
    assert blob.out.stat().st_size - plain.out.stat().st_size < 300_000
    units = sorted(blob.out.parent.glob("report.region-Z*.html"))
    assert len(units) == 2 and all(u.stat().st_size < blob.out.stat().st_size + 300_000
                                   for u in units)
    shown = current_values(blob.json, "region") - current_values(plain.json, "region")
    assert len(shown) == 2  # both published, and still two distinct labels
    assert all(len(v) <= LABEL_MAX_CHARS and v.startswith("ZZZZ") and "…[" in v
               for v in shown)
    assert {r["unit"] for r in blob.json["benchmark"]} >= shown
    assert all(v in htmllib.unescape(blob.section("segments")) for v in shown)


def test_text_naming_an_oversized_label_gets_the_bounded_label():
    """A strategy text built around a unit's name shows the same shortened name."""
    from servqual.celltext import bound_labels

    unit = "Branch " + "x" * 10_000
    doc = bound_labels({"benchmark": [{"unit": unit, "best_unit": unit}],
                        "weak_points": [{"strategy": {"en": f"{unit} is below its peers."}}],
                        "note": "y" * 500})
    short = doc["benchmark"][0]["unit"]
    assert len(short) <= LABEL_MAX_CHARS and short == doc["benchmark"][0]["best_unit"]
    assert doc["weak_points"][0]["strategy"]["en"] == f"{short} is below its peers."
    assert doc["note"] == "y" * 500  # not a label: free text is left alone


# --------------------------------------------------------------------------------------------
# Names of suppressed cells


SHOP = "Wang Family Noodle Shop 王记面馆"


def test_suppressed_segment_labels_not_published(tmp_path):
    """Three respondents of the latest wave name a shop of their own, and West has three
    respondents left: neither may be named for the latest wave, in the JSON or the report;
    they are counted instead."""
    def small(frame):
        west = frame[frame["region"] == "West"]
        frame = frame.drop(west.index[3:])
        frame.loc[frame.index[:3], "region"] = SHOP
        return frame
    run = report(tmp_path, with_latest(small), *EXTRAS)
    doc = run.json
    assert SHOP not in json.dumps(doc, ensure_ascii=False)
    assert SHOP not in run.page()
    for table in ("segments", "segment_items"):
        assert "West" not in current_values(doc, "region", table)
    assert "West" not in {r["value"] for r in doc["segment_trends"]}
    assert "West" not in {r["unit"] for r in doc["benchmark"]}
    assert "West" not in {r["value"] for r in doc["wave_over_wave"] if r["value"]}
    assert ("2026Q3", "West") not in {(r["wave"], r["value"]) for r in doc["segment_responses"]}
    assert {"column": "region", "wave": LATEST, "values": 2, "n": 6} in doc["segments_withheld"]
    segments = run.section("segments")
    assert "West" not in segments
    assert "Groups not shown because each has fewer than 10 respondents: 2" in segments
    dots = [f for f in run.figures("segment") if "Region" in f["layout"]["title"]["text"]]
    assert dots and not {t.get("name") for t in dots[0]["data"]} & {"West", SHOP}


def test_single_oversized_small_cell_is_not_published_at_all(tmp_path):
    """A 5 MB blob in one row, with the default min_cell: the cell is suppressed, so its
    label is not published even shortened, and the outputs do not grow."""
    plain = report(tmp_path, sample_waves(), name="plain")
    blob = report(tmp_path, with_latest(lambda f: f.assign(
        region=f["region"].where(f.index != f.index[2], "Q" * 5_000_000))), name="blob")
    assert "QQQQQQQQ" not in blob.json_path.read_text(encoding="utf-8")
    assert "QQQQQQQQ" not in blob.page()
    assert blob.out.stat().st_size - plain.out.stat().st_size < 50_000


def test_segment_trend_published_only_over_waves_not_suppressed(tmp_path):
    """West falls below min_cell in the middle wave: its trend uses the other two waves and
    its count for that wave is withheld; the data-quality table marks it with a dash."""
    waves = sample_waves()
    middle = waves[WAVES[1]]
    west = middle[middle["region"] == "West"]
    waves[WAVES[1]] = middle.drop(west.index[4:])
    run = report(tmp_path, waves, *EXTRAS)
    doc = run.json
    trends = [r for r in doc["segment_trends"] if r["value"] == "West"]
    assert trends and all(r["waves"] == 2 and r["first_wave"] == WAVES[0]
                          and r["last_wave"] == LATEST for r in trends)
    assert {r["wave"] for r in doc["segment_responses"] if r["value"] == "West"} == \
        {WAVES[0], LATEST}
    assert {"column": "region", "wave": WAVES[1], "values": 1, "n": 4} in \
        doc["segments_withheld"]
    # The trend small multiples of the benchmark segment: West's lines break at that wave.
    cells = {(r["wave"], r["value"], r["dimension"]): r["gap_mean"]
             for r in doc["segments_by_wave"] if r["column"] == "region"}
    assert not [k for k in cells if k[:2] == (WAVES[1], "West")]
    assert ("West", "reliability") in {(k[1], k[2]) for k in cells}
    [figure] = run.figures("segment_trends")
    panels = [a["text"] for a in figure["layout"]["annotations"]]
    assert "West" in panels and len(panels) == len(current_values(doc, "region"))
    axis = {f"x{'' if k == 0 else k + 1}": panels[k] for k in range(len(panels))}
    lines = [t for t in figure["data"] if axis[t.get("xaxis", "x")] == "West"]
    assert len(lines) == len(doc["dimensions"])
    for line in lines:
        assert line["x"] == WAVES and line["y"][1] is None and not line["connectgaps"]
        dim = next(d["dimension"] for d in doc["dimensions"]
                   if line["name"] == d["dimension"].capitalize())
        assert line["y"][0] == pytest.approx(cells[(WAVES[0], "West", dim)])
        assert line["y"][2] == pytest.approx(cells[(LATEST, "West", dim)])
    quality = run.section("data-quality")
    assert re.search(r"West \d+ – \d+", quality)
    assert re.search(r"Groups with fewer than 10 respondents, not shown: respondents \(groups\)"
                     r" – 4 \(1\) –", quality)


def test_segment_trend_of_a_value_suppressed_in_the_latest_wave_is_not_published(tmp_path):
    def few_west(frame):
        west = frame[frame["region"] == "West"]
        return frame.drop(west.index[4:])
    run = report(tmp_path, with_latest(few_west))
    assert "West" not in {r["value"] for r in run.json["segment_trends"]}
    assert {r["value"] for r in run.json["segment_trends"] if r["column"] == "region"} == \
        {"Central", "East", "North", "South"}
