"""The out-of-core path: DuckDB validates and aggregates survey files, pandas never holds every row.

The in-memory path (:mod:`servqual.validate` then :func:`servqual.stats.aggregate.aggregate`)
keeps every respondent as numpy arrays: fast, but memory grows with the files. Here the rows
go into a DuckDB table instead (which spills to disk beyond its memory limit), and the same
validation verdicts and the same aggregates are computed in SQL; only the small aggregate
tables, the quarantined rows and the row accounting come back to Python.

Steps, for each file:

1. **Read.** Delimited text is parsed by pyarrow with the options of the in-memory reader
   (:mod:`servqual.ingest.text`: delimiter sniffing, encodings, null tokens, header rows,
   unparseable records and their row numbers), so both paths see the same records. Files up
   to :data:`FULL_READ_BYTES` are read whole (fastest; column types as the in-memory reader
   infers them); larger ones are streamed in record batches with every column read as text,
   so memory stays bounded whatever the file's size. Parquet files are streamed by row group.
2. **Stage.** Each batch is projected by one SQL statement into the ``staged`` table: labels
   cleaned as :func:`servqual.validate.text_column` does, answers parsed as numbers, missing
   codes removed, reverse-scored, and every check of :data:`servqual.validate.REASONS` up to
   ``all_missing`` evaluated in its order. Rows with a text cell DuckDB's number cast might
   read differently from pandas (full-width digits, ``1_000``, ``nan`` with spaces, …) are
   staged again from the batch's raw values parsed by :func:`servqual.validate.numeric_column`
   itself.
3. **Duplicates** within the file, then **straight-lining** (when quarantined), then after
   the last file the **duplicates across files** of a wave: the same rules as
   :func:`servqual.validate.find_duplicates`, with the content compared by a hash of the
   parsed answers, segments, weight, importance and overall rating.
4. **Aggregate** the valid rows in SQL (:class:`SqlAggregates`): counts of each (E, P) answer
   pair per item and of each (items paired, ΣE, ΣP) per dimension, sums of the per-respondent
   overall, importance, importance–performance and zone-of-tolerance scores, and the
   cross-products of complete respondents. They are the tables
   :func:`servqual.stats.aggregate.aggregate` builds (tests/test_outofcore.py compares the
   two on the sample and on files made to be awkward).

The quarantined rows keep the file's own values: a file read whole still has them when its
verdicts are final; a streamed file keeps the rows it rejected while staging, and the few rows
found to be duplicates later are recorded with their values as parsed (as cross-file duplicates
are in the in-memory path).

Known differences from the in-memory path, none of which arise with answers on a numeric
scale: a streamed file reads every column as text, so a column of ``true``/``false`` answers
is ``non_numeric`` there rather than 1 and 0; answers that are not exact binary fractions
(steps of 0.1) are summed in double rather than single precision, so their dimension scores
may differ in the last bits. Sums of ratios (dimension scores, weights) are added in parallel
and may differ in the last bit from run to run.
"""

from __future__ import annotations

import codecs
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
import pyarrow.csv as pacsv

from .errors import DataError, InputFileError
from .ingest.text import NULL_TOKENS, SNIFF_BYTES, detect_encoding, sniff_delimiter
from .instrument import Instrument
from .responses import OVERALL_SATISFACTION, RESPONDENT, SOURCE, SOURCE_ROW, WAVE, WEIGHT, \
    importance_column
from .stats.aggregate import CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, Aggregates
from .stats.moments import ALL, KEYS, SUMS, WEIGHTED_SUMS
from .stats.scores import ImportanceCounts
from .validate import QUARANTINE_COLUMNS, REASONS, DataQuality, numeric_column, require_columns
from .waves import sort_waves, wave_from_filename

FULL_READ_BYTES = 1 << 30  # text files up to this size are read whole, larger ones streamed
STREAM_BLOCK = 1 << 24  # bytes of text per streamed batch
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

