"""``--wave LABEL`` (contract §5): the wave of files without a wave column, on report,
validate and ingest, instead of the file's name ("All_Data_Original" is no wave)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fixtures import TINY_CSV, TINY_DIMENSIONS, TINY_INSTRUMENT, replace_in_instrument, tiny, write
from servqual.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_report_takes_the_wave_from_the_option(tmp_path):
    inst, data = tiny(tmp_path, name="All_Data_Original.csv")
    out = tmp_path / "r.json"
    result = invoke("report", data, "--instrument", inst, "--wave", " 2026Q3 ",
                    "--out", tmp_path / "r.html", "--json", out)
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["waves"] == ["2026Q3"] and results["current_wave"] == "2026Q3"
    gaps = {d["dimension"]: d["gap_mean"] for d in results["dimensions"]}
    assert gaps == {k: v["gap_mean"] for k, v in TINY_DIMENSIONS.items()}


def test_ingest_stores_the_wave_named_and_validate_accepts_the_option(tmp_path):
    inst, data = tiny(tmp_path, name="results-survey.csv")
    store = tmp_path / "history.duckdb"
    result = invoke("ingest", data, "--instrument", inst, "--store", store, "--wave", "2026-09")
    assert result.exit_code == 0, result.output
    assert "added wave 2026-09" in result.output
    trend = invoke("trend", "--store", store, "--json")
    assert trend.exit_code == 0, trend.output
    assert json.loads(trend.stdout)["waves"] == ["2026-09"]
    result = invoke("validate", data, "--instrument", inst, "--wave", "2026-09",
                    "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output


def test_wave_option_with_a_wave_column_or_a_blank_label_is_a_usage_error(tmp_path):
    instrument = replace_in_instrument('respondent_id = "id"', 'respondent_id = "id"\nwave = "w"')
    inst = write(tmp_path / "instrument.toml", instrument)
    lines = TINY_CSV.splitlines()
    data = write(tmp_path / "survey.csv", "\n".join(
        [lines[0] + ",w"] + [line + ",2026Q3" for line in lines[1:]]) + "\n")
    result = invoke("report", data, "--instrument", inst, "--wave", "2026Q4",
                    "--out", tmp_path / "r.html")
    assert result.exit_code == 2, result.output
    assert "survey.csv" in result.output and "'w'" in result.output
    assert not (tmp_path / "r.html").exists()
    inst, data = tiny(tmp_path / "b", instrument=TINY_INSTRUMENT)
    for label in ("", "  ", "a\tb", "x" * 41):
        result = invoke("report", data, "--instrument", inst, "--wave", label,
                        "--out", tmp_path / "b" / "r.html")
        assert result.exit_code == 2 and "--wave" in result.output, (label, result.output)


def test_wave_option_over_files_named_as_different_waves_is_a_usage_error(tmp_path):
    # --wave 2027Q1 over 2026Q2.csv and 2026Q3.csv counted two quarters as one, silently.
    inst, q2 = tiny(tmp_path, name="2026Q2.csv")
    _, q3 = tiny(tmp_path, name="2026Q3.csv")
    for command in ("report", "validate", "ingest"):
        result = invoke(command, q2, q3, "--instrument", inst, "--wave", "2027Q1",
                        *(["--store", tmp_path / "s.duckdb"] if command == "ingest" else []))
        assert result.exit_code == 2, (command, result.output)
        assert "--wave 2027Q1 names the wave of every file, and the files' names are the " \
               "waves 2026Q2, 2026Q3" in result.output
    # the files of one wave, however named, are what --wave is for
    _, east = tiny(tmp_path, name="2026Q3-east.csv")
    _, west = tiny(tmp_path, csv=TINY_CSV.replace("\nr", "\nw"), name="export west.csv")
    result = invoke("validate", east, west, "--instrument", inst, "--wave", "2026Q3")
    assert result.exit_code == 0, result.output
