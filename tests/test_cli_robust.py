"""Ordinary mistakes and ordinary files on the command line: a clear message and a documented
exit code, never a traceback, never a misreading (issue "Never crash, never misread silently").
Each test is named after what broke."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, SAMPLE
from fixtures import TINY_CSV, TINY_INSTRUMENT, report_tiny, tiny
from servqual.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def rejected(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def two_waves(tmp_path):
    """The last two sample waves, copied (the sample itself is never written to)."""
    folder = tmp_path / "waves"
    folder.mkdir()
    for source in SAMPLE[-2:]:
        shutil.copy(source, folder / source.name)
    return folder


def test_report_after_validate_leaves_out_the_quarantine_file(tmp_path):
    # The README's own order: validate the new wave (its .rejected.csv lands beside it), then
    # report on the folder's waves with a glob that matches the quarantine file too.
    folder = two_waves(tmp_path)
    latest = folder / SAMPLE[-1].name
    result = invoke("validate", latest, "--instrument", INSTRUMENT)
    assert result.exit_code == 0, result.output
    quarantine = folder / (latest.stem + ".rejected.csv")
    assert quarantine.exists()
    out, js = tmp_path / "out" / "r.html", tmp_path / "out" / "r.json"
    result = invoke("report", *sorted(folder.glob("20*.csv")), "--instrument", INSTRUMENT,
                    "--out", out, "--json", js)
    assert result.exit_code == 0, result.output
    assert f"left out {quarantine}" in result.stderr
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["waves"] == [SAMPLE[-2].stem, SAMPLE[-1].stem]
    assert {f["file"] for f in doc["data_quality"]["files"]} == {
        str(folder / SAMPLE[-2].name), str(latest)}


def test_validate_and_ingest_leave_out_quarantine_files(tmp_path):
    folder = two_waves(tmp_path)
    latest = folder / SAMPLE[-1].name
    assert invoke("validate", latest, "--instrument", INSTRUMENT).exit_code == 0
    quarantine = folder / (latest.stem + ".rejected.csv")
    before = quarantine.read_bytes()
    result = invoke("validate", *sorted(folder.glob("*.csv")), "--instrument", INSTRUMENT)
    assert result.exit_code == 0, result.output
    assert f"left out {quarantine}" in result.stderr
    assert not (folder / (quarantine.stem + ".rejected.csv")).exists()
    assert quarantine.read_bytes() == before  # written again from the wave, unchanged
    store = tmp_path / "h.duckdb"
    result = invoke("ingest", *sorted(folder.glob("*.csv")), "--instrument", INSTRUMENT,
                    "--store", store)
    assert result.exit_code == 0, result.output
    assert f"left out {quarantine}" in result.stderr
    assert "rejected" not in result.stdout.replace(str(quarantine), "")


def test_only_quarantine_files_given_is_a_usage_error(tmp_path):
    folder = two_waves(tmp_path)
    latest = folder / SAMPLE[-1].name
    assert invoke("validate", latest, "--instrument", INSTRUMENT).exit_code == 0
    quarantine = folder / (latest.stem + ".rejected.csv")
    result = invoke("report", quarantine, "--instrument", INSTRUMENT, "--out",
                    tmp_path / "r.html")
    assert result.exit_code == 2
    assert str(quarantine) in result.output and "quarantine" in result.output
    assert not (tmp_path / "r.html").exists()


def test_survey_file_named_like_a_quarantine_file_is_still_read(tmp_path):
    # Recognised by what it holds, not by its name.
    inst, data = tiny(tmp_path, name="2026Q3.rejected.csv")
    js = tmp_path / "r.json"
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--json", js)
    assert result.exit_code == 0, result.output
    assert json.loads(js.read_text(encoding="utf-8"))["data_quality"]["rows_valid"] == 4


@pytest.mark.parametrize("cell", ["0x5", "0X5", "0x1F"])
def test_hexadecimal_answer_is_non_numeric(tmp_path, cell):
    # pyarrow's integer parser reads 0x5 as 5: a misreading, as no scale is written in hex.
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("r2,East,5,", f"r2,East,{cell},"))
    result = invoke("validate", data, "--instrument", inst, "--out-dir", tmp_path / "q")
    assert result.exit_code == 0, result.output
    rows = rejected(tmp_path / "q" / "2026Q3.rejected.csv")
    assert [(r["id"], r["reason"], r["column"], r["value"]) for r in rows] == [
        ("r2", "non_numeric", "E1", cell)]


@pytest.mark.parametrize("cell", ["1e-320", "1e-310", "9.0000000001", "5.00000001",
                                  "0.00000000001"])
def test_value_rounded_onto_the_scale_is_out_of_scale(tmp_path, cell):
    # Answers are held as float32: 1e-320 became 0.0 (no missing code here, but below 1) or,
    # with 0 a missing code, a missing answer; 9.0000000001 became the missing code 9;
    # 5.00000001 became 5, the top of the scale. Each is a value outside the scale.
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("r2,East,5,", f"r2,East,{cell},"),
                      instrument=open_instrument_with_missing_zero())
    result = invoke("validate", data, "--instrument", inst, "--out-dir", tmp_path / "q")
    assert result.exit_code == 0, result.output
    rows = rejected(tmp_path / "q" / "2026Q3.rejected.csv")
    assert [(r["id"], r["reason"], r["column"]) for r in rows] == [("r2", "out_of_scale", "E1")]
    # A column read as numbers shows the number, in Python's spelling (1e-11 for
    # 0.00000000001): the same value, not necessarily the same characters.
    assert float(rows[0]["value"]) == float(cell)


def open_instrument_with_missing_zero() -> str:
    from fixtures import TINY_INSTRUMENT, replace_in_instrument

    return replace_in_instrument("missing_codes = [9]", "missing_codes = [9, 0]",
                                 TINY_INSTRUMENT)


def test_in_scale_decimals_still_read(tmp_path):
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("r2,East,5,4,2,2,3,2",
                                                     "r2,East,4.5,4,2,2,3,2.5"))
    js = tmp_path / "r.json"
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--json", js)
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["data_quality"]["rows_quarantined"] == 0
    i1 = next(i for i in doc["items"] if i["item"] == "i1")
    assert i1["expectation_mean"] == pytest.approx((4 + 4.5 + 3) / 3)


def test_no_valid_responses_names_the_file(tmp_path):
    bad = "id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\nr2,West,6,6,6,6,6,6\n"
    inst, data = tiny(tmp_path, csv=bad)
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 65
    assert str(data) in result.stderr and "out_of_scale: 2" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_no_valid_responses_in_several_files_names_them(tmp_path):
    bad = "id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\n"
    inst, first = tiny(tmp_path, csv=bad, name="2026Q2.csv")
    _, second = tiny(tmp_path, csv=bad, name="2026Q3.csv")
    result = invoke("report", first, second, "--instrument", inst, "--out",
                    tmp_path / "r.html")
    assert result.exit_code == 65
    assert str(first) in result.stderr and str(second) in result.stderr


def test_report_warns_of_a_file_with_no_valid_row(tmp_path):
    inst, good = tiny(tmp_path, name="2026Q2.csv")
    _, bad = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\n")
    result = invoke("report", good, bad, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert f"warning: {bad}: every row was quarantined" in result.stderr


def test_a_wave_file_holding_only_its_header_is_named_not_dropped_silently(tmp_path):
    # A quarter's export that failed halfway: the report silently took the quarter before
    # as its current wave, and ingest said nothing of the file.
    inst, good = tiny(tmp_path, name="2026Q2.csv")
    _, empty = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\n", name="2026Q3.csv")
    says = f"warning: {empty}: the file holds no data rows (a header only); it adds nothing to"
    result = invoke("report", good, empty, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert says + " the report" in result.stderr
    store = tmp_path / "s.duckdb"
    result = invoke("ingest", good, empty, "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    assert says + " the store" in result.stderr
    result = invoke("ingest", empty, "--instrument", inst, "--store", tmp_path / "t.duckdb")
    assert result.exit_code == 65, result.output
    assert f"{empty}: no valid responses to store: the file holds no data rows" in result.stderr


def test_validate_exits_65_when_a_file_keeps_no_row(tmp_path):
    bad = "id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\nr2,West,x,6,6,6,6,6\n"
    inst, data = tiny(tmp_path, csv=bad)
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 65
    assert f"{data}: no valid row" in result.stderr
    assert "out_of_scale 1" in result.stderr and "non_numeric 1" in result.stderr
    # The quarantine file is complete and says why: it is written.
    assert len(rejected(tmp_path / "2026Q3.rejected.csv")) == 2


def test_validate_exits_65_for_a_file_of_header_only(tmp_path):
    inst, data = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\n")
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 65
    assert f"{data}: no valid row (it has no data rows)" in result.stderr


@pytest.mark.parametrize("option", [("--lang", "xx"), ("--engine", "gpu")])
def test_bad_option_value_is_a_usage_error_found_first(tmp_path, option):
    # Found before the instrument (missing here) and the survey are read.
    result = invoke("report", tmp_path / "missing.csv", "--instrument",
                    tmp_path / "missing.toml", "--out", tmp_path / "r.html", *option)
    assert result.exit_code == 2
    assert option[1] in result.output and "Traceback" not in result.output


def test_split_unit_absent_from_the_latest_wave_gets_no_report(tmp_path):
    # A region closed after 2026Q2: its report would show its last wave as if current.
    folder = two_waves(tmp_path)
    latest = folder / SAMPLE[-1].name
    with latest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    region = rows[0].index("region")
    with latest.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([rows[0]] + [r for r in rows[1:] if r[region] != "West"])
    out = tmp_path / "out" / "r.html"
    result = invoke("report", folder / SAMPLE[-2].name, latest, "--instrument", INSTRUMENT,
                    "--split-by", "region", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"no report for region = West: fewer than 10 respondents (min_cell) in " \
           f"{SAMPLE[-1].stem}" in result.stderr
    assert not (tmp_path / "out" / "r.region-West.html").exists()
    assert (tmp_path / "out" / "r.region-East.html").exists()


def test_hexadecimal_answer_after_text_full_of_x_is_non_numeric(tmp_path):
    # Many x before the 0x: the search falls back from single x to the two bytes.
    text = TINY_CSV.replace("East", "Xerox " + "x" * 100).replace("r4,West,9,", "r4,West,0x9,")
    inst, data = tiny(tmp_path, csv=text)
    result = invoke("validate", data, "--instrument", inst, "--out-dir", tmp_path / "q")
    assert result.exit_code == 0, result.output
    rows = rejected(tmp_path / "q" / "2026Q3.rejected.csv")
    assert [(r["id"], r["reason"], r["value"]) for r in rows] == [("r4", "non_numeric", "0x9")]


def test_survey_without_any_answer_pair_is_a_data_error(tmp_path):
    # Every respondent left the perceptions blank (the missing code 9): no item has a gap.
    only_e = "id,region,E1,E2,E3,P1,P2,P3\nr1,East,4,5,3,9,9,9\nr2,West,4,5,3,,,\n"
    inst, data = tiny(tmp_path, csv=only_e)
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--split-by", "region")
    assert result.exit_code == 65, result.output
    assert str(data) in result.stderr and "no gap to analyse" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_latest_wave_without_answer_pairs_still_reports(tmp_path):
    # The perception battery was left out of the latest questionnaire: the history stands,
    # the latest wave's gaps are undefined (null), nothing crashes.
    inst, earlier = tiny(tmp_path, name="2026Q2.csv")
    _, latest = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\nr1,East,4,5,3,9,9,9\n"
                     "r2,West,4,5,3,9,9,9\n")
    js = tmp_path / "r.json"
    result = invoke("report", earlier, latest, "--instrument", inst, "--out",
                    tmp_path / "r.html", "--json", js, "--split-by", "region")
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["current_wave"] == "2026Q3"
    assert all(d["gap_mean"] is None for d in doc["dimensions"])
    assert doc["overall"]["servqual_unweighted"] is None


def test_items_answered_but_no_dimension_score_is_a_data_error(tmp_path):
    # Found by the init property test: answers paired on an item but too few of any
    # dimension's items for a dimension score crashed the statistics (KeyError: 'gap_n').
    from fixtures import TINY_INSTRUMENT, replace_in_instrument, write

    instrument = replace_in_instrument("small_base = 2", "small_base = 2\nmin_item_share = 0.9",
                                       TINY_INSTRUMENT)
    inst = write(tmp_path / "instrument.toml", instrument)
    data = write(tmp_path / "2026Q3.csv", "id,region,E1,E2,E3,P1,P2,P3\n"
                 "r1,East,4,,,3,,\nr2,West,5,,,2,,\n")
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 65, result.output
    assert "no respondent has a dimension score" in result.output
    assert "min_item_share" in result.output and "2026Q3.csv" in result.output
    assert not (tmp_path / "r.html").exists()


def test_inputs_of_one_name_keep_a_quarantine_file_each(tmp_path):
    # A wave per region (east/2026Q3.csv, west/2026Q3.csv) validated into one --out-dir, and
    # a wave saved as both CSV and Excel in one folder: each input's rejected rows must land
    # in a file of their own (the second file overwrote the first's rows).
    inst, _ = tiny(tmp_path)
    for region, bad in (("east", "r2,East,5,4,2,2,3,7"), ("west", "r3,West,3,,5,4,4,8")):
        (tmp_path / region).mkdir()
        (tmp_path / region / "2026Q3.csv").write_text(
            f"id,region,E1,E2,E3,P1,P2,P3\n{region}1,East,4,5,3,3,5,4\n{bad}\n",
            encoding="utf-8")
    out = tmp_path / "q"
    result = invoke("validate", tmp_path / "east" / "2026Q3.csv", tmp_path / "west" / "2026Q3.csv",
                    "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    east = rejected(out / "east_2026Q3.csv.rejected.csv")
    west = rejected(out / "west_2026Q3.csv.rejected.csv")
    assert [(r["id"], r["reason"], r["value"]) for r in east] == [("r2", "out_of_scale", "7")]
    assert [(r["id"], r["reason"], r["value"]) for r in west] == [("r3", "out_of_scale", "8")]
    assert sorted(p.name for p in out.iterdir()) == ["east_2026Q3.csv.rejected.csv",
                                                     "west_2026Q3.csv.rejected.csv"]
    assert "quarantine: " + str(out / "east_2026Q3.csv.rejected.csv") in result.output
    # the same wave saved as CSV and as Excel in one folder: told apart by the suffix
    from servqual.quarantine import quarantine_paths
    folder = tmp_path / "waves"
    assert quarantine_paths([folder / "2026Q3.csv", folder / "2026Q3.xlsx", folder / "2026Q2.csv"]
                            ) == [folder / "2026Q3.csv.rejected.csv",
                                  folder / "2026Q3.xlsx.rejected.csv",
                                  folder / "2026Q2.rejected.csv"]


def test_segment_values_are_read_as_written_even_when_they_spell_no_value(tmp_path):
    # "NA" is North America, "None" a loyalty tier: they are segment values, and read as
    # missing they silently left their respondents out of the segment tables. An answer,
    # a wave or a respondent id written so still means no value (exports write them so).
    data = TINY_CSV.replace("r1,East,", "r1,NA,").replace("r2,East,5,4", "r2,None,N/A,4")
    data = data.replace("r3,West,", "null,West,")
    result, out = report_tiny(tmp_path, TINY_INSTRUMENT, data)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text(encoding="utf-8"))
    regions = {s["value"]: s["n"] for s in record["segments"]
               if s["column"] == "region" and s["dimension"] == "alpha"}
    assert set(regions) == {"NA", "None", "West"}
    quality = record["data_quality"]
    assert quality["quarantine_reasons"].get("missing_respondent_id") == 1
    assert quality["answers_missing"] == 2  # r2's N/A and r4's missing code 9
    rows = rejected(tmp_path / "r.rejected.csv")
    assert [(r["id"], r["reason"]) for r in rows] == [("null", "missing_respondent_id")]


@pytest.mark.parametrize("name, shown", [('{ en = "Industry survey" }', "Industry survey"),
                                         ('{ zh-CN = "行业调查" }', "行业调查")])
def test_a_peer_benchmark_named_in_one_language_serves_both(tmp_path, name, shown):
    # The report of the other language crashed (KeyError) building the evidence texts.
    inst, data = tiny(tmp_path)
    peers = tmp_path / "peers.toml"
    peers.write_text(f"name = {name}\n[gap]\nalpha = -0.7\n", encoding="utf-8")
    for lang in ("en", "zh-CN"):
        out = tmp_path / f"r.{lang}.html"
        result = invoke("report", data, "--instrument", inst, "--peers", peers, "--lang", lang,
                        "--out", out, "--json", tmp_path / "r.json")
        assert result.exit_code == 0, result.output
        assert shown in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("gap", ["nan", "inf", "-inf"])
def test_a_peer_gap_that_is_not_a_number_is_an_error_naming_it(tmp_path, gap):
    inst, data = tiny(tmp_path)
    peers = tmp_path / "peers.toml"
    peers.write_text(f'name = "Industry"\n[gap]\nalpha = {gap}\n', encoding="utf-8")
    result = invoke("report", data, "--instrument", inst, "--peers", peers,
                    "--out", tmp_path / "r.html")
    assert result.exit_code == 65, result.output
    assert "key 'gap.alpha': must be a finite number" in result.output


@pytest.mark.parametrize("name", ["2026Q3 (1).csv", "final.csv"])
def test_a_wave_label_that_is_not_a_date_beside_dated_ones_is_refused(tmp_path, name):
    # A downloaded copy ("2026Q3 (1).csv") sorted after every dated wave and silently
    # became the current wave of the report, whatever quarter it held.
    inst, data = tiny(tmp_path, name="2026Q2.csv")
    other = tmp_path / name
    shutil.copy(data, other)
    result = invoke("report", data, other, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 65, result.output
    assert f"the wave label {other.stem!r} (the files give it) is not a quarter, month or " \
           "date, as '2026Q2' is" in result.output
    assert not (tmp_path / "r.html").exists()
    # a quarter written quarter first is a date
    shutil.move(other, tmp_path / "Q1 2026.csv")
    result = invoke("report", data, tmp_path / "Q1 2026.csv", "--instrument", inst,
                    "--out", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert record["current_wave"] == "2026Q2"
