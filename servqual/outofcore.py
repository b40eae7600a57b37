"""The out-of-core path: DuckDB holds the rows of survey files, pandas never holds every row.

The in-memory path (:mod:`servqual.validate` then :func:`servqual.stats.aggregate.aggregate`)
keeps every respondent as numpy arrays: fast, but memory grows with the files. Here the rows
go into a DuckDB table instead (which spills to disk beyond its memory limit); only a slice of
rows at a time, the small aggregate tables, the quarantined rows and the row accounting are
held in Python.

Steps, for each file:

1. **Read**, by servqual's own readers (:mod:`servqual.ingest`). A file is read whole by
   :func:`servqual.ingest.read_table`, exactly as in memory, unless it is delimited text over
   :data:`FULL_READ_BYTES`: then the same header, delimiter, encoding and record splitting
   (:func:`servqual.ingest.text.stream_layout`) give its records in batches of
   :data:`STREAM_BLOCK` bytes, every column read as text. Parquet files (read by this path
   only) come a row group at a time, rows numbered from 1.
2. **Check each row** with the in-memory code itself, a slice of at most :data:`SLICE_ROWS`
   rows at a time: :func:`servqual.validate.resolve_columns` and
   :func:`servqual.validate.check_header` on the first slice, then
   :func:`servqual.validate.wide_rows` (labels, numbers, platform missing codes, every check
   of :data:`servqual.validate.REASONS` up to ``all_missing``, reverse scoring) and
   :func:`servqual.validate.straightlining`. The slice's verdicts and parsed values are
   appended to the DuckDB table ``staged``.
3. **Duplicates** within the file, then **straight-lining** (when quarantined), then after the
   last file the **duplicates across files** of a wave, in SQL: the rules of
   :func:`servqual.validate.find_duplicates`, the content compared by a hash of the parsed
   answers, segments, weight, importance and overall rating.
4. **Aggregate** the valid rows in SQL (:class:`SqlAggregates`): counts of each (E, P) answer
   pair per item and of each (items paired, ΣE, ΣP) per dimension, sums of the per-respondent
   overall, importance, importance–performance and zone-of-tolerance scores, and the
   cross-products of complete respondents. They are the tables
   :func:`servqual.stats.aggregate.aggregate` builds (tests/test_outofcore.py compares the
   two on the sample and on files made to be awkward).

The quarantine and the row accounting are built by :func:`servqual.validate.rejected_rows`,
:func:`servqual.validate.file_record` and :func:`servqual.validate.as_parsed`, as in memory.

Limits (README, "Large inputs"). Long layouts and value segments derived from value scores
are refused (:class:`Staging`). A streamed file reads every column as text, so its quarantine
shows values as written (``5``, ``true``) where a file read whole shows them as typed (``5.0``,
``True``), and a row found to be a duplicate after its batch was staged is shown with its
values as parsed (as duplicates across files are in memory). Sums of ratios (dimension scores,
weights) are added in parallel and may differ in the last bit from run to run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .celltext import bounded
from .engines import PARQUET_SUFFIXES
from .errors import DataError
from .ingest import RawTable, reader_for
from .ingest.decoding import encoding_where_utf8_fails
from .ingest.layout import TextLayout
from .ingest.strays import breaks_in_values, streamed_without_strays, with_strays
from .ingest.table import Platform
from .ingest.text import arrow_dtype, stream_layout
from .instrument import Instrument
from .responses import (ANSWER_DTYPE, OVERALL_SATISFACTION, RESPONDENT, SOURCE, SOURCE_ROW,
                        WAVE, WEIGHT, Responses, importance_column)
from .stats.aggregate import CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, Aggregates
from .stats.moments import ALL, KEYS, SUMS, WEIGHTED_SUMS
from .stats.scores import ImportanceCounts
from .validate import (QUARANTINE_COLUMNS, REASONS, DataQuality, answer_columns, as_parsed,
                       check_header, file_record, merge_quality, move_to_quarantine,
                       quarantine_of, rejected_rows, resolve_columns, straightlining,
                       wide_rows)
from .waves import sort_waves, wave_from_filename

FULL_READ_BYTES = 1 << 30  # text files up to this size are read whole, larger ones streamed
STREAM_BLOCK = 1 << 24  # bytes of text per streamed batch
SLICE_ROWS = 1 << 20  # rows checked at a time (of a file read whole)
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")

CODE = {reason: n + 1 for n, reason in enumerate(REASONS)}

ProgressFn = Callable[[str, float, float], None]  # (what, done, total)


def _quiet(_what: str, _done: float, _total: float) -> None:
    return None


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _num(x: float) -> str:
    return repr(float(x))


# --------------------------------------------------------------------------------------------
# The fields of a staged row


@dataclass(frozen=True)
class Layout:
    """Which staged column holds what, derived from the instrument: ``wave``, ``rid`` (the
    respondent id), segment labels ``s0, s1, …``, ``weight``, importance points ``imp<d>``,
    ``overall``, the answers ``e<j>``, ``p<j>`` (``a<j>``: adequate service) as analysed, and
    the verdict: ``code`` (0: valid, else 1 + the index of the reason in
    :data:`servqual.validate.REASONS`), ``bad_col`` and ``bad_val``."""

    instrument: Instrument

    @property
    def settings(self):
        return self.instrument.settings

    @property
    def k(self) -> int:
        return len(self.instrument.items)

    @property
    def batteries(self) -> list[str]:
        return ["e", "p"] + (["a"] if self.instrument.has_adequate else [])

    @property
    def answer_names(self) -> list[str]:
        return [f"{b}{j}" for b in self.batteries for j in range(self.k)]

    @property
    def segments(self) -> list[str]:
        return list(self.settings.segments)

    @property
    def segment_names(self) -> list[str]:
        return [f"s{n}" for n in range(len(self.segments))]

    @property
    def importance_dims(self) -> list[int]:
        return [d for d, dim in enumerate(self.instrument.dimensions) if dim.importance]

    def meta_columns(self) -> list[tuple[str, str]]:
        """(staged name, :class:`~servqual.responses.Responses` ``meta`` column) of every
        field that describes the respondent: what the duplicate check compares beside the
        answers."""
        inst = self.instrument
        cols = list(zip(self.segment_names, self.segments))
        if self.settings.sampling_weight:
            cols.append(("weight", WEIGHT))
        cols += [(f"imp{d}", importance_column(inst.dimensions[d].key))
                 for d in self.importance_dims]
        if self.settings.overall_satisfaction:
            cols.append(("overall", OVERALL_SATISFACTION))
        return cols

    def staged_columns(self) -> list[tuple[str, str]]:
        """(name, SQL type) of the staged table."""
        cols = [("file", "INTEGER"), ("ord", "BIGINT"), ("row", "BIGINT"), ("wave", "VARCHAR"),
                ("rid", "VARCHAR"), ("cell", "UBIGINT")]
        cols += [(n, "VARCHAR" if n in self.segment_names else "DOUBLE")
                 for n, _ in self.meta_columns()]
        cols += [(n, "FLOAT") for n in self.answer_names]
        cols += [("code", "UTINYINT"), ("bad_col", "VARCHAR"), ("bad_val", "VARCHAR"),
                 ("straight", "BOOLEAN"), ("dup_of", "BIGINT"), ("cross_file", "BOOLEAN")]
        return cols

    def batteries_of(self, responses: Responses) -> list[np.ndarray]:
        return [responses.expectation, responses.perception] + (
            [responses.adequate] if self.instrument.has_adequate else [])

    def arrow(self, responses: Responses, flags, straight: np.ndarray, file: int,
              ords: np.ndarray, wave_column: bool) -> pa.Table:
        """Checked rows (:func:`servqual.validate.wide_rows`) as staged rows, without
        ``cell``. A blank wave label (``missing_wave``) is NULL."""
        meta = responses.meta
        n = len(meta)
        wave = _labels(meta[WAVE])
        if wave_column:
            wave = pc.if_else(pc.equal(wave, ""), pa.scalar(None, pa.string()), wave)
        columns = {"file": pa.array(np.full(n, file, dtype=np.int32)), "ord": pa.array(ords),
                   "row": pa.array(meta[SOURCE_ROW].to_numpy(dtype=np.int64)), "wave": wave,
                   "rid": pa.array(meta[RESPONDENT].astype("string").array, type=pa.string())}
        for name, column in self.meta_columns():
            if name in self.segment_names:
                columns[name] = _labels(meta[column])
            else:
                columns[name] = pa.array(meta[column].to_numpy(dtype=np.float64),
                                         from_pandas=True)
        for battery, values in zip(self.batteries, self.batteries_of(responses)):
            for j in range(self.k):
                columns[f"{battery}{j}"] = pa.array(values[:, j], from_pandas=True)
        flagged = np.flatnonzero(flags.code)
        columns["code"] = pa.array(flags.code.astype(np.uint8))
        bad_column, bad_value = flags.cells(flagged)
        columns["bad_col"] = _sparse(bad_column, flagged, n)
        columns["bad_val"] = _sparse(bad_value, flagged, n)
        columns["straight"] = pa.array(straight)
        return pa.table(columns)

    def responses(self, rows: pd.DataFrame, paths: list[str]) -> Responses:
        """Staged rows (with their ``file``) back as responses, meta columns in the order
        :func:`servqual.validate.validate` gives them."""
        inst = self.instrument
        meta = pd.DataFrame({SOURCE_ROW: rows["row"].to_numpy(dtype=np.int64),
                             SOURCE: np.asarray(paths, dtype=object)[rows["file"].to_numpy()],
                             WAVE: rows["wave"].to_numpy(dtype=object),
                             RESPONDENT: rows["rid"].to_numpy(dtype=object)})
        for name, column in self.meta_columns():
            meta[column] = rows[name].to_numpy(dtype=object if name in self.segment_names
                                               else np.float64)
        blocks = [np.asfortranarray(rows[[f"{b}{j}" for j in range(self.k)]]
                                    .to_numpy(dtype=ANSWER_DTYPE, na_value=np.nan))
                  for b in self.batteries]
        return Responses(item_ids=inst.item_ids, expectation=blocks[0], perception=blocks[1],
                         adequate=blocks[2] if len(blocks) > 2 else None, meta=meta,
                         segments=tuple(self.segments))


def _labels(series: pd.Series) -> pa.Array:
    """A label column (categorical, blanks missing) as Arrow text."""
    array = pa.array(series, from_pandas=True)
    if pa.types.is_dictionary(array.type):
        array = array.cast(pa.string())
    return array


def _sparse(values: np.ndarray, rows: np.ndarray, n: int) -> pa.Array:
    """Text ``values`` at ``rows`` (NULL elsewhere) as a column of ``n`` rows."""
    index = np.full(n, -1, dtype=np.int64)
    index[rows] = np.arange(len(rows))
    return pa.array(values.astype(str), type=pa.string()).take(
        pa.array(index, mask=index < 0))


# --------------------------------------------------------------------------------------------
# Reading files a slice at a time


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
    whole: RawTable | None = None  # the file read whole: its rows for the quarantine
    layout: TextLayout | None = None  # streamed text: how it is laid out
    invalid: list[tuple[int | None, str]] = field(default_factory=list)  # streamed: unparseable
    unparseable: pd.DataFrame | None = None  # source_row and text of unparseable records
    rows_parsed: int = 0
    kept: list[pd.DataFrame] = field(default_factory=list)  # streamed: rows rejected when staged
    has_wave_column: bool = False  # the wave comes from a column (else from the file name)
    single_threaded: bool = False  # streamed again single-threaded (unparseable records)
    text_encoding: str | None = None  # streamed again in this encoding (not UTF-8 after all)
    resync: bool = False  # streamed again without the lines of stray quotes

    @property
    def rows_read(self) -> int:
        return self.rows_parsed + len(self.unparseable)


class _Restart(Exception):
    """A streamed text file must be staged again: single-threaded (unparseable records whose
    row numbers only a single-threaded read knows), in another encoding (``FileRead``'s
    ``text_encoding``), or without the lines of stray quotes (``resync``: a value held a line
    break)."""

    def __init__(self, single_threaded: bool = False, resync: bool = False):
        super().__init__()
        self.single_threaded = single_threaded
        self.resync = resync


def check_readable(path: Path) -> None:
    """The checks :func:`servqual.ingest.read_table` makes before reading a file (Parquet
    files: that they exist and can be read)."""
    reader_for(path, also=PARQUET_SUFFIXES)


def read_slices(read: FileRead, instrument: Instrument, progress: ProgressFn, scratch: Path,
                whole: bool | None = None) -> Iterator[RawTable]:
    """The records of one file as raw tables of consecutive rows, in file order; at least one
    (with no rows when the file has none). Sets ``read``'s description of the file."""
    path = read.path
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        yield from _parquet_slices(read, progress, size)
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
                raise _Restart(single_threaded=True)  # row numbers need a single thread
            if not read.resync and body.quoted and breaks_in_values(
                    pa.Table.from_batches([batch]), read.invalid):
                raise _Restart(resync=True)
            ords = np.arange(read.rows_parsed, read.rows_parsed + batch.num_rows)
            read.rows_parsed += batch.num_rows
            frame = batch.to_pandas(types_mapper=arrow_dtype).set_axis(layout.names, axis=1)
            yield raw(frame, layout.source_rows(ords, with_strays(read.invalid, strays)))
        if threads and any(n is None for n, _ in read.invalid):
            raise _Restart(single_threaded=True)
        if not read.resync and body.quoted and breaks_in_values(pa.table({}), read.invalid):
            raise _Restart(resync=True)  # records met after the last batch
        progress(f"reading {path.name} (MB)", size / 1e6, size / 1e6)  # transcoded: sizes differ
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            read.text_encoding = encoding_where_utf8_fails(path, text, instrument)
            raise _Restart() from None
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


