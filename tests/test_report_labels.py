"""Labels for everything a reader sees (contract §8): segment columns and values, the
organisation, service and fieldwork period, the peers' name, in both languages; and the
numbers as a manager reads them (one minus sign, no −0.00, a drop said once)."""

from __future__ import annotations

import html
import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from fixtures import TINY_CSV, TINY_INSTRUMENT, report_tiny
from servqual.cli import app

LABELLED = TINY_INSTRUMENT.replace('name = "Tiny test instrument"',
                                   'name = { en = "Tiny survey", zh-CN = "小型调查" }') + """
[segments.region]
label = { en = "Sales region", zh-CN = "销售区域" }
values = { East = { en = "Eastern", zh-CN = "华东" }, West = { zh-CN = "西部" } }

[report]
organisation = { en = "Acme Services", zh-CN = "艾克米服务" }
service = { en = "Branch service", zh-CN = "网点服务" }
fieldwork = "2026-07-01 – 2026-08-15"
"""


def visible_text(page: str) -> str:
    """The words of a page a reader sees: no scripts, styles, code or chart data."""
    for tag in ("script", "style", "code"):
        page = re.sub(rf"<{tag}\b.*?</{tag}>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("lang, column, east, west, org", [
    ("en", "Sales region", "Eastern", "West", "Acme Services"),
    ("zh-CN", "销售区域", "华东", "西部", "艾克米服务")])
def test_segment_labels_and_report_facts_reach_the_page(tmp_path, lang, column, east, west,
                                                         org):
    result, out = report_tiny(tmp_path, LABELLED, TINY_CSV, "--lang", lang)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    text = visible_text(page)
    assert org in text and ("Branch service" if lang == "en" else "网点服务") in text
    assert "2026-07-01 – 2026-08-15" in text
    assert ("Tiny survey" if lang == "en" else "小型调查") in text
    assert column in text and east in text and west in text
    # the column's name in the data is never shown as a heading, a table head or a unit
    assert ">region<" not in page and "by region" not in text.lower()
    assert "region =" not in text and "region：" not in text
    if lang == "zh-CN":
        assert "East" not in text and "Eastern" not in text  # no English value in Chinese
    # the charts' legends carry the labels too
    figures = [json.loads(html.unescape(f)) for f in re.findall(r"data-figure='([^']*)'", page)]
    names = {trace.get("name") for f in figures for trace in f["data"]}
    assert east in names
    # the JSON keeps the data's own names: other tools join on them
    assert {s["value"] for s in json.loads(out.read_text("utf-8"))["segments"]} == {"East",
                                                                                    "West"}


def test_report_facts_from_the_command_line_replace_the_instruments(tmp_path):
    """--organisation, --service and --fieldwork stand in for [report] (the same text in
    every language), reach the header, the title and the printed running header, and are
    shown as text, never as markup."""
    result, _ = report_tiny(tmp_path, LABELLED, TINY_CSV, "--lang", "zh-CN",
                            "--organisation", "Globex <b>Ltd</b>", "--service", "热线服务",
                            "--fieldwork", "2026年9月")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    text = visible_text(page)
    assert "Globex <b>Ltd</b>" in text and "<b>Ltd</b>" not in page
    assert "热线服务" in text and "2026年9月" in text
    assert "艾克米服务" not in text and "网点服务" not in text
    assert "Globex &lt;b&gt;Ltd&lt;/b&gt; · " in re.search(r"<title>(.*?)</title>", page).group(1)
    style = re.search(r"@top-left \{ content: (.*?);", page).group(1)
    assert style.startswith('"Globex \\3c b\\3e Ltd\\3c \\2f b\\3e  \\b7  ')  # CSS escapes


