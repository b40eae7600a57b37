"""Property: `servqual report` survives every shape a quarterly history takes.

Generated histories (hypothesis) vary what real ones do from quarter to quarter: waves present
or absent, one wave only, waves of 0–5 respondents beside ordinary ones, segment values that
appear and vanish, a segment left blank, every row of a wave quarantined, items nobody
answered in some waves, a wave without the perception battery, a small or large ``min_cell``. Each runs through the real command line
(``servqual report`` with ``--json``, in either language, sometimes ``--split-by``), and must
end in exit 0 with exact row accounting, or a documented exit (65) whose message names a
file: never exit 1, never a traceback.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fixtures import write
from servqual.cli import app

INSTRUMENT = """
[instrument]
name = "Shapes"
scale_min = 1
scale_max = 5
missing_codes = [9]
respondent_id = "id"
segments = ["region", "mode"]

[analysis]
min_cell = {min_cell}
small_base = 3
benchmark_segment = "region"

[dimensions.alpha]
label = {{ en = "Alpha", zh-CN = "甲" }}

[dimensions.beta]
label = {{ en = "Beta", zh-CN = "乙" }}

[[items]]
id = "a1"
dimension = "alpha"
expectation = "E1"
perception = "P1"

[[items]]
id = "a2"
dimension = "alpha"
expectation = "E2"
perception = "P2"

[[items]]
id = "b1"
dimension = "beta"
expectation = "E3"
perception = "P3"

[[items]]
id = "b2"
dimension = "beta"
expectation = "E4"
perception = "P4"
"""
ITEMS = ["1", "2", "3", "4"]
QUARTERS = ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"]
REGIONS = ["East", "West", "North", "华南"]
MODES = ["web", "phone"]

runner = CliRunner()


@st.composite
def waves(draw):
    """One wave's shape: size, which segment values it has, what is broken in it."""
    return {
        "n": draw(st.one_of(st.integers(0, 5), st.integers(6, 60))),
        "regions": draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=4,
                                 unique=True)),
        "region_blank": draw(st.booleans()) and draw(st.booleans()),
        "modes": draw(st.lists(st.sampled_from(MODES), min_size=1, max_size=2, unique=True)),
        "all_rejected": draw(st.integers(0, 7)) == 0,
        "unasked": draw(st.lists(st.sampled_from(ITEMS), max_size=4, unique=True)),
        "no_perception": draw(st.integers(0, 9)) == 0,
        "seed": draw(st.integers(0, 2**31)),
    }


@st.composite
def histories(draw):
    chosen = draw(st.lists(st.sampled_from(QUARTERS), min_size=1, max_size=4, unique=True))
    return {
        "waves": {label: draw(waves()) for label in sorted(chosen)},
        "min_cell": draw(st.sampled_from([1, 3, 10])),
        "lang": draw(st.sampled_from(["en", "zh-CN"])),
        "split": draw(st.integers(0, 3)) == 0,
    }


def wave_csv(label: str, shape: dict) -> str:
    rng = np.random.default_rng(shape["seed"])
    n = shape["n"]
    lines = ["id,region,mode," + ",".join(f"E{i}" for i in ITEMS) + ","
             + ",".join(f"P{i}" for i in ITEMS)]
    for r in range(n):
        region = "" if shape["region_blank"] else rng.choice(shape["regions"])
        mode = rng.choice(shape["modes"])
        answers = []
        for battery in ("E", "P"):
            for item in ITEMS:
                if item in shape["unasked"] or (battery == "P" and shape["no_perception"]):
                    answers.append(rng.choice(["", "9"]))
                elif shape["all_rejected"]:
                    answers.append("8")  # out of the 1..5 scale
                else:
                    answers.append(str(rng.integers(1, 6)) if rng.random() > 0.05 else "")
        lines.append(f"{label}-{r},{region},{mode}," + ",".join(answers))
    return "\n".join(lines) + "\n"


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_report_survives_every_history_shape(tmp_path_factory, history):
    folder = tmp_path_factory.mktemp("shape")
    instrument = write(folder / "instrument.toml",
                       INSTRUMENT.format(min_cell=history["min_cell"]))
    files = [write(folder / f"{label}.csv", wave_csv(label, shape))
             for label, shape in history["waves"].items()]
    out, js = folder / "out" / "report.html", folder / "out" / "results.json"
    args = ["report", *map(str, files), "--instrument", str(instrument), "--out", str(out),
            "--json", str(js), "--lang", history["lang"]]
    if history["split"]:
        args += ["--split-by", "region"]
    result = runner.invoke(app, args)
    assert result.exit_code != 1 and "Traceback" not in result.output, (
        history, result.output, result.exception)
    if result.exit_code == 0:
        doc = json.loads(js.read_text(encoding="utf-8"))
        quality = doc["data_quality"]
        assert quality["rows_read"] == quality["rows_valid"] + quality["rows_quarantined"]
        assert quality["rows_read"] == sum(s["n"] for s in history["waves"].values())
        for f in quality["files"]:
            assert f["rows_read"] == f["rows_valid"] + f["rows_quarantined"]
        assert out.exists() and out.stat().st_size > 0
        return
    # Only a wave set with no usable respondent at all may stop the run, and it says where.
    assert result.exit_code == 65, (history, result.output)
    assert any(str(f) in result.stderr for f in files), result.stderr
    assert not out.exists() and not js.exists()