def _parquet_slices(read: FileRead, progress: ProgressFn, size: int) -> Iterator[RawTable]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(read.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"cannot be read as a Parquet file: {err}", file=read.path) from err
    names = [str(c) for c in pf.schema_arrow.names]
    read.kind, read.columns = "parquet", names
    groups = pf.num_row_groups
    positions = [str(j) for j in range(len(names))]
    for g in range(max(groups, 1)):
        table = pf.read_row_group(g) if groups else pf.schema_arrow.empty_table()
        frame = table.rename_columns(positions).to_pandas(types_mapper=arrow_dtype)
        rows = np.arange(read.rows_parsed, read.rows_parsed + table.num_rows) + 1
        read.rows_parsed += table.num_rows
        progress(f"reading {read.path.name} (MB)", size * (g + 1) / max(groups, 1) / 1e6,
                 size / 1e6)
        raw = RawTable(path=read.path, frame=frame.set_axis(names, axis=1), source_rows=rows,
                       encoding=None, kind="parquet", header_row=None)
        read.unparseable = raw.unparseable  # none: Parquet rows always split into fields
        yield raw


# --------------------------------------------------------------------------------------------
# Staging, validation


@dataclass
class Checked:
    """What the out-of-core path knows after validation: the counterpart of
    :class:`servqual.validate.Validated` without the responses (they stay in DuckDB)."""

    quality: DataQuality
    quarantine: pd.DataFrame
    columns: dict[str, list[str]]

    def quarantine_of(self, file: str) -> pd.DataFrame:
        return quarantine_of(self.quarantine, self.columns, file)


