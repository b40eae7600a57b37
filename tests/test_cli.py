"""The command line end to end: exit codes, messages, outputs (contract §2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fixtures import TINY_CSV, tiny
from servqual.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_report_writes_html_json_and_quarantine(tmp_path):
    inst, data = tiny(tmp_path)
    out, js = tmp_path / "out" / "r.html", tmp_path / "out" / "r.json"
    result = invoke("report", data, "--instrument", inst, "--out", out, "--json", js)
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    assert out.exists() and (tmp_path / "out" / "r.rejected.csv").exists()
    doc = json.loads(js.read_text(encoding="utf-8"))
    for key in ("schema_version", "waves", "current_wave", "data_quality", "overall",
                "dimensions", "items", "by_wave"):
        assert key in doc
    assert doc["schema_version"] == 1 and doc["waves"] == ["2026Q3"]
    assert doc["overall"]["servqual_unweighted"] == pytest.approx(-0.6875)
    dq = doc["data_quality"]
    assert dq["rows_read"] == dq["rows_valid"] + dq["rows_quarantined"] == 4
    assert {d["dimension"] for d in doc["dimensions"]} == {"alpha", "beta"}
    assert {"dimension", "n", "expectation_mean", "perception_mean", "gap_mean", "gap_ci95_low",
            "gap_ci95_high", "p_value", "p_adjusted"} <= set(doc["dimensions"][0])
    assert {"item", "dimension", "n", "gap_mean"} <= set(doc["items"][0])
    assert {"wave", "dimension", "n", "gap_mean", "perception_mean"} <= set(doc["by_wave"][0])


def test_missing_file_exits_66_without_traceback(tmp_path):
    inst, _ = tiny(tmp_path)
    out = tmp_path / "r.html"
    result = invoke("report", tmp_path / "nope.csv", "--instrument", inst, "--out", out)
    assert result.exit_code == 66
    assert "nope.csv" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_missing_instrument_column_exits_65_naming_it(tmp_path):
    inst, data = tiny(tmp_path, csv=TINY_CSV.replace("P2", "Q2"))
    out = tmp_path / "r.html"
    result = invoke("report", data, "--instrument", inst, "--out", out, "--json",
                    tmp_path / "r.json")
    assert result.exit_code == 65
    assert "'P2'" in result.output and "2026Q3.csv" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.glob("r.*")) == []  # no partial output


def test_all_rows_quarantined_is_a_data_error(tmp_path):
    inst, data = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\n")
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 65 and "out_of_scale: 1" in result.output
    assert not (tmp_path / "r.html").exists()


def test_unknown_language_is_a_usage_error(tmp_path):
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--instrument", inst, "--lang", "fr", "--out",
                    tmp_path / "r.html")
    assert result.exit_code == 2 and "zh-CN" in result.output


def test_unknown_benchmark_column_is_a_usage_error(tmp_path):
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--instrument", inst, "--benchmark", "branch", "--out",
                    tmp_path / "r.html")
    assert result.exit_code == 2, result.output
    assert "'branch'" in result.output and "region" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r.html").exists()


def test_a_missing_side_file_is_reported_while_the_survey_is_being_read(tmp_path):
    """The survey files start being read before --targets is loaded (servqual.engines):
    the mistake still ends the run with its exit code and nothing written."""
    inst, data = tiny(tmp_path)
    result = invoke("report", data, "--instrument", inst, "--targets", tmp_path / "none.toml",
                    "--out", tmp_path / "r.html")
    assert result.exit_code == 66, result.output
    assert "none.toml" in result.output and not (tmp_path / "r.html").exists()


def test_bad_option_is_a_usage_error():
    assert invoke("report", "--no-such-option").exit_code == 2


def test_same_file_twice_is_a_usage_error(tmp_path):
    inst, data = tiny(tmp_path)
    result = invoke("validate", data, data, "--instrument", inst)
    assert result.exit_code == 2 and "more than once" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_exits_73(tmp_path):
    inst, data = tiny(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = invoke("report", data, "--instrument", inst, "--out", locked / "r.html")
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 73


def test_output_that_is_a_directory_exits_73(tmp_path):
    inst, data = tiny(tmp_path)
    (tmp_path / "r.html").mkdir()
    result = invoke("report", data, "--instrument", inst, "--out", tmp_path / "r.html",
                    "--json", tmp_path / "r.json")
    assert result.exit_code == 73
    assert not (tmp_path / "r.json").exists()  # all or nothing
    assert not list(tmp_path.glob(".r.*"))  # no temporary file left behind


def test_validate_prints_accounting_and_writes_quarantine_beside_input(tmp_path):
    inst, data = tiny(tmp_path, csv=TINY_CSV + "r9,East,4,4,4,4,4,6\n")
    result = invoke("validate", data, "--instrument", inst)
    assert result.exit_code == 0, result.output
    assert "rows_read 5 = rows_valid 4 + rows_quarantined 1" in result.stdout
    rejected = tmp_path / "2026Q3.rejected.csv"
    text = rejected.read_text(encoding="utf-8-sig")
    assert "out_of_scale" in text and "reason" in text.splitlines()[0]
    strict = invoke("validate", data, "--instrument", inst, "--strict")
    assert strict.exit_code == 65


def test_python_dash_m_entry_point(tmp_path):
    inst, data = tiny(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "servqual", "validate", str(data),
                           "--instrument", str(inst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "rows_valid 4" in proc.stdout
    # Not a terminal: no progress bar control sequences in the output.
    assert "\x1b[" not in proc.stderr


def test_sample_command_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("sample", "--out", a, "--respondents", "50").exit_code == 0
    assert invoke("sample", "--out", b, "--respondents", "50").exit_code == 0
    for path in a.iterdir():
        assert path.read_bytes() == (b / path.name).read_bytes()


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    from conftest import ROOT
    committed = sorted((ROOT / "surveys" / "sample").glob("*.csv"))
    assert invoke("sample", "--out", tmp_path).exit_code == 0
    assert [p.name for p in committed] == sorted(p.name for p in tmp_path.glob("*.csv"))
    assert "complaints.csv" in [p.name for p in committed]
    for path in committed:
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name