CODE = {reason: n + 1 for n, reason in enumerate(REASONS)}
PENDING = 255  # staged row with a text cell only pandas can judge (see _resolve_pending)
# Characters str.strip() removes: labels are cleaned exactly as pandas' .str.strip() does.
_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())

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
    """Which staged column holds what, derived from the instrument.

    Numeric fields are read in the instrument's order of checks: answers (expectation,
    perception, adequate batteries, items in order), then the sampling weight, the importance
    points of each dimension that has them, and the overall satisfaction rating.
    """

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
    def answer_columns(self) -> list[str]:
        items = self.instrument.items
        cols = [i.expectation for i in items] + [i.perception for i in items]
        if self.instrument.has_adequate:
            cols += [i.adequate for i in items]
        return cols

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

    def numeric_fields(self) -> list[tuple[str, str]]:
        """(staged name, file column) of every field parsed as a number."""
        fields = list(zip(self.answer_names, self.answer_columns))
        s = self.settings
        if s.sampling_weight:
            fields.append(("weight", s.sampling_weight))
        for d in self.importance_dims:
            fields.append((f"imp{d}", self.instrument.dimensions[d].importance))
        if s.overall_satisfaction:
            fields.append(("overall", s.overall_satisfaction))
        return fields

    def staged_columns(self) -> list[tuple[str, str]]:
        """(name, SQL type) of the staged table."""
        cols = [("file", "INTEGER"), ("ord", "BIGINT"), ("row", "BIGINT"), ("wave", "VARCHAR"),
                ("rid", "VARCHAR"), ("cell", "UBIGINT")]
        cols += [(n, "VARCHAR") for n in self.segment_names]
        if self.settings.sampling_weight:
            cols.append(("weight", "DOUBLE"))
        cols += [(f"imp{d}", "DOUBLE") for d in self.importance_dims]
        if self.settings.overall_satisfaction:
            cols.append(("overall", "DOUBLE"))
        cols += [(n, "FLOAT") for n in self.answer_names]
        cols += [("code", "UTINYINT"), ("bad_col", "VARCHAR"), ("bad_val", "VARCHAR"),
                 ("straight", "BOOLEAN"), ("dup_of", "BIGINT"), ("cross_file", "BOOLEAN")]
        return cols


@dataclass
class _Field:
    """How one numeric field is read from a source batch (SQL expressions)."""

    value: str  # the number (DOUBLE), valid unless ``odd``
    text: str  # the cell as text (for the quarantine's ``value``)
    odd: str  # a text cell DuckDB cannot judge like pandas: parsed later in Python
    bad: str  # a cell that is not a number (only known after parsing)


def _field_from_source(column: str | None, kind: str) -> _Field:
    if column is None or kind == "null":
        return _Field("CAST(NULL AS DOUBLE)", "CAST(NULL AS VARCHAR)", "FALSE", "FALSE")
    c = _q(column)
    if kind == "string":
        cast = f"try_cast({c} AS DOUBLE)"
        # pandas would reject '1_000' and read ' nan' as not a number; DuckDB's cast reads
        # both: such cells, like every cell the cast rejects, are judged by pandas later.
        odd = (f"({c} IS NOT NULL AND ({cast} IS NULL OR isnan({cast}) "
               f"OR contains({c}, '_')))")
        return _Field(cast, c, odd, "FALSE")
    return _Field(f"CAST({c} AS DOUBLE)", f"CAST({c} AS VARCHAR)", "FALSE", "FALSE")


def _field_resolved(name: str) -> _Field:
    """A field of a pending row after pandas parsed it (columns v_, b_, t_)."""
    return _Field(f"v_{name}", f"t_{name}", "FALSE", f"b_{name}")


def _clean(expr: str) -> str:
    """A label as :func:`servqual.validate.text_column` cleans it: stripped, blank → NULL.

    Trimming a set of characters is slow in DuckDB; only labels that start or end with one
    (or are empty) take it.
    """
    x = f"CAST({expr} AS VARCHAR)"
    ws = _lit(_WHITESPACE)
    return (f"CASE WHEN contains({ws}, left({x}, 1)) OR contains({ws}, right({x}, 1)) "
            f"THEN nullif(trim({x}, {ws}), '') ELSE {x} END")


def _any(parts: list[str]) -> str:
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def _first(conditions: list[str], values: list[str]) -> str:
    """The value of the first true condition (NULL if none)."""
    if not conditions:
        return "NULL"
    return "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in zip(conditions, values)) + " END"