def default_memory_limit() -> str:
    """Half the machine's memory for DuckDB (it spills to disk beyond that)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(total // 2 // (1 << 20), 256)}MB"


class Staging:
    """A DuckDB database holding the rows of the files being checked, and their verdicts.

    Use as a context manager; the database (in memory, spilling to a temporary directory) is
    dropped at the end unless a connection was given.
    """

    def __init__(self, instrument: Instrument, *, con: duckdb.DuckDBPyConnection | None = None,
                 progress: ProgressFn | None = None, memory_limit: str | None = None,
                 whole: bool | None = None):
        if instrument.long is not None:
            raise DataError("the out-of-core path (and the history store) reads wide files, "
                            "one row per respondent; this instrument describes a long layout "
                            "(layout = \"long\"): analyse such files with servqual report "
                            "--engine memory", file=instrument.path, key="instrument.layout")
        classes = instrument.customer_classes
        if classes is not None and classes.derived:
            raise DataError("value segments from value scores split each wave at its medians, "
                            "which the out-of-core path (and the history store) do not compute: "
                            "analyse such files with servqual report --engine memory",
                            file=instrument.path, key="customer_classes.current_value")
        self.instrument = instrument
        self.layout = Layout(instrument)
        self.progress = progress or _quiet
        self.whole = whole
        self._own = con is None
        self._tmp = tempfile.mkdtemp(prefix="servqual-duckdb-")
        if con is None:
            con = duckdb.connect(config={
                "memory_limit": memory_limit or default_memory_limit(),
                "temp_directory": self._tmp, "preserve_insertion_order": False})
        self.con = con
        self.files: list[FileRead] = []
        self.quarantines: list[pd.DataFrame] = []
        self._quarantine_waves: list[np.ndarray] = []  # the wave of each quarantined row
        self.quality = DataQuality()
        cols = ", ".join(f"{_q(n)} {t}" for n, t in self.layout.staged_columns())
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE staged ({cols})").fetchall()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._own and self.con is not None:
            self.con.close()
            self.con = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # ----------------------------------------------------------------------------------------
    def add_files(self, paths: Iterable[Path]) -> Checked:
        """Read, stage and check every file, then the duplicates across files."""
        paths = list(paths)
        for path in paths:
            check_readable(Path(path))
        for path in paths:
            self._add_file(Path(path))
        self._cross_file_duplicates()
        self.quality.answers_missing = self._answers_missing()
        self.quality.check()
        quarantine = pd.concat(self.quarantines, ignore_index=True) if self.quarantines \
            else pd.DataFrame(columns=QUARANTINE_COLUMNS)
        columns = {str(f.path): list(f.columns) for f in self.files}
        return Checked(quality=self.quality, quarantine=quarantine, columns=columns)

    def _add_file(self, path: Path) -> None:
        read = FileRead(path=path, index=len(self.files))
        while True:
            try:
                self._stage(read)
                break
            except _Restart as restart:
                self.con.execute(f"DELETE FROM staged WHERE file = {read.index}").fetchall()
                read = FileRead(path=path, index=read.index, text_encoding=read.text_encoding,
                                single_threaded=read.single_threaded or restart.single_threaded,
                                resync=read.resync or restart.resync)
        self.files.append(read)
        self._duplicates(read)
        quality = DataQuality(rows_read=read.rows_read)
        self.quarantines.append(self._file_quarantine(read, quality))
        read.whole = None  # the raw rows are no longer needed
        read.kept = []
        merge_quality(self.quality, quality)

    def _stage(self, read: FileRead) -> None:
        inst = self.instrument
        wave = inst.settings.wave
        labels = ", ".join(["wave"] + self.layout.segment_names)
        offset = 0
        for raw in read_slices(read, inst, self.progress, Path(self._tmp), self.whole):
            if read.names is None:  # the first slice: the header
                frame = resolve_columns(raw, inst)
                read.names = list(frame.columns)
                read.has_wave_column = bool(wave) and wave in read.names
                check_header(raw, frame, answer_columns(inst), inst)
            else:
                frame = raw.frame.set_axis(read.names, axis=1)
            flags, responses = wide_rows(raw, frame, inst)
            straight = straightlining(responses)
            ords = np.arange(offset, offset + len(raw.frame), dtype=np.int64)
            offset += len(raw.frame)
            table = self.layout.arrow(responses, flags, straight, read.index, ords,
                                      read.has_wave_column)
            self.con.register("checked_rows", table)
            try:
                self.con.execute("INSERT INTO staged BY NAME SELECT *, "
                                 f"hash({labels}) AS cell FROM checked_rows").fetchall()
            finally:
                self.con.unregister("checked_rows")
            if read.whole is None:  # streamed: keep the rows rejected so far as read
                keep = ~flags.ok
                if inst.settings.quarantine_straightlining:
                    keep |= straight
                rows = np.flatnonzero(keep)
                if len(rows):
                    kept = raw.frame.iloc[rows]
                    read.kept.append(kept.set_axis(ords[rows], axis=0))

    def _content_hash(self) -> str:
        fields = self.layout.answer_names + [n for n, _ in self.layout.meta_columns()]
        return f"hash({', '.join(fields)})"

    def _mark_duplicates(self, where: str, order: str, cross: bool) -> None:
        """Flag duplicate respondents among the rows ``where`` (as find_duplicates does)."""
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE dup AS
            WITH cand AS (SELECT file, ord, row, wave, rid, {self._content_hash()} AS h
                          FROM staged WHERE {where}),
                 keys AS (SELECT wave, rid FROM cand GROUP BY wave, rid HAVING count(*) > 1),
                 grp AS (SELECT c.* FROM cand c SEMI JOIN keys k
                         ON c.wave = k.wave AND c.rid = k.rid),
                 kinds AS (SELECT wave, rid, count(DISTINCT h) AS contents FROM grp
                           GROUP BY wave, rid)
            SELECT g.file, g.ord,
                   CASE WHEN k.contents > 1 THEN {CODE['duplicate_conflict']}
                        ELSE {CODE['duplicate_respondent']} END AS code,
                   CASE WHEN k.contents > 1 THEN NULL
                        ELSE first_value(g.row) OVER w END AS dup_of,
                   k.contents > 1 OR row_number() OVER w > 1 AS flagged
            FROM grp g JOIN kinds k ON g.wave = k.wave AND g.rid = k.rid
            WINDOW w AS (PARTITION BY g.wave, g.rid ORDER BY {order})
        """).fetchall()
        self.con.execute(f"""
            UPDATE staged SET code = d.code, dup_of = d.dup_of, cross_file = {cross}
            FROM dup d WHERE d.flagged AND staged.file = d.file AND staged.ord = d.ord
        """).fetchall()
        self.con.execute("DROP TABLE dup").fetchall()

    def _duplicates(self, read: FileRead) -> None:
        if self.instrument.settings.respondent_id:
            self._mark_duplicates(f"file = {read.index} AND code = 0", "g.ord", cross=False)
        if self.instrument.settings.quarantine_straightlining:
            self.con.execute(f"UPDATE staged SET code = {CODE['straightlining']} "
                             f"WHERE file = {read.index} AND code = 0 AND straight").fetchall()

    def _cross_file_duplicates(self) -> None:
        if not self.instrument.settings.respondent_id or len(self.files) < 2:
            return
        # A duplicate is a repeated (wave, respondent): only waves found in two files or more
        # can have one across files (usually none: one file per wave).
        shared = self.con.execute(
            "SELECT wave FROM (SELECT DISTINCT wave, file FROM staged WHERE code = 0) "
            "GROUP BY wave HAVING count(*) > 1").fetchall()
        if not shared:
            return
        waves = ", ".join(_lit(w) for (w,) in shared)
        self._mark_duplicates(f"code = 0 AND wave IN ({waves})", "g.file, g.ord", cross=True)
        rows = self._staged("cross_file")
        if not len(rows):
            return
        self._quarantine_waves.append(rows["wave"].to_numpy(dtype=object))
        frame = self._as_parsed(rows)
        self.quarantines.append(frame)
        self.quality.rows_valid -= len(frame)
        self.quality.respondents_valid -= len(frame)
        self.quality.add_rejected(frame["reason"])
        move_to_quarantine(self.quality, frame[SOURCE])

    def _staged(self, where: str) -> pd.DataFrame:
        """Staged rows, in file order."""
        return self.con.execute(f"SELECT * FROM staged WHERE {where} ORDER BY file, ord").df()

    def _as_parsed(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Quarantine rows of staged rows, their values as parsed (reverse scoring undone), as
        :func:`servqual.validate.validate` records duplicates across files."""
        responses = self.layout.responses(rows, [str(f.path) for f in self.files])
        first = rows["dup_of"].fillna(-1).to_numpy(dtype=np.int64)
        return as_parsed(responses, rows["code"].to_numpy(dtype=np.int64), first,
                         self.instrument, None)

    def _count(self, where: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM staged WHERE {where}").fetchall()[0][0])

    def _file_quarantine(self, read: FileRead, quality: DataQuality) -> pd.DataFrame:
        """The file's quarantine, as :func:`servqual.validate.check_table` makes it; fills its
        row accounting in ``quality``."""
        rejected = self._staged(f"file = {read.index} AND code <> 0")
        ords = rejected["ord"].to_numpy(dtype=np.int64)
        raw = read.whole if read.whole is not None else self._streamed_rows(read, rejected)
        rows = ords if read.whole is not None else np.arange(len(ords))
        q = rejected_rows(raw, rows, rejected["code"].to_numpy(dtype=np.int64),
                          rejected["bad_col"].fillna("").to_numpy(dtype=object),
                          rejected["bad_val"].fillna("").to_numpy(dtype=object),
                          rejected["dup_of"].fillna(-1).to_numpy(dtype=np.int64))
        unlabelled = None if read.has_wave_column else wave_from_filename(read.path)
        self._quarantine_waves.append(np.concatenate([
            rejected["wave"].astype(object).where(rejected["wave"].notna(), None).to_numpy(),
            np.full(len(read.unparseable), unlabelled, dtype=object)]))
        quality.rows_valid = quality.respondents_valid = self._count(
            f"file = {read.index} AND code = 0")
        quality.straightlining = self._count(f"file = {read.index} AND code = 0 AND straight")
        quality.add_rejected(q["reason"])
        quality.check()
        quality.files.append(file_record(read, quality))
        return q

    def _streamed_rows(self, read: FileRead, rejected: pd.DataFrame) -> RawTable:
        """The rejected rows of a streamed file as read, rows found to be duplicates after
        they were staged as parsed, in the order of ``rejected``."""
        ords = rejected["ord"].to_numpy(dtype=np.int64)
        own = pd.concat(read.kept) if read.kept else pd.DataFrame(columns=read.columns)
        gone = rejected[~np.isin(ords, own.index.to_numpy())]
        if len(gone):  # the file's columns the instrument names, as parsed
            parsed = self._as_parsed(gone).iloc[:, len(QUARANTINE_COLUMNS):]
            parsed = parsed.rename(columns=dict(zip(read.names, read.columns)))
            parsed = parsed[[c for c in dict.fromkeys(read.columns) if c in parsed.columns]]
            own = pd.concat([own, parsed.set_axis(gone["ord"].to_numpy(), axis=0)])
        frame = own.reindex(ords)
        return RawTable(path=read.path, frame=frame,
                        source_rows=rejected["row"].to_numpy(dtype=np.int64),
                        unparseable=read.unparseable)

    def _answers_missing(self) -> int:
        parts = " + ".join(f"count(*) - count({n})" for n in self.layout.answer_names)
        return int(self.con.execute(f"SELECT coalesce({parts}, 0) FROM staged WHERE code = 0"
                                    ).fetchall()[0][0])

    # ----------------------------------------------------------------------------------------
    def waves(self) -> list[str]:
        rows = self.con.execute("SELECT DISTINCT wave FROM staged WHERE code = 0").fetchall()
        return sort_waves(r[0] for r in rows)

    def aggregates(self) -> Aggregates:
        """The aggregates of the valid rows (see :class:`SqlAggregates`)."""
        return SqlAggregates(self.con, self.instrument, "staged", "code = 0",
                             self.progress).build()

    def wave_quality(self) -> dict[str | None, DataQuality]:
        """Row accounting per wave (``None``: rows without a wave label)."""
        return quality_by_wave(self.con, self.layout, self.files)

    def quarantine_waves(self) -> np.ndarray:
        """The wave of each row of the quarantine (None: the row has no wave label)."""
        if not self._quarantine_waves:
            return np.array([], dtype=object)
        return np.concatenate(self._quarantine_waves)

    def respondents_select(self, wave: str | None = None) -> str:
        """SQL of the valid rows (of one wave) in the store's respondent-level layout."""
        where = "code = 0" + (f" AND wave = {_lit(wave)}" if wave is not None else "")
        return respondent_rows_sql(self.layout, "staged", where,
                                  {f.index: str(f.path) for f in self.files})


def quality_by_wave(con, layout: Layout, files: list[FileRead]
                    ) -> dict[str | None, DataQuality]:
    """Row accounting of each wave: the valid and quarantined rows that carry its label.

    Unparseable records belong to the wave of their file when the file has no wave column
    (the wave is the file name); otherwise, like rows with a blank wave, to none (key None).
    """
    answers = " + ".join(f"count(*) FILTER (WHERE code = 0) - count({n}) FILTER "
                         f"(WHERE code = 0)" for n in layout.answer_names)
    rows = con.execute(f"""
        SELECT wave, file, code, count(*) AS n,
               count(*) FILTER (WHERE (code = 0 OR cross_file) AND straight) AS straight,
               {answers} AS missing
        FROM staged GROUP BY wave, file, code""").fetchall()
    out: dict[str | None, DataQuality] = {}
    per_file: dict[tuple[str | None, int], DataQuality] = {}

    def get(wave, file) -> DataQuality:
        if (wave, file) not in per_file:
            per_file[(wave, file)] = DataQuality()
        return per_file[(wave, file)]

    for wave, file, code, n, straight, missing in rows:
        q = get(wave, file)
        q.rows_read += n
        if code == 0:
            q.rows_valid += n
            q.respondents_valid += n
            q.answers_missing += int(missing)
        else:
            q.rows_quarantined += n
            q.quarantine_reasons[REASONS[code - 1]] += n
        q.straightlining += int(straight)
    for f in files:
        if len(f.unparseable):
            wave = None if f.has_wave_column else wave_from_filename(f.path)
            q = get(wave, f.index)
            q.rows_read += len(f.unparseable)
            q.rows_quarantined += len(f.unparseable)
            q.quarantine_reasons["unparseable"] += len(f.unparseable)
    for (wave, file), q in sorted(per_file.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        q.files.append(file_record(files[file], q))
        merge_quality(out.setdefault(wave, DataQuality()), q)
    return out


def respondent_rows_sql(layout: Layout, table: str, where: str, paths: dict[int, str]) -> str:
    """Valid rows in the store's respondent-level layout: the columns of
    :class:`servqual.responses.Responses` (``meta`` columns under their own names, answers as
    ``e:<item>``, ``p:<item>``, ``a:<item>``)."""
    s = layout.settings
    inst = layout.instrument
    files = "CASE file " + " ".join(f"WHEN {i} THEN {_lit(p)}" for i, p in paths.items()) \
        + " END" if paths else "NULL"
    select = [f"wave AS {_q(WAVE)}", f"rid AS {_q(RESPONDENT)}", f"{files} AS {_q(SOURCE)}",
              f"row AS {_q(SOURCE_ROW)}"]
    for name, seg in zip(layout.segment_names, layout.segments):
        select.append(f"{name} AS {_q(seg)}")
    if s.sampling_weight:
        select.append(f"weight AS {_q(WEIGHT)}")
    for d in layout.importance_dims:
        select.append(f"imp{d} AS {_q(importance_column(inst.dimensions[d].key))}")
    if s.overall_satisfaction:
        select.append(f"overall AS {_q(OVERALL_SATISFACTION)}")
    for b in layout.batteries:
        for j, item in enumerate(inst.items):
            select.append(f"{b}{j} AS {_q(f'{b}:{item.id}')}")
    return f"SELECT {', '.join(select)} FROM {table} WHERE {where}"


# --------------------------------------------------------------------------------------------
# Aggregation in SQL


class SqlAggregates:
    """The aggregates of :func:`servqual.stats.aggregate.aggregate`, computed by DuckDB.

    ``table`` holds staged rows (the layout of :class:`Layout`: ``wave``, segment columns
    ``s0, s1, …``, ``weight``, ``imp<d>``, ``overall`` and answers ``e<j>``, ``p<j>``,
    ``a<j>``, and ``cell``: a hash of the wave and segment labels); ``where`` selects the
    valid ones. Everything is grouped by the finest cell, wave × every segment value, in SQL;
    the per-segment marginals are then sums over the small cell tables (as the in-memory path
    sums over its cells). Grouping by the 64-bit cell key rather than by the labels halves the
    time of each pass; should two cells' labels ever hash alike, the labels are used.
    """

    def __init__(self, con, instrument: Instrument, table: str, where: str,
                 progress: ProgressFn | None = None):
        self.con = con
        self.instrument = instrument
        self.layout = Layout(instrument)
        self.table = table
        self.where = where
        self.progress = progress or _quiet
        self.weighted = bool(instrument.settings.sampling_weight)
        self.labels = ["wave"] + self.layout.segment_names
        self.cell_labels = self._query(
            f"SELECT cell, {', '.join(self.labels)} FROM {table} WHERE {where} GROUP BY ALL")
        if self.cell_labels["cell"].duplicated().any():
            self.cells = list(self.labels)  # a hash collision: group by the labels themselves
        else:
            self.cells = ["cell"]

    # helpers ------------------------------------------------------------------------------
    def _query(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def _valid(self) -> str:
        return f"(SELECT * FROM {self.table} WHERE {self.where})"

    def _items_of(self, d: int) -> list[int]:
        key = self.instrument.dimensions[d].key
        return [j for j, item in enumerate(self.instrument.items) if item.dimension == key]

    def _weights(self, condition: str | None = None) -> str:
        if not self.weighted:
            return ""
        f = f" FILTER (WHERE {condition})" if condition else ""
        return f", sum(weight){f} AS w, sum(weight * weight){f} AS w2"

    # the tables ----------------------------------------------------------------------------
    def build(self) -> Aggregates:
        """Four passes over the valid rows: counts per cell of each item's (E, P) answer pair,
        of each dimension's (items paired, ΣE, ΣP) and (perception items, ΣP); sums per cell
        of the float scores; cross-products per wave. Moments and gap histograms of items and
        dimensions follow exactly from the counts, as in :mod:`servqual.stats.coded`."""
        steps = 4
        self.progress("aggregating: items", 0, steps)
        item_moments, item_hist = self.item_tables()
        self.progress("aggregating: dimensions", 1, steps)
        dim_moments, dim_hist = self.dimension_tables()
        self.progress("aggregating: scores", 2, steps)
        scores, importance = self.moment_tables()
        self.progress("aggregating: reliability", 3, steps)
        cross = self.crossproducts()
        self.progress("aggregating", steps, steps)
        sums = SUMS + (WEIGHTED_SUMS if self.weighted else [])
        moments = pd.concat([item_moments, dim_moments, scores], ignore_index=True)
        moments["n"] = moments["n"].round().astype(np.int64)
        moments = moments[moments["n"] > 0].reset_index(drop=True)
        hist = pd.concat([item_hist, dim_hist], ignore_index=True)
        hist["value"] = hist["value"].astype(object)
        return canonical(Aggregates(moments=moments[KEYS + sums],
                                    histograms=hist[HISTOGRAM_KEYS + ["count"]],
                                    crossproducts=cross, importance=importance),
                         self.instrument)

    def _counted(self, table: str, parts: list[str], keys: list[str]) -> None:
        """Count rows per cell and ``keys`` (with weight sums), from the UNION of ``parts``
        (SELECTs of cell, keys), into the temporary table ``table``."""
        weights = ", sum(weight) AS w, sum(weight * weight) AS w2" if self.weighted else ""
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {', '.join(self.cells)}, "
            f"{', '.join(keys)}, count(*) AS n{weights} FROM ({' UNION ALL '.join(parts)}) "
            "GROUP BY ALL").fetchall()

    def _rolled_up(self, table: str, keys: list[str], select: list[str]) -> pd.DataFrame:
        """Sum ``select`` (aggregate expressions over ``table``) to wave (segment '') and to
        wave × value of each segment column, by grouping sets."""
        seg = self.layout.segment_names
        join = ""
        if self.cells == ["cell"]:
            self.con.register("cell_labels", self.cell_labels)
            join = "JOIN cell_labels USING (cell)"
        sets = ", ".join([f"(wave, {', '.join(keys)})"]
                         + [f"(wave, {c}, {', '.join(keys)})" for c in seg])
        family = ("CASE " + " ".join(f"WHEN GROUPING({c}) = 0 THEN {_lit(name)}"
                                     for c, name in zip(seg, self.layout.segments))
                  + " ELSE '' END") if seg else "''"
        value = ("coalesce(" + ", ".join(f"CASE WHEN GROUPING({c}) = 0 THEN {c} END"
                                         for c in seg) + ", '')") if seg else "''"
        present = " AND ".join(f"(GROUPING({c}) = 1 OR {c} IS NOT NULL)" for c in seg) or "TRUE"
        sql = (f"SELECT wave, {family} AS segment, {value} AS value, {', '.join(keys)}, "
               f"{', '.join(select)} FROM {table} {join} "
               f"GROUP BY GROUPING SETS ({sets}) HAVING {present}")
        try:
            return self.con.execute(sql).df()
        finally:
            if join:
                self.con.unregister("cell_labels")

    def _moment_sums(self, x: str) -> list[str]:
        """Aggregates over a counted table of n, Σx, Σx² (and weighted sums) of value ``x``."""
        out = ["sum(n) AS n", f"sum(n * {x}) AS sum", f"sum(n * {x} * {x}) AS sumsq"]
        if self.weighted:
            out += ["sum(w) AS w", f"sum(w * {x}) AS wsum", f"sum(w * {x} * {x}) AS wsumsq",
                    "sum(w2) AS w2"]
        return out

    def item_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per item: E, P and gap moments over answered pairs, and the gap histogram."""
        inst = self.instrument
        parts = [f"SELECT {', '.join(self.cells)}{', weight' if self.weighted else ''}, "
                 f"{j} AS item, CAST(e{j} AS DOUBLE) AS e, CAST(p{j} AS DOUBLE) AS p "
                 f"FROM {self._valid()} WHERE e{j} IS NOT NULL AND p{j} IS NOT NULL"
                 for j in range(self.layout.k)]
        self._counted("item_counts", parts, ["item", "e", "p"])
        frames = []
        for measure, x in (("expectation", "e"), ("perception", "p"), ("gap", "(p - e)")):
            frame = self._rolled_up("item_counts", ["item"], self._moment_sums(x))
            frame["level"], frame["measure"] = "item", measure
            frames.append(frame)
        moments = pd.concat(frames, ignore_index=True)
        moments["id"] = np.asarray(inst.item_ids, dtype=object)[moments.pop("item")]
        hist = self._rolled_up("(SELECT *, p - e AS x FROM item_counts)", ["item", "x"],
                               ["CAST(sum(n) AS DOUBLE) AS count"])
        hist["id"] = np.asarray(inst.item_ids, dtype=object)[hist.pop("item")]
        hist["level"], hist["measure"] = "item", "gap"
        self.con.execute("DROP TABLE item_counts").fetchall()
        return moments, hist

    def dimension_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per dimension: E, P and gap score moments and the gap histogram, from counts of
        (items paired, ΣE, ΣP); SERVPERF from counts of (perception items, ΣP). Scores only
        where enough items are answered (``min_item_share``)."""
        inst = self.instrument
        keys = inst.dimension_keys
        extra = ", weight" if self.weighted else ""
        paired, perf = [], []
        needed = []
        for d in range(len(keys)):
            items = self._items_of(d)
            both = {j: f"(e{j} IS NOT NULL AND p{j} IS NOT NULL)" for j in items}
            cnt = " + ".join(f"CAST({both[j]} AS INTEGER)" for j in items)
            se = " + ".join(f"CASE WHEN {both[j]} THEN CAST(e{j} AS DOUBLE) ELSE 0 END"
                            for j in items)
            sp = " + ".join(f"CASE WHEN {both[j]} THEN CAST(p{j} AS DOUBLE) ELSE 0 END"
                            for j in items)
            paired.append(f"SELECT {', '.join(self.cells)}{extra}, {d} AS dim, {cnt} AS c, "
                          f"{se} AS se, {sp} AS sp FROM {self._valid()}")
            cp = " + ".join(f"CAST(p{j} IS NOT NULL AS INTEGER)" for j in items)
            spp = " + ".join(f"coalesce(CAST(p{j} AS DOUBLE), 0)" for j in items)
            perf.append(f"SELECT {', '.join(self.cells)}{extra}, {d} AS dim, {cp} AS c, "
                        f"{spp} AS sp FROM {self._valid()}")
            share = inst.analysis.min_item_share
            needed.append(f"WHEN {d} THEN {_num(share * len(items) - 1e-9)}")
        enough = f"(c >= CASE dim {' '.join(needed)} END AND c > 0)"
        self._counted("dim_counts", paired, ["dim", "c", "se", "sp"])
        self._counted("perf_counts", perf, ["dim", "c", "sp"])
        frames = []
        for measure, x in (("expectation", "se / c"), ("perception", "sp / c"),
                           ("gap", "(sp - se) / c")):
            frame = self._rolled_up(f"(SELECT * FROM dim_counts WHERE {enough})", ["dim"],
                                    self._moment_sums(f"({x})"))
            frame["measure"] = measure
            frames.append(frame)
        frame = self._rolled_up(f"(SELECT * FROM perf_counts WHERE {enough})", ["dim"],
                                self._moment_sums("(sp / c)"))
        frame["measure"] = "servperf"
        frames.append(frame)
        moments = pd.concat(frames, ignore_index=True)
        moments["id"] = np.asarray(keys, dtype=object)[moments.pop("dim")]
        moments["level"] = "dimension"
        hist = self._rolled_up(
            f"(SELECT *, (sp - se) / c AS x FROM dim_counts WHERE {enough})", ["dim", "x"],
            ["CAST(sum(n) AS DOUBLE) AS count"])
        hist["id"] = np.asarray(keys, dtype=object)[hist.pop("dim")]
        hist["level"], hist["measure"] = "dimension", "gap"
        self.con.execute("DROP TABLE dim_counts").fetchall()
        self.con.execute("DROP TABLE perf_counts").fetchall()
        return moments, hist

    def moment_tables(self) -> tuple[pd.DataFrame, ImportanceCounts | None]:
        """n, Σx, Σx² (and weighted sums) of every float score, per cell in one pass, then
        summed over cells to wave × segment value."""
        measures = self._score_measures()
        aggs = []
        for n in range(len(measures)):
            x = f"m{n}"
            aggs += [f"count({x})", f"sum({x})", f"sum({x} * {x})"]
            if self.weighted:
                aggs += [f"sum(weight) FILTER (WHERE {x} IS NOT NULL)", f"sum(weight * {x})",
                         f"sum(weight * {x} * {x})",
                         f"sum(weight * weight) FILTER (WHERE {x} IS NOT NULL)"]
        counts = {}
        passthrough = list(self.cells) + (["weight"] if self.weighted else [])
        if self.instrument.has_importance:
            _, counts = self._importance_expressions()
            aggs += list(counts.values())
            passthrough += ["imp_invalid", "imp_zero", "imp_rescaled", "imp_used"]
        values = ", ".join(f"{expr} AS m{n}" for n, (_, _, _, expr) in enumerate(measures))
        sql = (f"SELECT {', '.join(self.cells)}, {', '.join(aggs)} FROM "
               f"(SELECT {', '.join(passthrough)}, {values} FROM {self._scores_source()}) "
               "GROUP BY ALL")
        rows = self.con.execute(sql).fetchall()
        keys = len(self.cells)
        wide = np.array([r[keys:] for r in rows], dtype=float).reshape(len(rows), -1)
        wide = np.nan_to_num(wide, nan=0.0)  # a sum over no value is NULL: zero
        cells = pd.DataFrame([r[:keys] for r in rows], columns=self.cells)
        importance = None
        if counts:
            totals = wide[:, -len(counts):].sum(axis=0)
            importance = ImportanceCounts(**{k: int(v) for k, v in zip(counts, totals)})
            wide = wide[:, :-len(counts)]
        names = SUMS + (WEIGHTED_SUMS if self.weighted else [])
        per = len(names)
        frames = []
        for labels, summed in self._family_sums(cells, wide):
            m = len(measures)
            block = summed.reshape(len(labels), m, per)
            frame = pd.DataFrame({
                "wave": np.repeat(labels["wave"].to_numpy(dtype=object), m),
                "segment": np.repeat(labels["segment"].to_numpy(dtype=object), m),
                "value": np.repeat(labels["value"].to_numpy(dtype=object), m),
                "level": np.tile(np.array([x[0] for x in measures], dtype=object), len(labels)),
                "id": np.tile(np.array([x[1] for x in measures], dtype=object), len(labels)),
                "measure": np.tile(np.array([x[2] for x in measures], dtype=object),
                                   len(labels))})
            for k, name in enumerate(names):
                frame[name] = block[:, :, k].reshape(-1)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True), importance

    def _family_sums(self, cells: pd.DataFrame, wide: np.ndarray
                     ) -> list[tuple[pd.DataFrame, np.ndarray]]:
        """Per-cell sums added up to wave (the whole sample) and to wave × value of each
        segment column (cells without a value for that column left out)."""
        labelled = cells if self.cells != ["cell"] else cells.merge(
            self.cell_labels, on="cell", how="left")
        out = []
        families = [("", None)] + list(zip(self.layout.segments, self.layout.segment_names))
        for segment, column in families:
            by = ["wave"] + ([column] if column else [])
            keep = np.ones(len(labelled), dtype=bool) if column is None \
                else labelled[column].notna().to_numpy()
            groups = labelled.loc[keep, by]
            codes, uniques = pd.MultiIndex.from_frame(groups).factorize()
            summed = np.zeros((len(uniques), wide.shape[1]))
            np.add.at(summed, codes, wide[keep])
            labels = uniques.to_frame(index=False)
            labels.columns = by
            labels.insert(1, "segment", segment)
            labels["value"] = labels.pop(column) if column else ALL
            out.append((labels, summed))
        return out

    # per-respondent scores --------------------------------------------------------------
    def _dimension_expressions(self) -> dict[str, str]:
        """SQL of each respondent's dimension scores (NULL when too few items)."""
        out = {}
        share = self.instrument.analysis.min_item_share
        for d in range(len(self.instrument.dimensions)):
            items = self._items_of(d)
            needed = _num(share * len(items) - 1e-9)
            both = {j: f"(e{j} IS NOT NULL AND p{j} IS NOT NULL)" for j in items}
            cnt = "(" + " + ".join(f"CAST({both[j]} AS INTEGER)" for j in items) + ")"
            se = "(" + " + ".join(f"CASE WHEN {both[j]} THEN CAST(e{j} AS DOUBLE) ELSE 0 END"
                                  for j in items) + ")"
            sp = "(" + " + ".join(f"CASE WHEN {both[j]} THEN CAST(p{j} AS DOUBLE) ELSE 0 END"
                                  for j in items) + ")"
            enough = f"({cnt} >= {needed} AND {cnt} > 0)"
            out[f"dp{d}"] = f"CASE WHEN {enough} THEN {sp} / {cnt} END"
            out[f"dg{d}"] = f"CASE WHEN {enough} THEN ({sp} - {se}) / {cnt} END"
            cp = "(" + " + ".join(f"CAST(p{j} IS NOT NULL AS INTEGER)" for j in items) + ")"
            spp = "(" + " + ".join(f"coalesce(CAST(p{j} AS DOUBLE), 0)" for j in items) + ")"
            out[f"df{d}"] = f"CASE WHEN {cp} >= {needed} AND {cp} > 0 THEN {spp} / {cp} END"
        return out

    def _importance_expressions(self) -> tuple[list[str], dict[str, str]]:
        """Each respondent's importance weights (``wt<d>``, as fractions, NULL when the
        allocation is unusable) and what happened to the allocation, as
        :func:`servqual.stats.scores.importance_weights` decides; and the count columns."""
        inst = self.instrument
        nd = len(inst.dimensions)
        points = [f"imp{d}" if d in self.layout.importance_dims else "0.0" for d in range(nd)]
        total = "(" + " + ".join(points) + ")"
        invalid = "(" + " OR ".join(f"imp{d} IS NULL OR imp{d} < 0"
                                    for d in self.layout.importance_dims) + ")"
        usable = f"(NOT {invalid} AND {total} <> 0)"
        tolerance = _num(inst.analysis.importance_tolerance)
        columns = [f"{invalid} AS imp_invalid", f"(NOT {invalid} AND {total} = 0) AS imp_zero",
                   f"({usable} AND abs({total} - 100) > {tolerance}) AS imp_rescaled",
                   f"{usable} AS imp_used"]
        columns += [f"CASE WHEN {usable} THEN {points[d]} / {total} END AS wt{d}"
                    for d in range(nd)]
        counts = {"respondents": "count(*)", "used": "count(*) FILTER (WHERE imp_used)",
                  "rescaled": "count(*) FILTER (WHERE imp_rescaled)",
                  "all_zero": "count(*) FILTER (WHERE imp_zero)",
                  "missing_or_invalid": "count(*) FILTER (WHERE imp_invalid)"}
        return columns, counts

    def _scores_source(self) -> str:
        """The valid rows with each respondent's dimension scores (``dp<d>``: perception,
        ``dg<d>``: gap, ``df<d>``: SERVPERF) and importance weights (``wt<d>``)."""
        dims = ", ".join(f"{expr} AS {name}"
                         for name, expr in self._dimension_expressions().items())
        sql = f"(SELECT *, {dims} FROM {self._valid()})"
        if self.instrument.has_importance:
            columns, _ = self._importance_expressions()
            sql = f"(SELECT *, {', '.join(columns)} FROM {sql})"
        return sql

    def _score_measures(self) -> list[tuple[str, str, str, str]]:
        """(level, id, measure, SQL over :meth:`_scores_source`) of every per-respondent
        score whose moments are kept (:func:`servqual.stats.scores.overall_blocks`, and
        :func:`servqual.stats.scores.tolerance_blocks` with adequate-service columns)."""
        inst = self.instrument
        keys = inst.dimension_keys
        nd = len(keys)
        avail = " + ".join(f"CAST(df{d} IS NOT NULL AS INTEGER)" for d in range(nd))
        total = " + ".join(f"coalesce(df{d}, 0)" for d in range(nd))
        servperf = f"CASE WHEN ({avail}) > 0 THEN ({total}) / ({avail}) END"
        measures = [("overall", "respondents", "score", "1.0"),
                    ("overall", "servperf", "score", servperf)]
        if inst.has_importance:
            measures += [("dimension", keys[d], "importance", f"wt{d}") for d in range(nd)]

            def weighted_sum(prefix: str) -> str:
                used = [f"({prefix}{d} IS NOT NULL AND wt{d} IS NOT NULL)" for d in range(nd)]
                weights = " + ".join(f"CASE WHEN {u} THEN wt{d} ELSE 0 END"
                                     for d, u in enumerate(used))
                products = " + ".join(f"CASE WHEN {u} THEN {prefix}{d} * wt{d} ELSE 0 END"
                                      for d, u in enumerate(used))
                return f"CASE WHEN ({weights}) > 0 THEN ({products}) / ({weights}) END"

            measures += [("overall", "servqual_weighted", "score", weighted_sum("dg")),
                         ("overall", "servperf_weighted", "score", weighted_sum("df"))]
        criterion = servperf
        if inst.settings.overall_satisfaction:
            criterion = "overall"
            measures.append(("overall", "overall_satisfaction", "score", "overall"))
        for d in range(nd):
            both = f"(dp{d} IS NOT NULL AND ({criterion}) IS NOT NULL)"
            measures += [("dimension", keys[d], "ipa_x", f"CASE WHEN {both} THEN dp{d} END"),
                         ("dimension", keys[d], "ipa_y", f"CASE WHEN {both} THEN {criterion} END"),
                         ("dimension", keys[d], "ipa_xy",
                          f"CASE WHEN {both} THEN dp{d} * ({criterion}) END")]
        if inst.has_adequate:
            measures += self._tolerance_measures()
        return measures

    def _tolerance_measures(self) -> list[tuple[str, str, str, str]]:
        """Zone of tolerance (PZB 1994) of items and dimensions, as .stats.scores computes it."""
        inst = self.instrument
        out = []

        def zone(level: str, ident: str, d: str, p: str, a: str) -> list:
            present = f"({p}) IS NOT NULL"
            below = f"(({p}) < ({a}))"
            above = f"(({p}) > ({d}) AND NOT {below})"

            def indicator(mask: str) -> str:
                return f"CASE WHEN {present} THEN CAST(coalesce({mask}, FALSE) AS DOUBLE) END"

            return [(level, ident, "adequate", a), (level, ident, "msa", f"({p}) - ({a})"),
                    (level, ident, "mss", f"({p}) - ({d})"),
                    (level, ident, "zone_width", f"({d}) - ({a})"),
                    (level, ident, "below_adequate", indicator(below)),
                    (level, ident, "inside_zone",
                     indicator(f"NOT {below} AND NOT coalesce({above}, FALSE)")),
                    (level, ident, "above_desired", indicator(above))]

        complete = {j: f"(e{j} IS NOT NULL AND p{j} IS NOT NULL AND a{j} IS NOT NULL)"
                    for j in range(self.layout.k)}

        def part(battery: str, j: int) -> str:
            return f"CASE WHEN {complete[j]} THEN CAST({battery}{j} AS DOUBLE) END"

        for j, item in enumerate(inst.items):
            out += zone("item", item.id, part("e", j), part("p", j), part("a", j))
        share = inst.analysis.min_item_share
        for d, dim in enumerate(inst.dimensions):
            items = self._items_of(d)
            cnt = "(" + " + ".join(f"CAST({complete[j]} AS INTEGER)" for j in items) + ")"
            enough = f"({cnt} >= {_num(share * len(items) - 1e-9)} AND {cnt} > 0)"

            def mean(battery: str, items=items, enough=enough, cnt=cnt) -> str:
                total = " + ".join(f"coalesce({part(battery, j)}, 0)" for j in items)
                return f"(CASE WHEN {enough} THEN ({total}) / {cnt} END)"

            out += zone("dimension", dim.key, mean("e"), mean("p"), mean("a"))
        return out

    def importance_by_wave(self) -> dict[str, ImportanceCounts]:
        """The importance-allocation counts of each wave (the store keeps them per wave)."""
        if not self.instrument.has_importance:
            return {}
        _, counts = self._importance_expressions()
        sql = (f"SELECT wave, {', '.join(f'{e} AS {n}' for n, e in counts.items())} "
               f"FROM {self._scores_source()} GROUP BY wave")
        return {row[0]: ImportanceCounts(**dict(zip(counts, map(int, row[1:]))))
                for row in self.con.execute(sql).fetchall()}

    def crossproducts(self) -> pd.DataFrame:
        """Per wave, dimension and battery: n, Σx and Σx_a·x_b of the respondents who
        answered every item of the dimension in that battery."""
        inst = self.instrument
        aggs, index, inner = [], [], []
        for battery, kind in (("e", "expectation"), ("p", "perception")):
            for d, dim in enumerate(inst.dimensions):
                items = self._items_of(d)
                complete = " AND ".join(f"{battery}{j} IS NOT NULL" for j in items)
                inner.append(f"{complete} AS c{battery}{d}")
                # Answers of complete respondents only (NULL otherwise), in double precision.
                inner += [f"CASE WHEN {complete} THEN CAST({battery}{j} AS DOUBLE) END "
                          f"AS x{battery}{j}" for j in items]
                aggs.append(f"count(*) FILTER (WHERE c{battery}{d})")
                index.append((kind, dim.key, "n", None, None))
                for j in items:
                    aggs.append(f"sum(x{battery}{j})")
                    index.append((kind, dim.key, "sum", j, None))
                for a in items:
                    for b in items:
                        if b >= a:
                            aggs.append(f"sum(x{battery}{a} * x{battery}{b})")
                            index.append((kind, dim.key, "cross", a, b))
        source = f"(SELECT wave, {', '.join(inner)} FROM {self._valid()})"
        rows = self.con.execute(f"SELECT wave, {', '.join(aggs)} FROM {source} "
                                "GROUP BY wave").fetchall()
        ids = inst.item_ids
        frames = []
        for row in rows:
            wave, values = row[0], row[1:]
            by = {}
            for (kind, dim, what, a, b), v in zip(index, values):
                by.setdefault((kind, dim), {"n": 0, "sum": {}, "cross": {}})
                if what == "n":
                    by[(kind, dim)]["n"] = float(v or 0)
                elif what == "sum":
                    by[(kind, dim)]["sum"][a] = float(v or 0.0)
                else:
                    by[(kind, dim)]["cross"][(a, b)] = by[(kind, dim)]["cross"][(b, a)] = \
                        float(v or 0.0)
            for (kind, dim), t in by.items():
                if not t["n"]:
                    continue
                items = sorted(t["sum"])
                pairs = [(a, b) for a in items for b in items]
                frames.append(pd.DataFrame({
                    "wave": wave, "kind": kind, "id": dim,
                    "a": [ids[a] for a, _ in pairs], "b": [ids[b] for _, b in pairs],
                    "n": t["n"], "sum_a": [t["sum"][a] for a, _ in pairs],
                    "sum_b": [t["sum"][b] for _, b in pairs],
                    "sum_ab": [t["cross"][(a, b)] for a, b in pairs]}))
        if not frames:
            return pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS)
        return pd.concat(frames, ignore_index=True)


