"""Distribution of the report: --split-by (one report per unit), safe file names, --pdf."""

from __future__ import annotations


import pytest
from typer.testing import CliRunner

from fixtures import TINY_CSV, tiny
from servqual.cli import app
from servqual.report.files import slug, unit_paths

runner = CliRunner()

UNITS_CSV = TINY_CSV + "".join(
    f"r{n},{region},4,4,4,3,4,5\n"
    for n, region in enumerate(["华东区", "华东区", "../../etc/passwd", "CON", "west"], 5))


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_split_by_writes_the_overall_report_and_one_per_unit(tmp_path):
    inst, data = tiny(tmp_path, csv=UNITS_CSV)
    out = tmp_path / "out" / "report.html"
    result = invoke("report", data, "--instrument", inst, "--out", out, "--split-by", "region")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.parent.glob("*.html"))
    assert names == sorted([
        "report.html", "report.region-East.html", "report.region-West.html",
        "report.region-华东区.html", "report.region-etc-passwd.html",
        # 'CON' is reserved on Windows; 'west' would collide with 'West' on a
        # case-insensitive file system: both get a stable hash
        next(n for n in names if n.startswith("report.region-CON-")),
        next(n for n in names if n.startswith("report.region-west-")),
    ])
    assert not (tmp_path / "etc").exists()  # a unit name never becomes a path
    east = (out.parent / "report.region-华东区.html").read_text(encoding="utf-8")
    assert "Report for region = 华东区, compared with all respondents" in east
    assert "Gap, all respondents" in east
    for path in out.parent.glob("*.html"):
        assert str(path) in result.stdout
        assert path.with_name(path.stem + ".rejected.csv").exists()


def test_a_unit_report_compares_the_unit_with_the_whole(tmp_path):
    from fixtures import run_files
    from servqual.instrument import load_instrument
    from servqual.report import render_html

    inst, data = tiny(tmp_path)
    instrument = load_instrument(inst)
    outcome = run_files([data], instrument, split_by="region")
    whole = outcome.results
    units = {u.unit.value: u for u in outcome.units}
    assert sorted(units) == ["East", "West"]
    east = units["East"].results
    # East is r1, r2: alpha gaps −0.5, −2 → −1.25; beta +1, 0 → +0.5 (fixtures.py)
    dims = east.dimensions.set_index("dimension")["gap_mean"]
    assert dims["alpha"] == pytest.approx(-1.25) and dims["beta"] == pytest.approx(0.5)
    q = units["East"].unit.quality
    assert (q.rows_read, q.rows_valid, q.rows_quarantined) == (2, 2, 0)
    html = render_html(east, "en", comparison=whole, unit={"column": "region", "value": "East"})
    assert "against \u22120.69 for all respondents" in html  # the whole's −0.6875


def test_split_by_a_column_that_is_not_a_segment_is_a_usage_error(tmp_path):
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--split-by", "E1")
    assert result.exit_code == 2 and "region" in result.output
    assert not (tmp_path / "r.html").exists()


def test_split_by_with_the_history_store_is_refused(tmp_path):
    """A unit's report comes from its respondents in the survey files: --store holds no
    units, and is refused saying so."""
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--store", tmp_path / "s.duckdb", "--instrument", inst,
                    "--out", tmp_path / "r.html", "--split-by", "region")
    assert result.exit_code == 2 and "--store" in result.output, result.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_split_by_reports_each_unit_whatever_the_engine(tmp_path, engine):
    """Units are aggregated as the files are read, by any engine, from CSV or Parquet:
    East is r1, r2 (alpha −1.25, beta +0.5 by hand, fixtures.py)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    inst, data = tiny(tmp_path)
    parquet = tmp_path / "2026Q3.parquet"
    pq.write_table(pacsv.read_csv(data, convert_options=pacsv.ConvertOptions(
        column_types={"id": "string", "region": "string"})), parquet)
    for source in (data, parquet):
        js = tmp_path / source.suffix[1:] / "r.json"
        result = invoke("report", source, "--instrument", inst, "--engine", engine, "--out",
                        js.with_suffix(".html"), "--split-by", "region", "--json", js)
        assert result.exit_code == 0, result.output
        east = js.with_name("r.region-East.html").read_text(encoding="utf-8")
        assert "\u22121.25" in east and "+0.50" in east
        assert js.with_name("r.region-West.html").exists()


def test_units_smaller_than_min_cell_get_no_report(tmp_path):
    from fixtures import replace_in_instrument
    inst, data = tiny(tmp_path, csv=UNITS_CSV,
                      instrument=replace_in_instrument("min_cell = 1", "min_cell = 2"))
    out = tmp_path / "report.html"
    result = invoke("report", data, "--instrument", inst, "--out", out, "--split-by", "region")
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.glob("report*.html")}
    assert "report.region-华东区.html" in names and "report.region-East.html" in names
    assert not any(n.startswith("report.region-CON") for n in names)
    assert "no report for region = CON" in result.output


@pytest.mark.parametrize("value, expected", [
    ("East", "East"), ("华东区", "华东区"), ("North / 北区", "North-北区"),
    ("../../etc/passwd", "etc-passwd"), ("a\x00b\nc", "a-b-c"), ("", "unit"), ("...", "unit"),
    ("Ｅａｓｔ", "East"), ("<script>", "script"),
])
def test_unit_names_become_safe_file_names(value, expected):
    assert slug(value) == expected


def test_unit_file_names_are_distinct_and_bounded(tmp_path):
    values = ["A/B", "A-B", "a-b", "长" * 300, "NUL", "x"]
    paths = unit_paths(tmp_path / "r.html", "区域 <x>", values)
    names = [p.name for p in paths.values()]
    assert len({n.casefold() for n in names}) == len(values)
    assert all(p.parent == tmp_path for p in paths.values())
    assert all(len(n.encode("utf-8")) < 200 for n in names)
    assert all(n.startswith("r.区域-x-") for n in names)


def test_pdf_without_a_browser_exits_73_naming_it_and_writes_nothing(tmp_path):
    inst, data = tiny(tmp_path)
    out = tmp_path / "out" / "r.html"
    env = {"PATH": str(tmp_path / "empty"), "SERVQUAL_CHROMIUM": ""}
    result = invoke("report", data, "--instrument", inst, "--out", out, "--pdf", env=env)
    assert result.exit_code == 73, result.output
    assert "chromium" in result.output and "Traceback" not in result.output
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_pdf_with_a_named_browser_that_does_not_exist_exits_73(tmp_path):
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html", "--pdf",
                    env={"SERVQUAL_CHROMIUM": str(tmp_path / "no-such-browser")})
    assert result.exit_code == 73 and "no-such-browser" in result.output


@pytest.mark.browser
def test_pdf_is_printed_by_chromium(tmp_path):
    from conftest import browser_unavailable, chromium_executable
    if chromium_executable() is None:
        browser_unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    inst, data = tiny(tmp_path)
    out = tmp_path / "r.html"
    result = invoke("report", data, "--instrument", inst, "--out", out, "--pdf", "--lang",
                    "zh-CN", "--split-by", "region")
    assert result.exit_code == 0, result.output
    for name in ("r.pdf", "r.region-East.pdf", "r.region-West.pdf"):
        pdf = (tmp_path / name).read_bytes()
        assert pdf.startswith(b"%PDF") and b"/Type /Page" in pdf and len(pdf) > 30_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