def stage_sql(layout: Layout, fields: dict[str, _Field], *, source: str, file: int,
              wave: str, rid: str, segments: list[str], ord_: str, row: str, has_wave: bool,
              has_id: bool) -> str:
    """The SELECT that turns rows of ``source`` into staged rows.

    ``fields`` maps each numeric field's staged name to how it is read; ``wave``, ``rid`` and
    ``segments`` are SQL expressions of the cleaned labels. The checks follow
    :data:`servqual.validate.REASONS` in order; a row with a cell pandas must judge gets the
    code :data:`PENDING` (and is staged again by :meth:`Staging._resolve_pending`). Layered so
    that every value is computed once per row.
    """
    inst = layout.instrument
    s = inst.settings
    lo, hi = float(s.scale_min), float(s.scale_max)
    answers = layout.answer_names
    columns = dict(layout.numeric_fields())
    missing = ", ".join(_num(m) for m in s.missing_codes)
    odd = [f"_o_{n}" for n in fields if fields[n].odd != "FALSE"]
    pending = _any(odd)

    # Layer 1: labels and numbers as read.
    first = [f"{ord_} AS _ord", f"{row} AS _row", f"{wave} AS _wave", f"{rid} AS _rid"]
    first += [f"{expr} AS _s{n}" for n, expr in enumerate(segments)]
    for name, f in fields.items():
        first.append(f"{f.value} AS _v_{name}")
        if f.bad != "FALSE":
            first.append(f"coalesce({f.bad}, FALSE) AS _b_{name}")
        if f.odd != "FALSE":
            first.append(f"{f.odd} AS _o_{name}")

    def bad(n: str) -> str:
        return f"_b_{n}" if fields[n].bad != "FALSE" else "FALSE"

    # Layer 2: answers without missing codes, whether each is out of scale.
    second = []
    for n in answers:
        kept = f"CASE WHEN _v_{n} IN ({missing}) THEN NULL ELSE _v_{n} END" if missing \
            else f"_v_{n}"
        second.append(f"{kept} AS _k_{n}")
    third = [f"coalesce(_k_{n} < {_num(lo)} OR _k_{n} > {_num(hi)}, FALSE) AS _x_{n}"
             for n in answers]
    reverse = {f"{b}{j}" for b in layout.batteries for j, item in enumerate(inst.items)
               if item.reverse}
    third += [f"CAST({_num(lo + hi)} - _k_{n} AS FLOAT) AS _f_{n}" if n in reverse
              else f"CAST(_k_{n} AS FLOAT) AS _f_{n}" for n in answers]

    # Layer 4: the verdict.
    conditions: list[tuple[str, str, str, str]] = []  # (test, reason, column, value)
    if has_wave:
        conditions.append(("_wave IS NULL", "missing_wave", "NULL", "NULL"))
    if has_id:
        conditions.append(("_rid IS NULL", "missing_respondent_id", "NULL", "NULL"))
    nonnum = [bad(n) for n in answers if bad(n) != "FALSE"]
    conditions.append((_any(nonnum), "non_numeric",
                       _first(nonnum, [_lit(columns[n]) for n in answers if bad(n) != "FALSE"]),
                       _first(nonnum, [f"coalesce({fields[n].text}, '')" for n in answers
                                       if bad(n) != "FALSE"])))
    outside = [f"_x_{n}" for n in answers]
    conditions.append((_any(outside), "out_of_scale",
                       _first(outside, [_lit(columns[n]) for n in answers]),
                       _first(outside, [f"coalesce({fields[n].text}, '')" for n in answers])))
    if s.sampling_weight:
        w = fields["weight"]
        column = _lit(s.sampling_weight)
        text = f"coalesce({w.text}, '')"
        conditions.append((bad("weight"), "non_numeric", column, text))
        conditions.append(("coalesce(NOT (_v_weight > 0 AND NOT isinf(_v_weight)), TRUE)",
                           "invalid_weight", column, text))
    conditions.append(("(" + " AND ".join(f"_k_{n} IS NULL" for n in answers) + ")",
                       "all_missing", "NULL", "NULL"))
    conditions = [c for c in conditions if c[0] != "FALSE"]
    code = (f"CASE WHEN {pending} THEN {PENDING} "
            + " ".join(f"WHEN {t} THEN {CODE[r]}" for t, r, _, _ in conditions) + " ELSE 0 END")
    bad_col = (f"CASE WHEN {pending} THEN NULL "
               + " ".join(f"WHEN {t} THEN {c}" for t, _, c, _ in conditions) + " END")
    bad_val = (f"CASE WHEN {pending} THEN NULL "
               + " ".join(f"WHEN {t} THEN {v}" for t, _, _, v in conditions) + " END")

    def flat(battery: str) -> str:
        # One answer throughout: every answered item equals the first answered one (as fast
        # as it is exact; greatest()/least() over many nullable columns is five times slower).
        vals = [f"_f_{battery}{j}" for j in range(layout.k)]
        answered = " + ".join(f"CAST({v} IS NOT NULL AS INTEGER)" for v in vals)
        first = f"coalesce({', '.join(vals)})"
        return (f"(({answered}) >= 3 AND "
                + " AND ".join(f"coalesce({v} = {first}, TRUE)" for v in vals) + ")")

    straight = f"({flat('e')} AND {flat('p')})" if layout.k >= 3 else "FALSE"
    labels = ", ".join(["_wave"] + [f"_s{n}" for n in range(len(segments))])
    last = [f"{file} AS file", "_ord AS ord", "_row AS row", "_wave AS wave", "_rid AS rid",
            f"hash({labels}) AS cell"]
    last += [f"_s{n} AS {name}" for n, name in enumerate(layout.segment_names)]
    if s.sampling_weight:
        last.append("_v_weight AS weight")
    last += [f"_v_imp{d} AS imp{d}" for d in layout.importance_dims]
    if s.overall_satisfaction:
        last.append("_v_overall AS overall")
    last += [f"_f_{n} AS {n}" for n in answers]
    last += [f"{code} AS code", f"{bad_col} AS bad_col", f"{bad_val} AS bad_val",
             f"{straight} AS straight", "CAST(NULL AS BIGINT) AS dup_of",
             "FALSE AS cross_file"]
    return (f"SELECT {', '.join(last)} FROM (SELECT *, {', '.join(third)} FROM "
            f"(SELECT *, {', '.join(second)} FROM (SELECT *, {', '.join(first)} "
            f"FROM {source})))")