def canonical(aggregates: Aggregates, instrument: Instrument) -> Aggregates:
    """The aggregate tables in one fixed order: waves chronologically, the whole sample then
    the segments in the instrument's order and their values alphabetically, items and
    dimensions in the instrument's order.

    DuckDB returns rows in no particular order, and a few results list rows in the order of
    the aggregates (``segment_tests``, ``benchmark``): this keeps them the same run to run.
    """
    waves = {w: n for n, w in enumerate(sort_waves(aggregates.moments["wave"].unique()))}
    segments = {"": 0, **{c: n + 1 for n, c in enumerate(instrument.segments)}}
    ids = {k: n for n, k in enumerate(instrument.dimension_keys + instrument.item_ids)}
    levels = {"item": 0, "dimension": 1, "overall": 2}

    def order(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        if frame.empty:
            return frame.reset_index(drop=True)
        keys = {"wave": lambda c: c.map(waves), "segment": lambda c: c.map(segments),
                "level": lambda c: c.map(levels), "id": lambda c: c.map(ids).fillna(len(ids)),
                "a": lambda c: c.map(ids), "b": lambda c: c.map(ids)}
        sortable = pd.DataFrame({c: keys[c](frame[c]) if c in keys else frame[c]
                                 for c in columns})
        index = sortable.sort_values(columns, kind="stable").index
        return frame.loc[index].reset_index(drop=True)

    return Aggregates(
        moments=order(aggregates.moments, ["wave", "segment", "value", "level", "id",
                                           "measure"]),
        histograms=order(aggregates.histograms, ["wave", "segment", "value", "level", "id",
                                                 "measure", "x"]),
        crossproducts=order(aggregates.crossproducts, ["wave", "kind", "id", "a", "b"]),
        importance=aggregates.importance)


# --------------------------------------------------------------------------------------------
# One call


def check_and_aggregate(paths: Iterable[str | Path], instrument: Instrument, *,
                        progress: ProgressFn | None = None, memory_limit: str | None = None,
                        whole: bool | None = None) -> tuple[Checked, Aggregates, list[str]]:
    """Validate and aggregate survey files with DuckDB: (checked, aggregates, waves)."""
    with Staging(instrument, progress=progress, memory_limit=memory_limit, whole=whole) as st:
        checked = st.add_files([Path(p) for p in paths])
        waves = st.waves()
        aggregates = st.aggregates() if waves else None
    return checked, aggregates, waves
