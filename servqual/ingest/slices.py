"""Reading a file a slice of rows at a time, for engines that never hold a whole file.

A file is read whole by :func:`servqual.ingest.read_table` (then handed on in slices of
:data:`SLICE_ROWS` rows) unless it is delimited text over :data:`FULL_READ_BYTES`: then the
same header, delimiter, encoding and record splitting (:func:`.layout.stream_layout`) give
its records in batches of :data:`STREAM_BLOCK` bytes, every column read as text. Parquet files
come a row group at a time, rows numbered from 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..celltext import bounded
from ..errors import DataError
from ..instrument import Instrument
from . import reader_for
from .parquet import PARQUET_SUFFIXES, parquet_slices
from .table import Platform, RawTable
from .decoding import encoding_where_utf8_fails
from .layout import TextLayout
from .strays import breaks_in_values, streamed_without_strays, with_strays
from .text import arrow_dtype, stream_layout

FULL_READ_BYTES = 1 << 30  # text files up to this size are read whole, larger ones streamed
STREAM_BLOCK = 1 << 24  # bytes of text per streamed batch
SLICE_ROWS = 1 << 20  # rows handed on at a time (of a file read whole)
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")

ProgressFn = Callable[[str, float, float], None]  # (what, done, total)


@dataclass
class FileRead:
    """One input file as it is being read."""

    path: Path
    index: int
    kind: str = "csv"
    encoding: str | None = None
    platform: Platform | None = None
    columns: list[str] = field(default_factory=list)  # the file's own column names
    names: list[str] | None = None  # the columns under the instrument's names
    whole: RawTable | None = None  # the file read whole, until its own rows are judged
    held: list[RawTable] = field(default_factory=list)  # rows kept for the quarantine
    held_ords: list[np.ndarray] = field(default_factory=list)  # their places (see records_at)
    layout: TextLayout | None = None  # streamed text: how it is laid out
    invalid: list[tuple[int | None, str]] = field(default_factory=list)  # streamed: unparseable
    unparseable: pd.DataFrame | None = None  # source_row and text of unparseable records
    rows_parsed: int = 0
    has_wave_column: bool = False  # the wave comes from a column (else from the file name)
    single_threaded: bool = False  # streamed again single-threaded (unparseable records)
    text_encoding: str | None = None  # streamed again in this encoding (not UTF-8 after all)
    resync: bool = False  # streamed again without the lines of stray quotes

    @property
    def rows_read(self) -> int:
        return self.rows_parsed + len(self.unparseable)


class Restart(Exception):
    """A streamed text file must be staged again: single-threaded (unparseable records whose
    row numbers only a single-threaded read knows), in another encoding (``FileRead``'s
    ``text_encoding``), or without the lines of stray quotes (``resync``: a value held a line
    break)."""

    def __init__(self, single_threaded: bool = False, resync: bool = False):
        super().__init__()
        self.single_threaded = single_threaded
        self.resync = resync


def check_readable(path: Path) -> None:
    """The checks :func:`servqual.ingest.read_table` makes before reading a file."""
    reader_for(path)


def read_slices(read: FileRead, instrument: Instrument, progress: ProgressFn, scratch: Path,
                whole: bool | None = None) -> Iterator[RawTable]:
    """The records of one file as raw tables of consecutive rows, in file order; at least one
    (with no rows when the file has none). Sets ``read``'s description of the file."""
    path = read.path
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        yield from parquet_slices(read, progress, size)
        return
    if suffix in TEXT_SUFFIXES and not (size <= FULL_READ_BYTES if whole is None else whole):
        yield from _streamed_slices(read, instrument, progress, size, scratch)
        return
    raw = reader_for(path)(path, instrument)
    progress(f"reading {path.name} (MB)", size / 1e6, size / 1e6)
    read.whole, read.unparseable = raw, raw.unparseable
    _describe(read, raw)
    read.rows_parsed = len(raw.frame)
    for start in range(0, max(len(raw.frame), 1), SLICE_ROWS):
        stop = start + SLICE_ROWS
        yield RawTable(path=path, frame=raw.frame.iloc[start:stop],
                       source_rows=raw.source_rows[start:stop], encoding=raw.encoding,
                       kind=raw.kind, header_row=raw.header_row, header=raw.header,
                       platform=raw.platform)