def test_a_unit_report_and_its_strategy_speak_of_the_unit_by_its_label(tmp_path):
    data = "id,region,E1,E2,E3,P1,P2,P3\n" + "\n".join(
        f"r{n},{'East' if n % 2 else 'West'},6,6,6,{1 + n % 3 if n % 2 else 5 + n % 3},"
        f"{1 + n % 3 if n % 2 else 5 + n % 3},6" for n in range(60)) + "\n"
    inst = LABELLED.replace("[analysis]\n", '[analysis]\nbenchmark_segment = "region"\n')
    result, out = report_tiny(tmp_path, inst.replace("scale_max = 5", "scale_max = 7"), data,
                              "--lang", "zh-CN")
    assert result.exit_code == 0, result.output
    units = [p for p in json.loads(out.read_text("utf-8"))["weak_points"] if p["kind"] == "unit"]
    assert units, "East's planted shortfall against West makes a unit weak point"
    east = units[0]
    assert east["value"] == "East"
    assert "华东" in east["label"]["zh-CN"] and "Eastern" in east["label"]["en"]
    assert "华东" in east["strategy"]["zh-CN"] and "East " not in east["strategy"]["zh-CN"]


@pytest.mark.parametrize("extra, key, words", [
    ('\n[segments.regoin]\nlabel = "R"\n', "segments.regoin", "did you mean 'region'"),
    ('\n[segments.region]\nlable = "R"\n', "segments.region.lable", "did you mean 'label'"),
    ('\n[segments.region]\nvalues = { East = { fr = "Est" } }\n', "segments.region.values.East.fr",
     "unknown language"),
    ('\n[report]\norganization = "Acme"\n', "report.organization", "did you mean"),
    ('\n[report]\nservice = 3\n', "report.service", "must be a string"),
])
def test_label_mistakes_name_the_file_and_key(tmp_path, extra, key, words):
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT + extra, TINY_CSV)
    assert result.exit_code == 65, result.output
    assert key in result.output and words in result.output
    assert "Traceback" not in result.output


# Words the Chinese report may show in Latin letters: names of methods and their authors,
# the instrument's brand, the program, file extensions.
ALLOWED = {"SERVQUAL", "SERVPERF", "PZB", "Parasuraman", "Zeithaml", "Berry", "Cronin",
           "Taylor", "Kruskal", "Wallis", "Cronbach", "Benjamini", "Hochberg", "Holm", "Welch",
           "Bogomolov", "JSON", "csv", "servqual", "NPS", "Wald", "Rocks",
           "Johnson", "bootstrap", "CRM"}  # CRM: as Chinese companies name their systems


