"""Spans: a large delimited text file cut into runs of whole records, read one at a time.

The memory and Dask engines read a large CSV or TSV file as several parts, as they read a
Parquet file a few row groups at a time (:mod:`servqual.engines.partition`): each part parses
only its bytes, ``[start, stop)`` of the file, and numbers its records from its first
spreadsheet row, so memory grows with the part and not with the file.

A cut must fall where pyarrow's parse of the whole file ends a record, or the parts would
read other records than the whole file holds. :func:`record_ends` finds those places with
the state machine of pyarrow's CSV parser (Arrow's ``BlockParser::ParseLine`` with quoting,
doubled quotes, no escape character): a record ends at ``\\n``, ``\\r\\n`` or ``\\r`` outside
a quoted value; a value is quoted only when ``"`` opens the field, ``""`` inside it is a
quote, and the next single ``"`` closes it (what follows, up to the delimiter, is read
unquoted); an empty line is a record of its own. ``tests/test_spans.py`` checks the cuts
against pyarrow's own parse on generated text.

A file is cut only when its text is UTF-8 (the bytes are cut, not decoded text), it is
larger than :func:`split_from_bytes`, and no record spans lines: a quoted value holding a
line break may be a stray quote's doing, which the reader of a whole file mends by parsing
the records after it again (:mod:`servqual.ingest.strays`), numbering them by lines; a cut
made before could not follow. Anything else is read whole (or, from
:data:`~servqual.engines.DUCKDB_FROM_BYTES` on, streamed by the DuckDB engine).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from numba import njit

from ..instrument import Instrument
from .decoding import SNIFF_BYTES, _map, file_encoding

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_UTF8 = ("utf-8", "utf-8-sig")


@dataclass(frozen=True)
class TextSpan:
    """Records ``[start, stop)`` of a UTF-8 text file (byte offsets), the spreadsheet row
    of the first, and what the parse of the whole file decides from all its records:
    whether a quote occurs in them (quoted values may then hold line breaks) and whether
    ``0x`` does (every column is then read as text, :func:`~servqual.ingest.layout.text_layout`)."""

    start: int
    stop: int
    first_row: int
    quoted: bool
    hexadecimal: bool


@njit(cache=True, nogil=True)
def record_ends(text: np.ndarray, start: int, end: int, every: int, delimiter: int,
                quotes: bool = True) -> tuple[np.ndarray, int, int]:
    """The offsets just after every ``every``-th record of ``text[start:end]`` (not the
    last record's end), the number of records, and how many of them span lines (a line
    break in a quoted value), as pyarrow's CSV parser reads them (the module docstring).
    ``quotes=False`` says the text holds no quote: then only line breaks matter."""
    quote, cr, lf = 34, 13, 10
    ends = np.empty((end - start) // every + 1, dtype=np.int64)
    found, records, spanning, i = 0, 0, 0, start
    while i < end and not quotes:
        c = text[i]
        i += 1
        if c == lf or c == cr:
            if c == cr and i < end and text[i] == lf:
                i += 1
            records += 1
            if records % every == 0 and i < end:
                ends[found] = i
                found += 1
    if not quotes and end > start and text[end - 1] != lf and text[end - 1] != cr:
        records += 1  # the last record, without a line break
    while i < end and quotes:
        c = text[i]
        if c == cr or c == lf:  # an empty line
            i += 1
            if c == cr and i < end and text[i] == lf:
                i += 1
        else:
            state, lines = 0, 1  # state 0: a field starts, 1: unquoted value, 2: quoted
            while i < end:
                c = text[i]
                i += 1
                if state == 2:
                    if c == quote:
                        if i < end and text[i] == quote:
                            i += 1
                        else:
                            state = 1
                    elif c == lf or c == cr:
                        lines = 2
                    continue
                if state == 0 and c == quote:
                    state = 2
                    continue
                state = 1
                if c == delimiter:
                    state = 0
                elif c == lf:
                    break
                elif c == cr:
                    if i < end and text[i] == lf:
                        i += 1
                    break
            spanning += lines > 1
        records += 1
        if records % every == 0 and i < end:
            ends[found] = i
            found += 1
    return ends[:found], records, spanning


def split_from_bytes(rows: int) -> int:
    """A text file is looked at for cutting from this size on: 256 bytes a record for two
    parts of ``rows`` records (256 MiB for parts of 1,048,576), below which it is nearly
    always one part, and reading it whole costs nothing more."""
    return 2 * rows * 128


def utf8_text(path: Path, instrument: Instrument) -> bool:
    """Whether the file's text is UTF-8 by the instrument (``encoding``) or, where the
    instrument leaves it to servqual, by its first bytes; :func:`text_spans` checks all."""
    if Path(path).suffix.lower() not in TEXT_SUFFIXES:
        return False
    with open(path, "rb") as fh:
        encoding = file_encoding(instrument.settings.encoding, fh.read(SNIFF_BYTES), Path(path))
    return codecs.lookup(encoding).name in _UTF8


def text_spans(path: str | Path, instrument: Instrument, rows: int) -> list[TextSpan] | None:
    """The spans of at most ``rows`` records that a large UTF-8 text file is read in; None
    where the file is read whole (not text, not UTF-8, smaller than
    :func:`split_from_bytes`, a record spanning lines, or one span long).

    Raises
    ------
    DataError
        The header cannot be read (as reading the whole file would say).
    """
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file():
        return None
    stat = path.stat()
    if stat.st_size < split_from_bytes(rows) or not utf8_text(path, instrument):
        return None
    # The engine is chosen by them (servqual.engines.choose_engine), then the parts listed.
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, rows, repr(instrument.settings))
    if key not in _FOUND:
        _FOUND.clear()
        _FOUND[key] = _spans(path, instrument, rows)
    return _FOUND[key]


_FOUND: dict[tuple, list[TextSpan] | None] = {}


def _spans(path: Path, instrument: Instrument, rows: int) -> list[TextSpan] | None:
    from .layout import text_layout

    data = _map(path)
    if not _is_utf8(data):
        return None
    start = len(codecs.BOM_UTF8) if data[:3] == codecs.BOM_UTF8 else 0
    layout = text_layout(data, start, "utf-8", path, instrument, find_quotes=False)
    text = np.frombuffer(data, dtype=np.uint8)
    quoted = data.find(b'"', layout.body_start, layout.end) >= 0
    ends, _, spanning = record_ends(text, layout.body_start, layout.end, rows,
                                    ord(layout.options.delimiter), quoted)
    if spanning or not len(ends):
        return None
    hexadecimal = layout.options.hexadecimal  # found by text_layout in all the records
    cuts = [layout.body_start, *ends.tolist(), layout.end]
    return [TextSpan(a, b, layout.first_row + n * rows, quoted, hexadecimal)
            for n, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def _is_utf8(data) -> bool:
    """Whether ``data`` is UTF-8, checked by Arrow (0.4 s for 1.5 GB, where Python's decoder
    took 3.3 s) on a view of it as one value."""
    text = pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, text.size], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, text]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True
