"""The layout of a delimited text file: what is decided before its records are parsed.

The header rows are split here, quote-aware, so that long question texts with line breaks,
merged header cells and several header rows (Qualtrics, SurveyMonkey) are handled the same
way for every file; the delimiter is sniffed from them. :class:`TextLayout` holds what is
decided (names, where the records start and end, the spreadsheet row of the first record)
and the options pyarrow parses the records after the header with.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import DataError
from ..instrument import Instrument
from .decoding import SNIFF_BYTES, _NotUtf8
from .spans import TextSpan
from .table import (Platform, RawTable, detect_platform, header_frame,
                    label_columns, match_key, name_columns)

DELIMITERS = (",", ";", "\t", "|")


@dataclass
class TextLayout:
    """What the reader decides about a delimited text file before parsing its records."""

    encoding: str  # the codec's name
    names: list[str]  # column names (see name_columns)
    rest: list[list[str]]  # the header rows after the first, as text
    header_row: int  # the spreadsheet row naming the columns
    first_row: int  # the spreadsheet row of the first record
    body_start: int  # where the records start (a byte offset in the UTF-8 text)
    end: int  # where they end (trailing line breaks are no records)
    options: _Options

    @property
    def platform(self) -> Platform | None:
        return detect_platform(self.names, self.rest)

    def raw_table(self, path: Path, frame: pd.DataFrame, source_rows: np.ndarray,
                  unparseable: pd.DataFrame) -> RawTable:
        """Records of the file (all of them, or some) as a :class:`RawTable`."""
        return RawTable(path=path, frame=frame, source_rows=source_rows,
                        unparseable=unparseable, encoding=self.encoding, kind="csv",
                        header_row=self.header_row, header=header_frame(self.rest, self.names),
                        platform=self.platform)

    def source_rows(self, records: np.ndarray, invalid: list[tuple[int | None, str]]
                    ) -> np.ndarray:
        """Spreadsheet row numbers of parsed records (``records``: 0 = the first parsed),
        given the unparseable ones met up to them (``invalid``: pyarrow's numbers, 1 = the
        first record of the file): records count from the first data row, unparseable ones
        keep their own number."""
        bad = np.sort(np.array([n - 1 for n, _ in invalid if n is not None], dtype=np.int64))
        before = bad - np.arange(len(bad))  # parsed records before each unparseable one
        return self.first_row + records + np.searchsorted(before, records, side="right")

    def unparseable(self, invalid: list[tuple[int | None, str]]) -> pd.DataFrame:
        return pd.DataFrame({
            "source_row": pd.Series([self.first_row + n - 1 if n is not None else -1
                                     for n, _ in invalid], dtype="int64"),
            "text": pd.Series([t for _, t in invalid], dtype="object"),
        })


def text_layout(data, start: int, encoding: str, path: Path, instrument: Instrument, *,
                find_quotes: bool = True, span: TextSpan | None = None) -> TextLayout:
    """The header, delimiter and parse options of UTF-8 text ``data`` (records from ``start``).

    ``find_quotes=False`` assumes quoted values may hold line breaks without looking for a
    quote (which reads the whole file). With ``span`` (of records numbered from
    ``first_row``) only its records are parsed, with the options of the whole file.
    """
    settings = instrument.settings
    above = 0  # spreadsheet rows above the header: blank lines and title rows (skip_rows)
    if settings.skip_rows:
        _, start, blank_lines = _header(data, start, settings.skip_rows, path)
        above = blank_lines + settings.skip_rows
    header, body_start, blank_lines = _header(data, start, settings.header_rows, path)
    blank_lines += above
    delimiter = sniff_delimiter(header, path.suffix.lower())
    rows = list(csv.reader(io.StringIO(header), delimiter=delimiter))
    if len(rows) < settings.header_rows:
        raise DataError(f"the file has {len(rows)} row(s), fewer than header_rows = "
                        f"{settings.header_rows} header rows", file=path,
                        key="instrument.header_rows")
    names, rest = name_columns(rows, settings.names_row)
    if _trailing_delimiter(data, body_start, delimiter, len(names)):
        names, rest = names + [""], [r + [""] for r in rest]  # an unnamed, empty last column
    end = len(data)
    while end > body_start and data[end - 1:end] in (b"\n", b"\r"):
        end -= 1  # trailing line breaks end the file; they are not blank records
    labels = {match_key(c) for c in label_columns(instrument)}
    # Waves and segments hold a few values each: pyarrow dictionary-encodes them as it parses
    # (in the reading thread), where validation did it later: 32 ms per 1,000,000 rows for
    # three segment columns, for 13 ms more parsing.
    coded = {match_key(c) for c in (settings.wave, *settings.segments) if c}
    first_row = blank_lines + settings.header_rows + 1
    if span is not None:
        quoted, hexadecimal = span.quoted, span.hexadecimal
        body_start, end, first_row = span.start, span.stop, span.first_row
    else:
        quoted = data.find(b'"', body_start, end) >= 0 if find_quotes else True
        # pyarrow reads 0x1F as the integer 31, where an answer written so is not a number:
        # with any 0x in the records, every column is read as text and validation judges it.
        hexadecimal = _holds_hex(data, body_start, end)
    as_text = range(len(names)) if hexadecimal else [j for j, n in enumerate(names)
                                                     if match_key(n) in labels]
    options = _Options(len(names), delimiter, list(as_text), quoted=quoted,
                       coded=[j for j, n in enumerate(names) if match_key(n) in coded],
                       hexadecimal=hexadecimal)
    return TextLayout(encoding=codecs.lookup(encoding).name, names=names, rest=rest,
                      header_row=blank_lines + 1,
                      first_row=first_row,
                      body_start=body_start, end=end, options=options)


class _Options:
    """How pyarrow parses the records after the header."""

    def __init__(self, width: int, delimiter: str, text_columns: list[int], quoted: bool,
                 coded: list[int] = (), hexadecimal: bool = False):
        # Columns are parsed under their positions: a header may repeat a name or leave it
        # blank, and pyarrow would infer one type for all columns of one name.
        self.names = [str(j) for j in range(width)]
        self.delimiter = delimiter
        self.text_columns = [str(j) for j in text_columns]
        self.coded = {str(j) for j in coded}  # of the text columns: dictionary-encoded
        # A line break inside a value needs quotes; without any, pyarrow may split the file
        # at any line break and parse the blocks in parallel.
        self.quoted = quoted
        self.hexadecimal = hexadecimal  # 0x in the records: every column is read as text

    def parse(self, body: pa.Buffer, threads: bool
              ) -> tuple[pa.Table, list[tuple[int | None, str]]]:
        invalid: list[tuple[int | None, str]] = []
        if not body.size:  # a header and nothing else
            return pa.Table.from_arrays([pa.array([], pa.string()) for _ in self.names],
                                        names=self.names), invalid
        types = {c: pa.dictionary(pa.int32(), pa.string()) if c in self.coded else pa.string()
                 for c in self.text_columns}
        table = pacsv.read_csv(pa.BufferReader(body), **self._csv(threads, invalid, 1 << 22, types))
        return table, invalid

    def stream(self, source, threads: bool, invalid: list[tuple[int | None, str]],
               block_size: int) -> pacsv.CSVStreamingReader:
        """The records of ``source`` (a binary file object) in batches, every column read
        as text (a later batch cannot contradict the types the first one suggested);
        unparseable records are appended to ``invalid`` as they are met."""
        return pacsv.open_csv(source, **self._csv(threads, invalid, block_size,
                                                  {c: pa.string() for c in self.names}))

    def _csv(self, threads: bool, invalid: list[tuple[int | None, str]], block_size: int,
             types: dict[str, pa.DataType]) -> dict:
        def on_invalid(row) -> str:
            invalid.append((row.number, row.text))
            return "skip"

        return dict(
            read_options=pacsv.ReadOptions(use_threads=threads, column_names=self.names,
                                           block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter, newlines_in_values=self.quoted,
                ignore_empty_lines=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                # Only an empty cell is empty here: text is kept as written ("NA" may be a
                # region), and validation decides what a "no value" text means for a
                # column (validation.cells.without_null_tokens).
                null_values=[""], strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                # pyarrow's defaults read 1 and 0 as true and false in a column that also
                # holds "true": answers would turn into booleans.
                true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"]))


def _parse(options: _Options, body) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    table, invalid = options.parse(body, threads=True)
    if invalid:  # row numbers are only known from a single-threaded read
        table, invalid = options.parse(body, threads=False)
    return table, invalid


def _trailing_delimiter(data, start: int, delimiter: str, width: int, lines: int = 20) -> bool:
    """Whether the records end in a delimiter the header does not (``a,b,c`` over ``1,2,3,``,
    as some systems export): each of the first ``lines`` records has one field more than
    the header, and it is empty. Every record would otherwise be unparseable."""
    head = bytes(data[start:start + (1 << 16)]).decode("utf-8", errors="replace")
    try:
        records = list(itertools.islice(csv.reader(io.StringIO(head, newline=""),
                                                   delimiter=delimiter), lines + 1))
    except csv.Error:  # a stray quote or a line break the parse will judge: not this case
        return False
    records = records[:-1] if len(records) > lines else records  # the last may be cut short
    return bool(records) and all(len(r) == width + 1 and not r[-1].strip() for r in records)


def _header(data, start: int, count: int, path: Path) -> tuple[str, int, int]:
    """The first ``count`` records after any blank lines, as text; where the data begins; and
    how many blank lines came first."""
    size = SNIFF_BYTES
    while True:
        chunk = bytes(data[start:start + size])
        whole = start + size >= len(data)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(chunk, final=whole)
        except UnicodeDecodeError as err:
            raise _NotUtf8(data, start + err.start) from None
        found = _records(text, count, whole)
        if found is not None:
            end, blank = found
            header = _LINE_BREAK.sub("\n", text[:end].lstrip("\r\n"))
            return header, start + len(text[:end].encode("utf-8")), blank
        size *= 4


def _records(text: str, count: int, whole: bool) -> tuple[int, int] | None:
    """Where the first ``count`` records (after leading blank lines) end, and the number of
    blank lines before them; ``None`` when ``text`` is cut before that."""
    pos, blank, found, n = 0, 0, 0, len(text)
    while found < count and pos < n:
        end, after = _record_end(text, pos)
        if end < 0:
            if not whole:
                return None
            end = after = n
        if found == 0 and not text[pos:end].strip("\r\n"):
            blank += 1
        else:
            found += 1
        pos = after
    return min(pos, n), blank


_LINE_BREAK = re.compile(r"\r\n?|\n")


def _record_end(text: str, pos: int) -> tuple[int, int]:
    """Where the record starting at ``pos`` ends (its line break, outside quotes) and where
    the next one starts; ``(-1, -1)`` when its line break is not in ``text`` yet. A line
    break is LF, CRLF or CR alone ("CSV (Macintosh)"); a CR last in ``text`` may be the
    first half of a CRLF, so it is not taken as the end yet."""
    quoted = False
    while True:
        found = _LINE_BREAK.search(text, pos)
        if found is None or (found.group() == "\r" and found.end() == len(text)):
            return -1, -1
        quoted ^= text.count('"', pos, found.start()) % 2 == 1
        if not quoted:
            return found.start(), found.end()
        pos = found.end()


def sniff_delimiter(header: str, suffix: str) -> str:
    """The delimiter that splits the header into the most fields, the same number on each of
    its rows (quotes respected); a TSV file defaults to tab, anything else to comma."""
    header = _LINE_BREAK.sub("\n", header)
    best, best_fields = "\t" if suffix == ".tsv" else ",", 1
    for delimiter in DELIMITERS:
        fields = {len(r) for r in csv.reader(io.StringIO(header), delimiter=delimiter) if r}
        if len(fields) == 1 and (n := fields.pop()) > best_fields:
            best, best_fields = delimiter, n
    if best_fields > 1:
        return best
    first = next(csv.reader(io.StringIO(header), delimiter=","), [])
    counts = {d: sum(cell.count(d) for cell in first) for d in DELIMITERS}
    winner = max(DELIMITERS, key=lambda d: counts[d])
    return winner if counts[winner] else best


def _holds_hex(data, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` holds ``0x`` or ``0X``. Each x is found by a one-byte
    search (memchr: 10 ms per 150 MB, where a search for the two bytes stops at every 0 and
    takes 160 ms), then the byte before it is looked at; text full of x falls back to the
    two-byte search."""
    for x in (b"x", b"X"):
        pos, seen = data.find(x, start + 1, end), 0
        while pos >= 0:
            if data[pos - 1:pos] == b"0":
                return True
            seen += 1
            if seen > 64:
                return data.find(b"0" + x, pos, end) >= 0
            pos = data.find(x, pos + 1, end)
    return False