def test_the_chinese_demo_report_has_no_english_words_when_everything_is_labelled(tmp_path):
    """The demo survey labels its segments, values, organisation and peers: the zh-CN
    report then shows no English word outside an allow-list of names (code and the data's
    file names aside)."""
    sample = ROOT / "surveys"
    out = tmp_path / "zh.html"
    result = CliRunner().invoke(app, [
        "report", *map(str, sorted((sample / "sample").glob("20*.csv"))[-4:]),
        "--instrument", str(sample / "instrument.toml"), "--targets",
        str(sample / "targets.toml"), "--peers", str(sample / "benchmark.toml"),
        "--complaints", str(sample / "sample" / "complaints.csv"), "--lang", "zh-CN",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    words = Counter(re.findall(r"[A-Za-z][A-Za-z_]+", visible_text(out.read_text("utf-8"))))
    stray = {w: n for w, n in words.items() if w not in ALLOWED}
    assert stray == {}
    # Chinese labels sit in Chinese text without the spaces kept beside Latin words
    text = visible_text(out.read_text("utf-8"))
    assert "按区域统计的问卷数" in text and "区域各单位对标分析" in text
    assert not re.search(r"[\u4e00-\u9fff] 区域|区域 [\u4e00-\u9fff]", text)


@pytest.mark.parametrize("value, expected", [
    ("区域", "按%(column)s统计的问卷数"),      # Chinese on both sides: no spaces
    ("region", "按 %(column)s 统计的问卷数"),  # a Latin word keeps its spaces
    ("2026Q2", "按 %(column)s 统计的问卷数"),
    ("West 区", "按 %(column)s统计的问卷数"),  # only the side where Chinese meets Chinese
    ("", "按 %(column)s 统计的问卷数"),
])
def test_catalog_spaces_around_a_value_drop_only_between_chinese(value, expected):
    from servqual.translations import tighten

    assert tighten("按 %(column)s 统计的问卷数", {"column": value}) == expected
    assert tighten("%(wave)s 中 %(column)s 没有", {"wave": "2026Q3", "column": "区域"}) == \
        "%(wave)s 中%(column)s没有"


def test_no_negative_zero_and_one_minus_sign_everywhere(tmp_path):
    from servqual.report.i18n import Numbers, language
    from servqual.textnumbers import plain, signed

    numbers = Numbers(language("zh-CN").locale)
    assert numbers.num(-0.001) == "0.00" and numbers.num(-1.5) == "\u22121.50"
    assert numbers.signed(-0.004) == "0.00" and numbers.signed(-0.25) == "\u22120.25"
    assert plain(-0.001) == "0.00" and plain(-2.0) == "\u22122.00" and signed(0.003) == "0.00"
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT, TINY_CSV)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    text = visible_text(page)
    assert "-0.00" not in text and "\u22120.00" not in text
    assert not re.search(r"(?<![\w.])-\d", text)  # no ASCII hyphen as a minus sign
    figures = [json.loads(html.unescape(f)) for f in re.findall(r"data-figure='([^']*)'", page)]
    heatmap = next(t for f in figures for t in f["data"] if t.get("type") == "heatmap")
    cells = [c for row in heatmap["text"] for c in row if c]
    assert cells and all("-" not in c for c in cells)


def test_printed_report_has_page_numbers_a_running_header_and_copyable_chinese(tmp_path):
    """Printed by Chromium (--pdf): every page carries "n / N" and the running header
    (organisation, report, wave, date); Chinese is embedded as real text fonts (no Type 3
    glyphs), so it copies as written; no page ends with a section heading."""
    from conftest import browser_unavailable, chromium_executable
    if chromium_executable() is None:
        browser_unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    pypdf = pytest.importorskip("pypdf")
    result, _ = report_tiny(tmp_path, LABELLED, TINY_CSV, "--lang", "zh-CN", "--pdf")
    assert result.exit_code == 0, result.output
    reader = pypdf.PdfReader(tmp_path / "r.pdf")
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 2
    for n, text in enumerate(pages, start=1):
        assert f"{n} / {len(pages)}" in text
        assert "艾克米服务·服务质量报告·2026Q3" in re.sub(r"\s+", "", text)
    fonts = {str(f.get_object().get("/Subtype")) for p in reader.pages
             for f in ((p.get("/Resources") or {}).get("/Font") or {}).values()}
    assert "/Type3" not in fonts, fonts
    assert "网点服务" in pages[0] and "销售区域" in "".join(pages)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    sections = [html.unescape(re.sub(r"<[^>]+>", "", h)).strip()
                for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page, flags=re.S)]
    for text in pages[:-1]:
        last = re.sub(r"\s+", "", [line for line in text.splitlines() if line.strip()][-1])
        assert last not in {re.sub(r"\s+", "", s) for s in sections}, last


@pytest.mark.parametrize("lang, words", [
    ("en", ["Glossary", "Perception minus expectation", "Internal consistency (Cronbach",
            "First → last wave", "Report date:"]),
    ("zh-CN", ["术语表", "实际感受减去期望", "内部一致性（Cronbach", "首期 → 末期", "报告日期："])])
def test_glossary_and_plain_headings_in_both_languages(tmp_path, lang, words):
    result, _ = report_tiny(tmp_path, TINY_INSTRUMENT, TINY_CSV, "--lang", lang)
    assert result.exit_code == 0, result.output
    text = visible_text((tmp_path / "r.html").read_text(encoding="utf-8"))
    for word in words:
        assert word in text, word
    assert "Reliability (Cronbach" not in text and "Trend line" not in text


