"""Property: any table either gives results with exact row accounting, or a clean exit-65
error; never a crash, never a lost row, and each row gets the reason an independent oracle
expects.

Tables are random: numbers in and out of the 1..5 scale (huge, negative, fractional,
infinite), the missing code, blanks and null tokens, garbage text with delimiters, quotes
and line breaks, blank lines, rows with a field too many, repeated respondent ids, and a
random delimiter and encoding.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import unicodedata

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import TINY_INSTRUMENT, write
from servqual.errors import DataError
from servqual.ingest.table import NULL_TOKENS
from servqual.instrument import load_instrument
from fixtures import check_files

ANSWERS = ["E1", "E2", "E3", "P1", "P2", "P3"]
HEADER = ["id", "region", *ANSWERS]
# Garbage has no digits, so it is never a number; it has everything else that breaks files.
GARBAGE = st.text(alphabet="abcxyzABC éü中文汉字의 ,;\t\"'\n-_.#", min_size=1, max_size=8)


def classify(text: str) -> tuple[str, float]:
    """What servqual should make of an answer cell: (kind, value)."""
    if text in NULL_TOKENS or not text.strip():
        return "blank", math.nan
    cleaned = unicodedata.normalize("NFKC", text).strip()
    try:
        value = float(cleaned)
    except ValueError:
        return "text", math.nan
    if value == 9:
        return "blank", math.nan  # the instrument's missing code
    return ("valid", value) if 1 <= value <= 5 else ("out", value)


def fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


answer = st.one_of(
    st.integers(1, 5).map(str),
    st.sampled_from(["9", "", " ", "NA", "N/A", "null", "nan", "５", " 3 ", "4.0", "2.5"]),
    st.integers(-10**30, 10**30).filter(lambda v: not 1 <= v <= 5 and v != 9).map(str),
    st.floats(allow_nan=False, allow_infinity=True).map(fmt),
    GARBAGE,
)
row = st.one_of(
    st.tuples(st.sampled_from(["a", "b", "c", "007", "", " "]),
              st.sampled_from(["East", "华东", "", "West "]),
              st.lists(answer, min_size=6, max_size=6)).map(lambda t: [t[0], t[1], *t[2]]),
    st.just("blank line"),
    st.just("extra field"),
)


@st.composite
def tables(draw):
    rows = draw(st.lists(row, min_size=0, max_size=12))
    if rows and rows[-1] == "blank line":
        rows[-1] = [""] * len(HEADER)  # line breaks at the very end are not rows
    rows = [["a", "East", "1", "2", "3", "4", "5", "1", "extra"] if r == "extra field" else r
            for r in rows]
    # Duplicate some rows verbatim, as exports do.
    for i in draw(st.lists(st.integers(0, max(len(rows) - 1, 0)), max_size=3)):
        if rows and isinstance(rows[i], list):
            rows.append(list(rows[i]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    encoding, declared = draw(st.sampled_from([
        ("utf-8", "auto"), ("utf-8-sig", "auto"), ("utf-16", "auto"), ("gb18030", "auto"),
        ("gb18030", "gb18030")]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return rows, delimiter, (encoding, declared), newline


def render(rows, delimiter: str, newline: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(HEADER)
    for r in rows:
        if r == "blank line":
            out.write(newline)
        else:
            writer.writerow(r)
    return out.getvalue()


def expected_reasons(rows) -> list[str | None]:
    """The oracle: each row's reason (None: analysed), from the cells alone."""
    reasons: list[str | None] = []
    content: list[tuple | None] = []
    for r in rows:
        if r == "blank line":
            r = [""] * len(HEADER)
        if len(r) != len(HEADER):
            reasons.append("unparseable")
            content.append(None)
            continue
        kinds = [classify(c) for c in r[2:]]
        if not r[0].strip():
            reason = "missing_respondent_id"
        elif any(k == "text" for k, _ in kinds):
            reason = "non_numeric"
        elif any(k == "out" for k, _ in kinds):
            reason = "out_of_scale"
        elif all(k == "blank" for k, _ in kinds):
            reason = "all_missing"
        else:
            reason = None
        reasons.append(reason)
        region = r[1].strip() or None
        content.append(None if reason else (r[0].strip(), region, *[repr(v) for _, v in kinds]))
    for i, c in enumerate(content):
        if c is None:
            continue
        copies = [j for j, d in enumerate(content) if d is not None and d[0] == c[0]]
        if len(copies) == 1:
            continue
        if len({content[j] for j in copies}) > 1:
            reasons[i] = "duplicate_conflict"
        elif i != copies[0]:
            reasons[i] = "duplicate_respondent"
    return reasons


