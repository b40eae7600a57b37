"""Fuzz: malformed survey files through the real command line.

Files are generated from a small valid survey and then damaged the ways files are in real
life: saved in another encoding, with other line endings, with stray quotes, binary junk,
a huge cell, and hostile text in every text column (script payloads, spreadsheet formulas,
path traversal, control characters). ``servqual validate`` and ``servqual report`` (with
``--split-by``, which names files after segment values) must then end in exit 0 with exact
row accounting, or a documented exit naming the file; never a traceback. And whatever they
wrote: no payload executes in the report, no formula survives into a CSV, and nothing is
written outside the output folder.
"""

from __future__ import annotations

import csv
import io
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, XSS_PAYLOADS, replace_in_instrument, write
from servqual.cli import app

runner = CliRunner()

INSTRUMENT = replace_in_instrument("min_cell = 1", "min_cell = 1\nbenchmark_segment = \"region\"",
                                   TINY_INSTRUMENT)
HEADER = ["id", "region", "E1", "E2", "E3", "P1", "P2", "P3"]
FORMULAS = ['=HYPERLINK("http://x","click")', "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "＝1+1"]
HOSTILE = XSS_PAYLOADS + FORMULAS + [
    "../../../../tmp/servqual-escape", "..\\..\\evil", "/etc/passwd", "CON", "a\x00b",
    "\u202eevil\u202c", "东区\u200b", "😀 emoji", "x" * 300, " ", "NaN", "None",
]
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16", "cp1252", "shift_jis",
             "cp949"]
ENDINGS = ["\n", "\r\n", "\r"]
# What makes a spreadsheet treat a cell as a formula (OWASP "CSV Injection").
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# Markers of the payloads that would run if they reached the page unescaped.
LIVE = ["<script>window.__xss", "<img src=x onerror", "<svg onload", "<b onmouseover",
        'href="javascript:']

row = st.tuples(
    st.one_of(st.sampled_from(["r1", "r2", "007"]), st.sampled_from(HOSTILE)),
    st.one_of(st.sampled_from(["East", "West", "华东"]), st.sampled_from(HOSTILE)),
    st.lists(st.one_of(st.integers(1, 5).map(str), st.sampled_from(["", "9", "x", "６"]),
                       st.sampled_from(FORMULAS)), min_size=6, max_size=6),
).map(lambda t: [t[0], t[1], *t[2]])


@st.composite
def damaged_files(draw):
    rows = draw(st.lists(row, min_size=1, max_size=12))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER, *rows])
    text = out.getvalue()
    ending = draw(st.sampled_from(ENDINGS + ["mixed"]))
    if ending == "mixed":
        parts = text.split("\n")
        text = "".join(p + draw(st.sampled_from(ENDINGS)) for p in parts[:-1]) + parts[-1]
    else:
        text = text.replace("\n", ending)
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 2))):  # stray quotes
        at = draw(st.integers(1, max(1, len(lines) - 1)))
        if at < len(lines):
            cut = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + '"' + lines[at][cut:]
    if draw(st.integers(0, 4)) == 0:  # a huge cell
        at = draw(st.integers(1, max(1, len(lines) - 1)))
        if at < len(lines):
            lines[at] = lines[at].replace(",", "," + "Z" * 200_000 + ",", 1)
    text = "".join(lines)
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    for _ in range(draw(st.integers(0, 2))):  # binary junk
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data


def snapshot(folder):
    return {p for p in folder.rglob("*")}


def check_csv(path):
    text = path.read_bytes().decode("utf-8-sig")
    for record in csv.reader(io.StringIO(text, newline="")):
        for cell in record:
            if cell.startswith(TRIGGERS) or cell.startswith(("＝", "＋", "－", "＠")):
                assert NUMBER.match(cell), f"{path.name}: formula cell {cell[:40]!r}"


def check_outputs(out):
    for path in out.rglob("*.csv"):
        check_csv(path)
    for path in out.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        for marker in LIVE:
            assert marker not in html, f"{path.name}: live payload {marker!r}"


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=damaged_files(), split=st.booleans())
def test_damaged_files_never_crash_or_leak(tmp_path_factory, data, split):
    folder = tmp_path_factory.mktemp("fuzz")
    instrument = write(folder / "instrument.toml", INSTRUMENT)
    survey = folder / "in" / "2026Q3.csv"
    survey.parent.mkdir()
    survey.write_bytes(data)
    out = folder / "out"
    before = snapshot(folder)

    result = runner.invoke(app, ["validate", str(survey), "--instrument", str(instrument),
                                 "--out-dir", str(out)])
    assert result.exit_code in (0, 65), (result.output, result.exception)
    assert "Traceback" not in result.output

    args = ["report", str(survey), "--instrument", str(instrument), "--out",
            str(out / "report.html"), "--json", str(out / "results.json")]
    if split:
        args += ["--split-by", "region"]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 65), (result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
        q = doc["data_quality"]
        assert q["rows_read"] == q["rows_valid"] + q["rows_quarantined"]
    written = snapshot(folder) - before
    assert all(out in p.parents or p == out for p in written), sorted(map(str, written))
    check_outputs(out)