def records_at(read: FileRead, instrument: Instrument, ords: np.ndarray, progress: ProgressFn,
               scratch: Path, whole: bool | None = None) -> RawTable:
    """The records of a file :func:`read_slices` has read whose places among its parsed
    records are ``ords`` (ascending), values as read: rows a rule sets aside after they were
    staged (a duplicate, a straight-liner) go to the quarantine as the file holds them.

    A file read whole still holds them until its own rows are judged; rows the engine held
    as it read (``read.held``, e.g. the straight-liners) are taken from there; otherwise the
    file is read again, a slice at a time, with the encoding and settings its first read
    ended with, up to the last of them.
    """
    if read.whole is not None:
        raw = read.whole
        return replace(raw, frame=raw.frame.iloc[ords].reset_index(drop=True),
                       source_rows=raw.source_rows[ords], unparseable=raw.unparseable.iloc[:0])
    if read.held:
        held = np.concatenate(read.held_ords)
        if np.isin(ords, held).all():
            at = np.searchsorted(held, ords)  # held in file order, as read
            frame = pd.concat([r.frame for r in read.held], ignore_index=True)
            rows = np.concatenate([r.source_rows for r in read.held])
            return replace(read.held[0], frame=frame.iloc[at].reset_index(drop=True),
                           source_rows=rows[at])
    again = FileRead(path=read.path, index=read.index, text_encoding=read.text_encoding,
                     single_threaded=read.single_threaded, resync=read.resync)
    first, frames, rows, offset = None, [], [], 0
    for raw in read_slices(again, instrument, progress, scratch, whole):
        first = first or raw
        local = ords[(ords >= offset) & (ords < offset + len(raw.frame))] - offset
        if len(local):
            frames.append(raw.frame.iloc[local])
            rows.append(raw.source_rows[local])
        offset += len(raw.frame)
        if len(ords) and offset > ords[-1]:
            break  # the rest of the file holds none of them
    assert first is not None  # read_slices yields at least one slice
    return replace(first, frame=pd.concat(frames, ignore_index=True) if frames
                   else first.frame.iloc[:0], unparseable=first.unparseable.iloc[:0],
                   source_rows=np.concatenate(rows) if rows else np.zeros(0, np.int64))


def _describe(read: FileRead, raw: RawTable) -> None:
    read.kind, read.encoding, read.platform = raw.kind, raw.encoding, raw.platform
    read.columns = [str(c) for c in raw.frame.columns]


def _streamed_slices(read: FileRead, instrument: Instrument, progress: ProgressFn, size: int,
                     scratch: Path) -> Iterator[RawTable]:
    path = read.path
    layout, text = stream_layout(path, instrument, scratch, read.text_encoding)
    read.layout = layout
    read.unparseable = layout.unparseable([])
    threads = not read.single_threaded
    done = [layout.body_start]  # the header is read

    def advance(n: int) -> None:
        done[0] += n
        progress(f"reading {path.name} (MB)", min(done[0], size) / 1e6, size / 1e6)

    def raw(frame: pd.DataFrame, rows: np.ndarray) -> RawTable:
        return layout.raw_table(path, frame, rows, read.unparseable)

    empty = pd.DataFrame({n: pd.Series([], dtype="string") for n in range(len(layout.names))})
    first = raw(empty.set_axis(layout.names, axis=1), np.zeros(0, dtype=np.int64))
    _describe(read, first)
    if layout.end <= layout.body_start:  # a header and no records
        yield first
        return
    strays: list[tuple[int, str]] = []  # records of stray quotes, taken out of the text
    if read.resync:  # a value held a line break: stray quotes are judged as read_table does
        text, strays = streamed_without_strays(text, layout, scratch, path)
        body = _Body(text, 0, text.stat().st_size, advance)
    else:
        body = _Body(text, layout.body_start, layout.end, advance)
    try:
        reader = layout.options.stream(body, threads, read.invalid, STREAM_BLOCK)
        for batch in reader:
            if threads and any(n is None for n, _ in read.invalid):
                raise Restart(single_threaded=True)  # row numbers need a single thread
            if not read.resync and body.quoted and breaks_in_values(
                    pa.Table.from_batches([batch]), read.invalid):
                raise Restart(resync=True)
            ords = np.arange(read.rows_parsed, read.rows_parsed + batch.num_rows)
            read.rows_parsed += batch.num_rows
            frame = batch.to_pandas(types_mapper=arrow_dtype).set_axis(layout.names, axis=1)
            yield raw(frame, layout.source_rows(ords, with_strays(read.invalid, strays)))
        if threads and any(n is None for n, _ in read.invalid):
            raise Restart(single_threaded=True)
        if not read.resync and body.quoted and breaks_in_values(pa.table({}), read.invalid):
            raise Restart(resync=True)  # records met after the last batch
        progress(f"reading {path.name} (MB)", size / 1e6, size / 1e6)  # transcoded: sizes differ
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            read.text_encoding = encoding_where_utf8_fails(path, text, instrument)
            raise Restart() from None
        raise DataError(f"cannot be read as a delimited text file: {bounded(str(err))}",
                        file=path) from err
    finally:
        body.close()
    read.invalid = with_strays(read.invalid, strays)
    read.unparseable = layout.unparseable(read.invalid)


class _Body:
    """The records of a text file (bytes ``start`` up to ``end``) as a binary file object,
    counting the bytes read (the progress of a streamed read) and noting whether a quote was
    among them."""

    def __init__(self, path: Path, start: int, end: int, on_read: Callable[[int], None]):
        self._fh = path.open("rb")
        self._fh.seek(start)
        self._left = end - start
        self._on_read = on_read
        self.closed = False
        self.quoted = False  # a quote was read: values may hold line breaks

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._fh.read(size)
        self._left -= len(data)
        self._on_read(len(data))
        self.quoted = self.quoted or data.find(b'"') >= 0
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._fh.close()
        self.closed = True


def without_unparseable(raw: RawTable) -> RawTable:
    """The slice with its unparseable records left to the file's end (they are quarantined
    once, after the last slice)."""
    return replace(raw, unparseable=raw.unparseable.iloc[:0])


def unparseable_only(read: FileRead) -> RawTable:
    """The unparseable records of a file read, as a table of no other rows."""
    return RawTable(path=read.path, frame=pd.DataFrame(columns=read.columns),
                    source_rows=np.zeros(0, np.int64), unparseable=read.unparseable)