def looks_like_a_header(rows) -> bool:
    """The first parsed row has text in every answer column and a later row has a number:
    servqual stops, suggesting more header rows (one of the two allowed outcomes)."""
    parsed = [r if r != "blank line" else [""] * len(HEADER) for r in rows]
    parsed = [r for r in parsed if len(r) == len(HEADER)][:20]
    if not parsed or not all(classify(c)[0] == "text" for c in parsed[0][2:]):
        return False
    leading = next((n for n, r in enumerate(parsed)
                    if not all(classify(c)[0] == "text" for c in r[2:])), len(parsed))
    return any(classify(c)[0] in ("valid", "out") for r in parsed[leading:] for c in r[2:])


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(tables())
def test_every_row_is_accounted_for_or_the_error_is_clean(tmp_path, table):
    rows, delimiter, (encoding, declared), newline = table
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT.replace(
        'segments = ["region"]', f'segments = ["region"]\nencoding = "{declared}"'))
    path = tmp_path / "2026Q3.csv"
    path.write_bytes(render(rows, delimiter, newline).encode(encoding))
    try:
        validated = check_files([path], load_instrument(inst))
    except DataError as err:
        assert err.exit_code == 65 and str(path) in str(err)
        # A few accented letters in a legacy encoding can be too little to tell it by; the
        # message then asks for the encoding (detection must not guess by decoding).
        undecidable = encoding == "gb18030" and "name it in the instrument" in str(err)
        assert looks_like_a_header(rows) or undecidable, str(err)
        return
    assert not looks_like_a_header(rows)

    q = validated.quality
    assert q.rows_read == len(rows)
    assert q.rows_read == q.rows_valid + q.rows_quarantined
    assert sum(q.quarantine_reasons.values()) == q.rows_quarantined
    # Every row once: in the analysis or in the quarantine, under its spreadsheet row number.
    analysed = validated.responses.meta["source_row"].tolist()
    quarantined = validated.quarantine["source_row"].tolist()
    assert sorted(analysed + quarantined) == list(range(2, len(rows) + 2))

    # Detection judges legacy text by its few non-ASCII bytes; when they were too few to
    # tell GB18030 from another code page, accented text may read as other text. The
    # accounting above holds regardless; reasons are checked when the text read is the text
    # written.
    if q.files[0]["encoding"] != codecs.lookup(encoding).name:
        return
    expected = expected_reasons(rows)
    actual = dict(zip(quarantined, validated.quarantine["reason"]))
    assert [actual.get(n + 2) for n in range(len(rows))] == expected

    answers = np.hstack([validated.responses.expectation, validated.responses.perception])
    assert np.all(np.isnan(answers) | ((answers >= 1) & (answers <= 5)))
    blanks = sum(classify(c)[0] == "blank" for n, r in enumerate(rows) if expected[n] is None
                 for c in (r[2:] if r != "blank line" else []))
    assert q.answers_missing == blanks


excel_answer = st.one_of(
    st.integers(1, 5),
    st.sampled_from([9, None, "", " ", "NA", "4", "５", True, 2.5]),
    st.integers(-10**15, 10**15).filter(lambda v: not 1 <= v <= 5 and v != 9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    GARBAGE.filter(lambda t: not t.startswith(("=", "-", "#"))),  # no formulas or errors
)
excel_row = st.one_of(
    st.tuples(st.sampled_from(["a", "b", 7, None, " "]), st.sampled_from(["East", "华东", None]),
              st.lists(excel_answer, min_size=6, max_size=6)).map(lambda t: [t[0], t[1], *t[2]]),
    st.just([None] * len(HEADER)),
)


def as_text(value) -> str:
    """A workbook cell as the CSV oracle sees it."""
    if value is None:
        return ""
    if value is True:
        return "TRUE-as-text"  # a boolean is not an answer
    return fmt(value) if isinstance(value, (int, float)) else value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(excel_row, max_size=8))
def test_every_workbook_row_is_accounted_for(tmp_path, rows):
    from fixtures import write_xlsx

    while rows and all(v is None for v in rows[-1]):
        rows.pop()  # blank rows after the last record are outside the table
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    path = write_xlsx(tmp_path / "2026Q3.xlsx", [HEADER, *rows])
    text_rows = [[as_text(v) for v in r] for r in rows]
    try:
        validated = check_files([path], load_instrument(inst))
    except DataError as err:
        assert err.exit_code == 65 and looks_like_a_header(text_rows), str(err)
        return
    q = validated.quality
    assert q.rows_read == len(rows) == q.rows_valid + q.rows_quarantined
    quarantined = validated.quarantine["source_row"].tolist()
    analysed = validated.responses.meta["source_row"].tolist()
    assert sorted(analysed + quarantined) == list(range(2, len(rows) + 2))
    actual = dict(zip(quarantined, validated.quarantine["reason"]))
    assert [actual.get(n + 2) for n in range(len(rows))] == expected_reasons(text_rows)