# --------------------------------------------------------------------------------------------
# Reading files into Arrow batches


@dataclass
class FileRead:
    """One input file as it is being read."""

    path: Path
    index: int
    columns: list[str] = field(default_factory=list)  # the file's column names, stripped
    kinds: dict[str, str] = field(default_factory=dict)  # column → "string", "number", "null"
    encoding: str | None = None
    whole: pa.Table | None = None  # the file read whole (small files): raw rows for quarantine
    invalid: list[tuple[int | None, str]] = field(default_factory=list)  # unparseable rows
    first_row: int = 2  # spreadsheet row of the first record
    rows_parsed: int = 0  # records that could be split into fields
    rejected_raw: list[pd.DataFrame] = field(default_factory=list)  # streamed: rows rejected
    has_wave_column: bool = False  # the wave comes from a column (else from the file name)
    single_threaded: bool = False  # streamed again single-threaded (unparseable records)
    row_numbers: np.ndarray | None = None  # the reader's own row numbers (other formats)

    @property
    def rows_read(self) -> int:
        return self.rows_parsed + len(self.invalid)


def _arrow_error(err: Exception, encoding: str) -> str:
    text = str(err)
    if "Empty CSV file" in text:
        return "the file is empty"
    if "UTF8" in text or "utf8" in text.lower():
        return f"the file is not valid {encoding} text; name its encoding in the instrument"
    return f"cannot be read as a delimited text file: {text}"


def _kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_null(arrow_type):
        return "null"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) \
            or pa.types.is_boolean(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    return "string"


def check_readable(path: Path) -> None:
    """The checks of :func:`servqual.ingest.read_table` before a file is read."""
    if not path.exists():
        raise InputFileError("file does not exist", file=path)
    if path.is_dir():
        raise InputFileError("is a directory, not a survey file", file=path)
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise InputFileError(f"cannot be read: {err.strerror}", file=path) from err
    from .ingest import READERS

    suffix = path.suffix.lower()
    known = set(TEXT_SUFFIXES) | set(PARQUET_SUFFIXES) | set(READERS)
    if suffix not in known:
        raise DataError(f"unsupported file type {path.suffix or '(none)'!r}; servqual reads "
                        f"{', '.join(sorted(known))}", file=path)


class _CountingFile:
    """A binary file that counts the bytes read (the progress of a streamed read)."""

    def __init__(self, path: Path, on_read: Callable[[int], None]):
        self._fh = path.open("rb")
        self._on_read = on_read
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._on_read(len(data))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._fh.close()
        self.closed = True


def _text_options(path: Path, instrument: Instrument) -> tuple[str, str, list[str]]:
    """(encoding, delimiter, label columns) as :mod:`servqual.ingest.text` decides them."""
    settings = instrument.settings
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES)
    if not sample.strip():
        raise DataError("the file is empty", file=path)
    encoding = detect_encoding(sample, path) if settings.encoding == "auto" else settings.encoding
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise DataError(f"unknown encoding {encoding!r}", file=path, column=None,
                        key="instrument.encoding") from err
    text_sample = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    first_line = text_sample.splitlines()[0] if text_sample else ""
    delimiter = sniff_delimiter(first_line, path.suffix.lower())
    labels = [c for c in (settings.respondent_id, settings.wave, *settings.segments) if c]
    return encoding, delimiter, labels