def test_the_demo_report_prints_its_executive_summary_alone_on_page_one(tmp_path):
    """`make report`'s zh-CN demo (8 waves, targets, complaints, peers), printed: page one
    is the executive summary, whole and alone (the weak points that matter with their
    strategy, missed targets, alerts); the next page starts the next section; no page ends
    with a section heading; fewer pages than the 24 the issue counted."""
    from conftest import SAMPLE, browser_unavailable, chromium_executable
    if chromium_executable() is None:
        browser_unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    pypdf = pytest.importorskip("pypdf")
    out = tmp_path / "demo.html"
    result = CliRunner().invoke(app, [
        "report", *map(str, SAMPLE), "--instrument", str(ROOT / "surveys" / "instrument.toml"),
        "--targets", str(ROOT / "surveys" / "targets.toml"),
        "--complaints", str(ROOT / "surveys" / "sample" / "complaints.csv"),
        "--peers", str(ROOT / "surveys" / "benchmark.toml"), "--lang", "zh-CN",
        "--out", str(out), "--pdf"])
    assert result.exit_code == 0, result.output
    pages = [re.sub(r"[ \t]+", "", p.extract_text())
             for p in pypdf.PdfReader(tmp_path / "demo.pdf").pages]
    first = pages[0]
    for words in ("1.摘要", "薄弱点", "策略：", "服务目标", "未达成目标", "预警",
                  "各期SERVQUAL总体差距"):
        assert words in first, words
    assert "2.各维度结果" not in first
    assert [line for line in pages[1].splitlines()[2:] if line.strip()][0] == "2.各维度结果"
    page = out.read_text(encoding="utf-8")
    sections = {re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", h)))
                for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>", page, flags=re.S)}
    for text in pages[:-1]:
        last = re.sub(r"\s+", "", [line for line in text.splitlines() if line.strip()][-1])
        assert last not in sections, last
    assert len(pages) < 24


def test_a_labelled_segment_value_no_respondent_holds_is_named(tmp_path):
    # A typo in a value label (Eats for East) left East unlabelled in the Chinese report,
    # without a word.
    from fixtures import TINY_CSV, TINY_INSTRUMENT, report_tiny
    instrument = TINY_INSTRUMENT + (
        '\n[segments.region]\nlabel = { en = "Region", zh-CN = "区域" }\n'
        'values = { Eats = { zh-CN = "华东" }, West = { zh-CN = "西部" } }\n'
        '\n[customer_classes]\ncolumn = "region"\ncore = ["Wset"]\nregular = ["East"]\n')
    result, _ = report_tiny(tmp_path, instrument, TINY_CSV, "--lang", "zh-CN")
    assert result.exit_code == 0, result.output
    assert ("warning: [segments.region] labels the value 'Eats' of region, which no "
            "respondent holds (did you mean 'East'?)") in result.stderr
    assert ("warning: [customer_classes] core names the value 'Wset' of region, which no "
            "respondent holds (did you mean 'West'?)") in result.stderr
    assert "'West' of" not in result.stderr and "'East' of" not in result.stderr


def test_segment_values_differing_only_in_case_or_width_are_named(tmp_path):
    # East, east and ＥＡＳＴ were three regions of the report without a word.
    from fixtures import TINY_CSV, TINY_INSTRUMENT, report_tiny
    data = TINY_CSV.replace("r2,East,", "r2,east,").replace("r4,West,", "r4,ＥＡＳＴ,")
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT, data)
    assert result.exit_code == 0, result.output
    assert ("warning: the region values 'East', 'east', 'ＥＡＳＴ' differ only in case, width "
            "or spaces: each is a segment of its own; write them alike") in result.stderr
