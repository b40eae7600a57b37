"""Stray quotes in a delimited text file: found, quarantined, and the records re-synchronised.

A quote opening a field that never closes (or closes lines later, at another stray quote)
makes the parser read the following records into one value. Only a value of text can
hold a line break, so a file whose text values and unparseable records hold none is read
as parsed. Otherwise each record's physical lines are found (its line breaks are those in
its values), and a record spanning several lines is a stray quote's doing when its lines
look like whole records (about the header's number of delimiters each) or when it runs
to the end of the file with its quote still open. Its first line alone is quarantined as
unparseable and the records after it are parsed again; a value legitimately holding a
line break or two (a comment, a wrapped question text) keeps its record whole.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from .decoding import _line_breaks, _map
from .layout import TextLayout, _Options, _parse

_MAX_STRAYS = 100  # stray quotes re-synchronised in one file before giving up


def breaks_in_values(table: pa.Table, invalid: list[tuple[int | None, str]]) -> bool:
    """Whether a text value or an unparseable record holds a line break. The values of each
    text column are searched as one run of bytes (a few milliseconds per million values)."""
    if any("\n" in text or "\r" in text for _, text in invalid):
        return True
    for column in table.columns:
        for chunk in column.chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                break
            text = _value_bytes(values)
            if text.find(b"\n") >= 0 or text.find(b"\r") >= 0:
                return True
    return False


def _value_bytes(values: pa.Array) -> bytes:
    """The bytes of the values of a text array, one after another."""
    _, offsets, data = values.buffers()[:3]
    if data is None or not len(values):
        return b""
    wide = pa.types.is_large_string(values.type)
    ends = np.frombuffer(offsets, np.int64 if wide else np.int32)
    ends = ends[values.offset:values.offset + len(values) + 1]
    return data[int(ends[0]):int(ends[-1])].to_pybytes()


def _resynchronised(options: _Options, body, table: pa.Table,
                    invalid: list[tuple[int | None, str]], path: Path
                    ) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    """The records of ``body`` (parsed as ``table`` and ``invalid``) with every stray quote's
    line quarantined alone and the records after it parsed again (see above). Unparseable
    records keep their numbers among all records of ``body``."""
    text = body.to_pybytes() if isinstance(body, pa.Buffer) else bytes(body)
    table, invalid, _, _ = _without_strays(options, text, table, invalid, path, at_end=True)
    return table, invalid


def _without_strays(options: _Options, text: bytes, table: pa.Table,
                    invalid: list[tuple[int | None, str]], path: Path, at_end: bool
                    ) -> tuple[pa.Table, list[tuple[int | None, str]], list[tuple[int, str]],
                               bytes]:
    """:func:`_resynchronised` for the records ``text`` holds: the records parsed without the
    stray quotes' lines, the unparseable ones (strays included) numbered among all records
    of ``text``, the strays alone, and ``text`` without their lines. ``at_end``: ``text``
    runs to the end of the file (a quote still open there is a stray one)."""
    strays: list[tuple[int, str]] = []  # (record number in the text, the line)
    for _ in range(_MAX_STRAYS + 1):
        found = _first_stray(options, text, table, invalid, at_end)
        if found is None:
            break
        if len(strays) == _MAX_STRAYS:
            raise DataError(f"has more than {_MAX_STRAYS} unbalanced quotes (the first on row "
                            f"about {strays[0][0]} of the data); check how the file was "
                            "exported", file=path)
        number, lo, hi = found
        line = text[lo:hi].rstrip(b"\r\n").decode("utf-8", errors="replace")
        strays.append((int(_renumbered(np.array([number]), strays)[0]), line))
        text = text[:lo] + text[hi:]
        table, invalid = _parse(options, pa.py_buffer(text))
    return table, with_strays(invalid, strays), strays, text


def with_strays(invalid: list[tuple[int | None, str]], strays: list[tuple[int, str]]
                ) -> list[tuple[int | None, str]]:
    """Unparseable records numbered among the records of a text the ``strays`` were taken out
    of (pyarrow's numbers), renumbered among all records, the strays among them."""
    if not strays:
        return invalid
    numbers = _renumbered(np.array([n for n, _ in invalid], dtype=np.int64), strays)
    merged = [*zip(numbers.tolist(), [t for _, t in invalid]), *strays]
    return sorted(merged, key=lambda item: item[0])


def _renumbered(numbers: np.ndarray, strays: list[tuple[int, str]]) -> np.ndarray:
    """Record numbers counted without the ``strays`` (taken out of the text) as numbers
    among all records: each stray before a record moves it on by one."""
    taken = np.sort(np.array([n for n, _ in strays], dtype=np.int64))
    before = taken - np.arange(1, len(taken) + 1)  # records kept before each stray
    return numbers + np.searchsorted(before, numbers, side="left")


def _first_stray(options: _Options, text: bytes, table: pa.Table,
                 invalid: list[tuple[int | None, str]], at_end: bool = True
                 ) -> tuple[int, int, int] | None:
    """The first record of ``text`` that a stray quote made span lines: its number (1 = the
    first record) and the bytes of its first line (start, start of the next line)."""
    found = _record_lines(text, table, invalid)
    if found is None:
        return None
    data, spans, starts = found
    first = np.cumsum(spans) - spans  # the first line of each record
    delimiters = np.bincount(np.searchsorted(starts, np.flatnonzero(data == ord(options.delimiter)),
                                             side="right") - 1, minlength=len(starts))
    wanted = max(1, int(np.ceil(0.75 * (len(options.names) - 1))))
    whole = delimiters >= wanted  # lines that look like whole records
    bounds = np.append(starts, len(text))
    for record in np.flatnonzero(spans > 1):
        lines = slice(first[record], first[record] + spans[record])
        looks = whole[lines]
        open_at_end = (at_end and record == len(spans) - 1 and
                       text.count(b'"', bounds[lines.start], len(text)) % 2 == 1)
        if (looks[0] and looks[1:].mean() >= 0.5) or open_at_end:
            return int(record) + 1, int(bounds[lines.start]), int(bounds[lines.start + 1])
    return None


def _record_lines(text: bytes, table: pa.Table, invalid: list[tuple[int | None, str]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``text`` as bytes, the physical lines each record spans and where each line starts;
    ``None`` when the records do not tile the lines as expected (leave them as parsed)."""
    total = table.num_rows + len(invalid)
    if any(n is None or not 1 <= n <= total for n, _ in invalid):
        return None
    spans = _record_spans(table, invalid)
    data = np.frombuffer(text, dtype=np.uint8)
    starts = _line_starts(data)
    return (data, spans, starts) if spans.sum() == len(starts) else None


def _record_spans(table: pa.Table, invalid: list[tuple[int | None, str]]) -> np.ndarray:
    """The physical lines each record spans, in record order: one more than the line breaks
    in its values (unparseable records: in their text)."""
    breaks = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        for mark, sign in (("\n", 1), ("\r", 1), ("\r\n", -1)):
            counts = pc.fill_null(pc.count_substring(column, mark), 0)
            breaks += sign * counts.to_numpy().astype(np.int64)
    total = table.num_rows + len(invalid)
    spans = np.ones(total, dtype=np.int64)
    bad = np.array([n - 1 for n, _ in invalid], dtype=np.int64)
    kept = np.ones(total, dtype=bool)
    kept[bad] = False
    spans[kept] = 1 + breaks
    spans[bad] = [1 + _line_breaks(t.encode("utf-8")) for _, t in invalid]
    return spans


def _line_starts(data: np.ndarray) -> np.ndarray:
    """Offsets where the physical lines of ``data`` start (a line break is LF, CRLF or CR)."""
    lf = data == ord("\n")
    cr = data == ord("\r")
    ends = lf.copy()
    ends[:-1] |= cr[:-1] & ~lf[1:]  # a CR not followed by LF ends a line
    ends[-1:] |= cr[-1:]
    return np.concatenate(([0], np.flatnonzero(ends) + 1))


def streamed_without_strays(text: Path, layout: TextLayout, scratch: Path, path: Path,
                            block: int = 1 << 26) -> tuple[Path, list[tuple[int, str]]]:
    """For a streamed file whose records hold line breaks: its records' text (from
    ``layout.body_start``) without the lines of stray quotes, as a file in ``scratch``, and the
    strays (record number among all records, 1 = the first; the line), as
    :func:`~servqual.ingest.text.read_text_table` finds them. The text is judged ``block``
    bytes at a time, cut after a line; a record still open at a cut is judged with the next
    block."""
    data = _map(text)
    options, end = layout.options, layout.end
    strays: list[tuple[int, str]] = []
    records, pos, carry = 0, layout.body_start, b""
    fd, name = tempfile.mkstemp(suffix=".csv", dir=scratch)
    with open(fd, "wb") as out:
        while pos < end or carry:
            hi = _cut_after_line(data, pos + block, end)
            chunk, last = carry + bytes(data[pos:hi]), hi >= end
            pos, carry = hi, b""
            chunk, ending = _without_line_break(chunk, last)
            table, invalid = _parse(options, pa.py_buffer(chunk))
            if breaks_in_values(table, invalid):
                table, invalid, found, chunk = _without_strays(options, chunk, table, invalid,
                                                               path, at_end=last)
                strays += [(records + n, line) for n, line in found]
            count = table.num_rows + len(invalid)
            if not last and (open_from := _open_last_record(chunk, table, invalid)) is not None:
                chunk, carry = chunk[:open_from], chunk[open_from:] + ending
                ending, count = b"", count - 1
            out.write(chunk + ending)
            records += count
    return Path(name), strays


def _cut_after_line(data, at: int, end: int) -> int:
    """The first offset from ``at`` just after a line break that ends a line that is not
    blank (``end`` when there is none)."""
    while at < end:
        found = [f for f in (data.find(b"\n", at, end), data.find(b"\r", at, end)) if f >= 0]
        if not found:
            return end
        brk = min(found)
        at = brk + (2 if data[brk:brk + 2] == b"\r\n" else 1)
        if brk > 0 and data[brk - 1:brk] not in (b"\n", b"\r"):
            return at
    return end


def _without_line_break(chunk: bytes, last: bool) -> tuple[bytes, bytes]:
    """``chunk`` without the one line break that ends it (none at the end of the file), and
    that line break."""
    if last:
        return chunk, b""
    size = 2 if chunk.endswith(b"\r\n") else 1 if chunk.endswith((b"\n", b"\r")) else 0
    return chunk[:len(chunk) - size], chunk[len(chunk) - size:]


def _open_last_record(text: bytes, table: pa.Table, invalid: list[tuple[int | None, str]]
                      ) -> int | None:
    """Where the last record of ``text`` starts when a quote in it is still open at the end
    (the text was cut inside it); ``None`` otherwise."""
    found = _record_lines(text, table, invalid)
    if found is None or not len(found[1]):
        return None
    _, spans, starts = found
    start = int(starts[len(starts) - spans[-1]])
    return start if text.count(b'"', start) % 2 == 1 else None