def read_batches(read: FileRead, instrument: Instrument, progress: ProgressFn,
                 whole: bool | None = None) -> Iterator[pa.Table | pa.RecordBatch]:
    """The records of one file as Arrow tables or batches, in file order (a file read whole
    is one table).

    Sets ``read.columns``, ``read.kinds``, ``read.invalid`` (unparseable records) and
    ``read.whole`` (when read whole) as it goes.
    """
    path = read.path
    size = path.stat().st_size
    if path.suffix.lower() in PARQUET_SUFFIXES:
        yield from _parquet_batches(read, progress, size)
        return
    if path.suffix.lower() not in TEXT_SUFFIXES:
        yield _reader_table(read, instrument, progress, size)
        return
    encoding, delimiter, labels = _text_options(path, instrument)
    read.encoding = encoding
    header_rows = instrument.settings.header_rows
    read.first_row = header_rows + 1
    pyarrow_encoding = "utf8" if codecs.lookup(encoding).name == "utf-8" else encoding
    if whole is None:
        whole = size <= FULL_READ_BYTES

    def on_invalid(row) -> str:
        read.invalid.append((row.number, row.text))
        return "skip"

    def options(threads: bool, types: dict[str, pa.DataType]):
        return dict(
            read_options=pacsv.ReadOptions(
                use_threads=threads, encoding=pyarrow_encoding,
                skip_rows_after_names=header_rows - 1,
                block_size=(1 << 24) if whole else STREAM_BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=NULL_TOKENS, strings_can_be_null=True,
                quoted_strings_can_be_null=True))

    try:
        if whole:
            # As servqual.ingest.text: multi-threaded, and again single-threaded when a record
            # is unparseable (only then are the row numbers known).
            table = pacsv.read_csv(path, **options(True, {c: pa.string() for c in labels}))
            if read.invalid:
                read.invalid.clear()
                table = pacsv.read_csv(path, **options(False, {c: pa.string() for c in labels}))
            progress(f"reading {path.name} (MB)", size / 1e6, size / 1e6)
            read.columns = [str(c).strip() for c in table.column_names]
            read.kinds = {c: _kind(t) for c, t in zip(read.columns, table.schema.types)}
            table = table.rename_columns(read.columns)
            read.whole = table
            read.rows_parsed = table.num_rows
            yield table
            return
        # Streamed: every column as text, so a later batch cannot contradict the types the
        # first one suggested.
        names = pacsv.open_csv(path, **options(True, {})).schema.names
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            progress(f"reading {path.name} (MB)", min(done[0], size) / 1e6, size / 1e6)

        threads = not read.single_threaded
        fh = _CountingFile(path, advance)
        try:
            reader = pacsv.open_csv(fh, **options(threads, {c: pa.string() for c in names}))
            read.columns = [str(c).strip() for c in reader.schema.names]
            read.kinds = dict.fromkeys(read.columns, "string")
            for batch in reader:
                if threads and any(n is None for n, _ in read.invalid):
                    raise _Restart()  # row numbers need a single-threaded read
                read.rows_parsed += batch.num_rows
                yield batch.rename_columns(read.columns)
            if threads and any(n is None for n, _ in read.invalid):
                raise _Restart()
        finally:
            fh.close()
    except pa.ArrowInvalid as err:
        raise DataError(_arrow_error(err, encoding), file=path) from err
    except UnicodeDecodeError as err:
        raise DataError(f"cannot be decoded as {encoding}: {err.reason} at byte {err.start}; "
                        "name the right encoding in the instrument", file=path) from err


class _Restart(Exception):
    """A streamed text file must be staged again, single-threaded (unparseable records)."""


def _parquet_batches(read: FileRead, progress: ProgressFn, size: int
                     ) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(read.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"cannot be read as a Parquet file: {err}", file=read.path) from err
    read.first_row = 1  # no header row: rows are numbered from 1
    read.columns = [str(c).strip() for c in pf.schema_arrow.names]
    read.kinds = {c: _kind(t) for c, t in zip(read.columns, pf.schema_arrow.types)}
    groups = pf.num_row_groups
    for g in range(groups):
        table = pf.read_row_group(g)
        read.rows_parsed += table.num_rows
        progress(f"reading {read.path.name} (MB)", size * (g + 1) / groups / 1e6, size / 1e6)
        yield table.rename_columns(read.columns)


def _reader_table(read: FileRead, instrument: Instrument, progress: ProgressFn,
                  size: int) -> pa.Table:
    """A file of another format (a spreadsheet, say), read whole by servqual's own reader
    (:func:`servqual.ingest.read_table`), as one Arrow table with the reader's row numbers."""
    from .ingest import read_table

    raw = read_table(read.path, instrument)
    read.encoding = raw.encoding
    read.columns = [str(c) for c in raw.frame.columns]
    frame = raw.frame.set_axis([f"c{j}" for j in range(len(read.columns))], axis=1)
    table = pa.Table.from_pandas(frame, preserve_index=False).rename_columns(read.columns)
    read.kinds = {c: _kind(t) for c, t in zip(read.columns, table.schema.types)}
    read.invalid = [(int(n) if n >= 0 else None, t) for n, t in
                    zip(raw.unparseable["source_row"], raw.unparseable["text"])]
    read.row_numbers = np.asarray(raw.source_rows, dtype=np.int64)
    read.rows_parsed = table.num_rows
    read.whole = table
    progress(f"reading {read.path.name} (MB)", size / 1e6, size / 1e6)
    return table


def source_rows(read: FileRead, ords: np.ndarray) -> np.ndarray:
    """Spreadsheet row numbers of parsed records (ordinals 0, 1, …), as the reader numbers
    them: records count from the first data row, unparseable records keep their own number."""
    if read.row_numbers is not None:
        return read.row_numbers[ords]
    bad = np.sort(np.array([n for n, _ in read.invalid if n is not None], dtype=np.int64))
    first = read.first_row
    before = bad - first - np.arange(len(bad))  # parsed records before each unparseable one
    return first + ords + np.searchsorted(before, ords, side="right")


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
        rows = self.quarantine[self.quarantine[SOURCE] == file]
        own = [c for c in _renamed(self.columns.get(file, [])) if c in rows.columns]
        return rows[QUARANTINE_COLUMNS + own].reset_index(drop=True)


def _renamed(columns) -> list[str]:
    """Original column names, renamed where they clash with the quarantine's own columns
    (as :mod:`servqual.validate` does)."""
    return [f"{c} (original)" if c in QUARANTINE_COLUMNS else c for c in columns]


def _types_mapper(arrow_type: pa.DataType):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    return None


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
        self._tmp = None
        if con is None:
            self._tmp = tempfile.mkdtemp(prefix="servqual-duckdb-")
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
        single = False
        while True:
            read = FileRead(path=path, index=len(self.files), single_threaded=single)
            try:
                self._stage(read)
                break
            except _Restart:
                self.con.execute(f"DELETE FROM staged WHERE file = {read.index}").fetchall()
                single = True
        self.files.append(read)
        self._duplicates(read)
        quality = self._file_quality(read)
        self.quarantines.append(self._file_quarantine(read))
        read.whole = None  # the raw rows are no longer needed
        read.rejected_raw = []
        _merge(self.quality, quality)

    def _stage(self, read: FileRead) -> None:
        inst = self.instrument
        batches = read_batches(read, inst, self.progress, self.whole)
        offset = 0
        sql = None
        for batch in batches:
            if sql is None:
                require_columns(pd.DataFrame(columns=read.columns), inst, read.path)
                sql = self._stage_sql(read)
            n = batch.num_rows
            ords = np.arange(offset, offset + n, dtype=np.int64)
            rows = source_rows(read, ords)
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            table = table.rename_columns([f"c{j}" for j in range(batch.num_columns)])
            table = table.append_column("__ord", pa.array(ords)).append_column(
                "__row", pa.array(rows))
            self.con.register("src", table)
            try:
                self.con.execute(sql).fetchall()
            finally:
                self.con.unregister("src")
            raw = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            self._resolve_pending(read, raw, offset)
            if read.whole is None:  # streamed: keep the raw rows rejected while staging
                rejected = self.con.execute(
                    f"SELECT ord FROM staged WHERE file = {read.index} AND ord >= {offset} "
                    f"AND ord < {offset + n} AND code <> 0").fetchnumpy()["ord"]
                if len(rejected):
                    frame = raw.take(pa.array(rejected - offset)).to_pandas(
                        types_mapper=_types_mapper)
                    frame.index = rejected
                    read.rejected_raw.append(frame)
            offset += n
        if sql is None:  # a header and no records
            require_columns(pd.DataFrame(columns=read.columns), inst, read.path)

    def _stage_sql(self, read: FileRead) -> str:
        inst = self.instrument
        s = inst.settings
        position = {c: j for j, c in enumerate(read.columns)}

        def col(name: str) -> str | None:
            return f"c{position[name]}" if name in position else None

        fields = {}
        for name, column in self.layout.numeric_fields():
            c = col(column)
            fields[name] = _field_from_source(c, read.kinds.get(column, "null"))
        has_wave = bool(s.wave) and s.wave in position
        wave = _clean(col(s.wave)) if has_wave else _lit(wave_from_filename(read.path))
        has_id = bool(s.respondent_id)
        rid = _clean(col(s.respondent_id)) if has_id else "CAST(__row AS VARCHAR)"
        segments = [_clean(col(seg)) for seg in s.segments]
        read.has_wave_column = has_wave
        select = stage_sql(self.layout, fields, source="src", file=read.index, wave=wave,
                           rid=rid, segments=segments, ord_="__ord", row="__row",
                           has_wave=has_wave, has_id=has_id)
        return f"INSERT INTO staged BY NAME {select}"

    def _resolve_pending(self, read: FileRead, raw: pa.Table, offset: int) -> None:
        """Rows of a batch with a text cell DuckDB cannot judge like pandas: parse their
        numeric fields with :func:`servqual.validate.numeric_column`, from the batch's raw
        values, and stage them again."""
        layout = self.layout
        labels = ["ord", "row", "wave", "rid"] + layout.segment_names
        pending = self.con.execute(
            f"SELECT {', '.join(labels)} FROM staged WHERE file = {read.index} "
            f"AND ord >= {offset} AND ord < {offset + raw.num_rows} AND code = {PENDING} "
            "ORDER BY ord").df()
        if pending.empty:
            return
        rows = raw.take(pa.array(pending["ord"].to_numpy(dtype=np.int64) - offset))
        position = {c: j for j, c in enumerate(read.columns)}
        data = {c: pending[c] for c in labels}
        for name, column in layout.numeric_fields():
            if column not in position:
                values, bad = np.full(len(pending), np.nan), np.zeros(len(pending), dtype=bool)
                text = pd.Series([None] * len(pending), dtype="string")
            else:
                series = rows.column(position[column]).to_pandas(types_mapper=_types_mapper)
                text = series.astype("string")  # as the quarantine shows a value
                if read.kinds.get(column) == "string":
                    values, bad = numeric_column(text)
                else:
                    values = series.to_numpy(dtype=float, na_value=np.nan)
                    bad = np.zeros(len(series), dtype=bool)
            data[f"v_{name}"] = values
            data[f"b_{name}"] = bad
            data[f"t_{name}"] = text.astype(object).where(text.notna(), None).to_numpy()
        resolved = {name: _field_resolved(name) for name, _ in layout.numeric_fields()}
        select = stage_sql(
            layout, resolved, source="fixed", file=read.index, wave="wave", rid="rid",
            segments=layout.segment_names, ord_="ord", row="row",
            has_wave=read.has_wave_column, has_id=bool(self.instrument.settings.respondent_id))
        self.con.register("fixed", pd.DataFrame(data))
        try:
            self.con.execute(f"DELETE FROM staged WHERE file = {read.index} AND ord >= {offset} "
                             f"AND ord < {offset + raw.num_rows} AND code = {PENDING}"
                             ).fetchall()
            self.con.execute(f"INSERT INTO staged BY NAME {select}").fetchall()
        finally:
            self.con.unregister("fixed")

    def _content_hash(self) -> str:
        layout = self.layout
        parts = layout.answer_names + layout.segment_names
        s = self.instrument.settings
        if s.sampling_weight:
            parts.append("weight")
        parts += [f"imp{d}" for d in layout.importance_dims]
        if s.overall_satisfaction:
            parts.append("overall")
        return f"hash({', '.join(parts)})"

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
        before = self._count("code = 0")
        self._mark_duplicates(f"code = 0 AND wave IN ({waves})", "g.file, g.ord", cross=True)
        moved = before - self._count("code = 0")
        if moved:
            frame = self._as_parsed()
            self.quarantines.append(frame)
            self.quality.rows_valid -= moved
            self.quality.add_rejected(frame["reason"])

    def _count(self, where: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM staged WHERE {where}").fetchall()[0][0])

    def _file_quality(self, read: FileRead) -> DataQuality:
        counts = dict(self.con.execute(
            f"SELECT code, count(*) FROM staged WHERE file = {read.index} GROUP BY code"
        ).fetchall())
        straight = self._count(f"file = {read.index} AND code = 0 AND straight")
        quality = DataQuality(rows_read=read.rows_read)
        quality.rows_valid = int(counts.get(0, 0))
        quality.straightlining = straight
        for code, n in counts.items():
            if code:
                quality.quarantine_reasons[REASONS[code - 1]] += int(n)
                quality.rows_quarantined += int(n)
        quality.quarantine_reasons["unparseable"] += len(read.invalid)
        quality.rows_quarantined += len(read.invalid)
        quality.files.append({"file": str(read.path), "encoding": read.encoding,
                              "rows_read": read.rows_read})
        quality.check()
        return quality

    def _file_quarantine(self, read: FileRead) -> pd.DataFrame:
        rows = self.con.execute(
            f"SELECT ord, row, code, bad_col, bad_val, dup_of, wave FROM staged "
            f"WHERE file = {read.index} AND code <> 0 ORDER BY ord").df()
        unlabelled = None if read.has_wave_column else wave_from_filename(read.path)
        self._quarantine_waves.append(np.concatenate([
            rows["wave"].astype(object).where(rows["wave"].notna(), None).to_numpy(),
            np.full(len(read.invalid), unlabelled, dtype=object)]))
        q = pd.DataFrame({
            SOURCE: str(read.path),
            SOURCE_ROW: rows["row"].to_numpy(dtype=np.int64),
            "reason": np.array(REASONS, dtype=object)[rows["code"].to_numpy(dtype=int) - 1]
            if len(rows) else np.array([], dtype=object),
            "column": rows["bad_col"].fillna("").to_numpy(dtype=object),
            "value": rows["bad_val"].fillna("").to_numpy(dtype=object),
            "duplicate_of": pd.array(rows["dup_of"], dtype="Int64"),
        })
        if read.invalid:
            q = pd.concat([q, pd.DataFrame({
                SOURCE: str(read.path),
                SOURCE_ROW: pd.Series([n if n is not None else -1 for n, _ in read.invalid],
                                      dtype="int64"),
                "reason": "unparseable", "column": "",
                "value": pd.Series([t for _, t in read.invalid], dtype="object"),
            })], ignore_index=True)
        raw = self._raw_rows(read, rows["ord"].to_numpy(dtype=np.int64))
        raw = raw.reindex(range(len(q))) if len(raw) < len(q) else raw
        raw.columns = _renamed(raw.columns)
        return pd.concat([q, raw.reset_index(drop=True)], axis=1)

    def _raw_rows(self, read: FileRead, ords: np.ndarray) -> pd.DataFrame:
        """The file's own values of the rows ``ords`` (as parsed where they are gone)."""
        if read.whole is not None:
            table = read.whole.take(pa.array(ords)) if len(ords) else read.whole.slice(0, 0)
            return table.to_pandas(types_mapper=_types_mapper).reset_index(drop=True)
        empty = pd.DataFrame({c: pd.Series([], dtype="string") for c in read.columns})
        kept = pd.concat([empty] + read.rejected_raw) if read.rejected_raw else empty
        kept = kept[~kept.index.duplicated(keep="last")]
        missing = np.setdiff1d(ords, kept.index.to_numpy())
        if len(missing):
            kept = pd.concat([kept, self._parsed_rows(read.index, missing, read.columns)])
        return kept.reindex(ords).reset_index(drop=True)

    def _parsed_rows(self, file: int, ords: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """Rows as parsed, under the instrument's column names (rows whose raw values are
        gone: duplicates found after a streamed file was staged)."""
        frame = self._parsed(f"file = {file} AND ord IN ({', '.join(map(str, ords))})")
        frame.index = frame.pop("__ord").to_numpy()
        return frame[[c for c in frame.columns if c in columns]].astype("string")

    def _parsed(self, where: str) -> pd.DataFrame:
        """Staged rows in the file's column names, values as parsed (reverse-scored)."""
        inst = self.instrument
        s = inst.settings
        layout = self.layout
        select = ["ord AS __ord"]
        if s.respondent_id:
            select.append(f"rid AS {_q(s.respondent_id)}")
        select.append(f"wave AS {_q(s.wave or WAVE)}")
        for name, seg in zip(layout.segment_names, layout.segments):
            select.append(f"{name} AS {_q(seg)}")
        for name, column in layout.numeric_fields():
            if name in layout.answer_names:
                select.append(f"{name} AS {_q(column)}")
            elif name == "weight":
                select.append(f"weight AS {_q(column)}")
            elif name.startswith("imp"):
                select.append(f"{name} AS {_q(column)}")
            elif name == "overall":
                select.append(f"overall AS {_q(column)}")
        return self.con.execute(f"SELECT {', '.join(select)} FROM staged WHERE {where} "
                                "ORDER BY file, ord").df()

    def _as_parsed(self) -> pd.DataFrame:
        """Quarantine rows of the duplicates across files (values as parsed, as
        :func:`servqual.validate.validate` records them)."""
        meta = self.con.execute(
            "SELECT file, row, code, dup_of, wave FROM staged WHERE cross_file "
            "ORDER BY file, ord").df()
        self._quarantine_waves.append(meta["wave"].to_numpy(dtype=object))
        paths = [str(f.path) for f in self.files]
        frame = pd.DataFrame({
            SOURCE: [paths[i] for i in meta["file"]],
            SOURCE_ROW: meta["row"].to_numpy(dtype=np.int64),
            "reason": np.array(REASONS, dtype=object)[meta["code"].to_numpy(dtype=int) - 1],
            "column": "", "value": "",
            "duplicate_of": pd.array(meta["dup_of"], dtype="Int64"),
        })
        values = self._parsed("cross_file").drop(columns="__ord")
        return pd.concat([frame, values.reset_index(drop=True)], axis=1)

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
        return quality_by_wave(self.con, self.layout, self.files, self.quality)

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


def _merge(total: DataQuality, part: DataQuality) -> None:
    """As :func:`servqual.validate._merge_quality`: add one file's accounting."""
    total.rows_read += part.rows_read
    total.rows_valid += part.rows_valid
    total.rows_quarantined += part.rows_quarantined
    for reason, count in part.quarantine_reasons.items():
        total.quarantine_reasons[reason] += count
    total.answers_missing += part.answers_missing
    total.straightlining += part.straightlining
    for f in part.files:
        total.files.append({**f, "rows_valid": part.rows_valid,
                            "rows_quarantined": part.rows_quarantined})


def quality_by_wave(con, layout: Layout, files: list[FileRead], total: DataQuality
                 ) -> dict[str | None, DataQuality]:
    """Row accounting of each wave: the valid and quarantined rows that carry its label.

    Unparseable records belong to the wave of their file when the file has no wave column
    (the wave is the file name); otherwise, like rows with a blank wave, to none (key None).
    """
    from .pipeline import add_quality

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
            q.answers_missing += int(missing)
        else:
            q.rows_quarantined += n
            q.quarantine_reasons[REASONS[code - 1]] += n
        q.straightlining += int(straight)
    for f in files:
        if f.invalid:
            wave = None if f.has_wave_column else wave_from_filename(f.path)
            q = get(wave, f.index)
            q.rows_read += len(f.invalid)
            q.rows_quarantined += len(f.invalid)
            q.quarantine_reasons["unparseable"] += len(f.invalid)
    for (wave, file), q in sorted(per_file.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        entry = {"file": str(files[file].path), "encoding": files[file].encoding,
                 "rows_read": q.rows_read, "rows_valid": q.rows_valid,
                 "rows_quarantined": q.rows_quarantined}
        q.files.append(entry)
        add_quality(out.setdefault(wave, DataQuality()), q)
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
