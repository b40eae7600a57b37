"""Validate: every input row is either analysed or quarantined with one reason.

Checks are vectorised over the whole table, column by column. Each rejected row gets exactly
one reason code, the first that applies in the order of :data:`REASONS`, plus the offending
column and value where there is one, and the row number of the first copy for duplicates.
The invariant ``rows_read == rows_valid + rows_quarantined`` holds per file and overall.

A *row* is an input row. In a wide file it is one respondent; in a long file (one row per
respondent × item) a respondent's rows are checked one by one, then reassembled into one
respondent: a bad row is quarantined alone, the respondent's other rows still count.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import rowchecks
from .celltext import quoted
from .errors import DataError
from .ingest import RawTable
from .ingest.long import assemble, item_positions, respondents
from .ingest.table import match_key
from .instrument import Instrument
from .quarantine import QUARANTINE_COLUMNS
from .responses import (ANSWER_DTYPE, OVERALL_SATISFACTION, RESPONDENT, SOURCE, SOURCE_ROW,
                        WAVE, WEIGHT, Responses, importance_column)
from .value_segments import derive_value_segment
from .waves import wave_from_filename

# Reason codes, in the order they are checked. The meaning of each is documented in the
# README and explained in the report (reports/locale); the codes themselves are stable.
REASONS = (
    "unparseable",            # the record could not be split into the header's columns
    "missing_wave",           # the instrument's wave column is blank in this row
    "missing_respondent_id",  # the instrument's respondent id column is blank in this row
    "unknown_item",           # long layout: the item column names no item of the instrument
    "non_numeric",            # an answer (or weight) is text that is not a number
    "out_of_scale",           # an answer lies outside scale_min..scale_max
    "invalid_weight",         # the sampling weight is missing, negative or zero
    "all_missing",            # not a single item answered
    "duplicate_conflict",     # the same respondent id twice with different answers: all copies
    "duplicate_respondent",   # a later exact copy of an earlier row (same id, same answers)
    "straightlining",         # same answer throughout (only when the instrument asks to quarantine)
)
_CODE = {r: n + 1 for n, r in enumerate(REASONS)}

# A number as people type it: sign, digits, decimal point, exponent (after NFKC, so
# full-width digits count); "inf" too, as pyarrow reads it in a column of numbers.
_NUMBER = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?))$"
# Up to this many dropped rows, valid rows are compacted block by block (see _compact).
_FEW_DROPPED = 1000
# Rows read to tell whether the file's header fits header_rows.
_HEADER_LOOKAHEAD = 20
# Long layout: which input row of a respondent each valid row was (see Validated).
_RESPONDENT, _ITEM = "respondent", "item"


@dataclass
class DataQuality:
    """Row accounting of a run (the JSON ``data_quality`` object).

    ``rows_*`` count input rows; ``respondents_valid`` counts the respondents analysed (the
    same as ``rows_valid`` for wide files; fewer for long files, with a row per item).
    """

    rows_read: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    answers_missing: int = 0
    straightlining: int = 0
    respondents_valid: int = 0
    files: list[dict] = field(default_factory=list)

    def add_rejected(self, reasons: pd.Series) -> None:
        for reason, count in reasons.value_counts().items():
            self.quarantine_reasons[str(reason)] += int(count)
        self.rows_quarantined += len(reasons)

    def check(self) -> None:
        if self.rows_read != self.rows_valid + self.rows_quarantined:
            raise RuntimeError(f"row accounting broken: {self.rows_read} read, {self.rows_valid} "
                               f"valid, {self.rows_quarantined} quarantined")
        if sum(self.quarantine_reasons.values()) != self.rows_quarantined:
            raise RuntimeError("quarantine reasons do not add up to the quarantined rows")

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "answers_missing": self.answers_missing,
            "straightlining": self.straightlining,
            "respondents_valid": self.respondents_valid,
            "files": list(self.files),
        }


@dataclass
class Validated:
    responses: Responses
    quarantine: pd.DataFrame  # every rejected row: QUARANTINE_COLUMNS, then the file's columns
    quality: DataQuality
    columns: dict[str, list[str]] = field(default_factory=dict)  # each file's own columns

    def quarantine_of(self, file: str) -> pd.DataFrame:
        """The rejected rows of one input file, with that file's columns only."""
        return quarantine_of(self.quarantine, self.columns, file)


def quarantine_of(quarantine: pd.DataFrame, columns: dict[str, list[str]], file: str
                  ) -> pd.DataFrame:
    """The rejected rows of one input file, with that file's columns (``columns[file]``) only."""
    rows = quarantine[quarantine[SOURCE] == file]
    own = [c for c in _renamed(columns.get(file, [])) if c in rows.columns]
    return rows[QUARANTINE_COLUMNS + own].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Columns and header


def resolve_columns(raw: RawTable, instrument: Instrument) -> pd.DataFrame:
    """The table with each column the instrument names found, under the instrument's name.

    A column is found by its exact name, else by its name compared without regard to case,
    Unicode width and runs of whitespace (long question texts wrap differently in every
    export). A missing column is an error naming the closest existing one.
    """
    frame, path = raw.frame, raw.path
    names = [str(c) for c in frame.columns]
    exact = Counter(names)
    by_key: dict[str, list[int]] = defaultdict(list)
    for position, name in enumerate(names):
        by_key[match_key(name)].append(position)
    wanted = [(c, k, True) for c, k in instrument.required_columns()]
    if instrument.settings.wave:  # optional: the file name stem names the wave without it
        wanted.append((instrument.settings.wave, "instrument.wave", False))
    renames: dict[int, str] = {}
    for column, key, required in wanted:
        if exact[column] == 1:
            continue
        hits = [names[p] for p in by_key.get(match_key(column), [])]
        if exact[column] > 1 or len(hits) > 1:
            raise DataError("the header names this column more than once; which one holds the "
                            "answers is ambiguous", file=path, row=raw.header_row, column=column)
        if hits:
            renames[by_key[match_key(column)][0]] = column
        elif required:
            close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
            hint = f"; closest existing column: {quoted(close[0])}" if close else ""
            raise DataError(f"column named by {key} is not in the file{hint}",
                            file=path, row=raw.header_row, column=column)
    if not renames:
        return frame
    return frame.set_axis([renames.get(p, n) for p, n in enumerate(names)], axis=1)


def check_header(raw: RawTable, frame: pd.DataFrame, answer_columns: list[str],
                 instrument: Instrument) -> None:
    """The header must fit ``header_rows``: no answers in a header row, no header in the data.

    A header row that holds numbers in every answered answer column means the file has fewer
    header rows than the instrument says (its data would be skipped); leading data rows with
    text in every answer column, before rows with numbers, mean it has more (a Qualtrics
    export read with ``header_rows = 1``). Either is an error suggesting the right number.
    """
    declared = instrument.settings.header_rows
    header = raw.header.set_axis(frame.columns, axis=1) if len(raw.header) else raw.header
    for i in range(len(header)):
        cells = header.iloc[[i]]
        values, text = _parsed(cells, answer_columns)
        if not text.any() and not np.isnan(values).all():
            column = answer_columns[int(np.argmax(~np.isnan(values[0])))]
            raise DataError(
                f"this is header row {i + 2} of header_rows = {declared}, but it holds answers "
                f"(column {column!r}: {quoted(cells[column].iloc[0])}); the file seems to have "
                f"{i + 1} header row(s): set header_rows = {i + 1}",
                file=raw.path, row=raw.header_row + 1 + i, key="instrument.header_rows")
    head = frame.head(_HEADER_LOOKAHEAD)
    if len(answer_columns) < 2 or not len(head):
        return
    values, text = _parsed(head, answer_columns)
    textual = text.all(axis=1)
    leading = int(np.argmin(textual)) if not textual.all() else len(textual)
    if 0 < leading < len(textual) and (~np.isnan(values[leading:])).any():
        column = answer_columns[0]
        raise DataError(
            f"this row looks like another header row, not answers (column {column!r}: "
            f"{quoted(head[column].iloc[0])}); the file seems to have {declared + leading} header "
            f"rows: set header_rows = {declared + leading}",
            file=raw.path, row=int(raw.source_rows[0]), key="instrument.header_rows")


def _parsed(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers (NaN when blank or text) and a mask of text cells, one column per column."""
    parsed = [numeric_column(frame[c]) for c in columns]
    return (np.column_stack([v for v, _ in parsed]), np.column_stack([b for _, b in parsed]))


# --------------------------------------------------------------------------------------------
# Cells: numbers and labels, through Arrow compute kernels


def _arrow(series: pd.Series) -> pa.ChunkedArray:
    """The column as an Arrow array: zero-copy when it is Arrow-backed already."""
    if series.dtype == object:
        series = series.astype("string")
    array = series.array.__arrow_array__() if hasattr(series.array, "__arrow_array__") else (
        pa.array(series.to_numpy(), from_pandas=True))
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _encoded(array: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes of a column (-1 where missing) and its distinct values, from Arrow's
    hash kernel (several times faster than pandas' factorize of Arrow strings), or as read
    (a dictionary column: each chunk its own dictionary until unified)."""
    if pa.types.is_dictionary(array.type):
        encoded = array.unify_dictionaries()
    else:
        encoded = pc.dictionary_encode(array)
    if not encoded.num_chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], array.type)
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False)
                            for c in encoded.chunks]).astype(np.int64)
    return codes, encoded.chunks[-1].dictionary  # chunks share one dictionary


def _codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes of a text column (-1 where missing) and its distinct values."""
    codes, dictionary = _encoded(_arrow(series))
    return codes, dictionary.to_pylist()


def _categorical(series: pd.Series, blank: str | None = None) -> pd.Categorical:
    """A label column (segment, wave) as categories of stripped text, as :func:`text_column`
    would give; blank cells are missing, or ``blank`` when given.

    The column is dictionary-encoded as read and only its few distinct values are cleaned,
    which saves cleaning a million copies of "East".
    """
    codes, values = _codes(series)
    labels = text_column(pd.Series(values if values else [], dtype=None if values else "string"))
    if blank is not None:
        labels = labels.fillna(blank)
        if (codes < 0).any():  # empty cells: the last slot of the lookup below
            labels = pd.concat([labels, pd.Series([blank], dtype=labels.dtype)],
                               ignore_index=True)
    known = labels.notna().to_numpy()
    categories, remap = np.unique(labels[known].to_numpy(dtype=object).astype(str),
                                  return_inverse=True)
    lookup = np.full(len(values) + 1, -1, dtype=np.int64)  # the last slot: missing cells
    lookup[np.flatnonzero(known)] = remap
    return pd.Categorical.from_codes(lookup[codes], categories=list(categories))


def _text(array: pa.ChunkedArray, normalize: bool) -> pa.ChunkedArray:
    """Cells as text without surrounding whitespace (NFKC-normalised when asked)."""
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.large_string()))
    if normalize and not pc.all(pc.string_is_ascii(text)).as_py():
        text = pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFKC"))
    return text


@dataclass(frozen=True)
class AnswerScale:
    """The answers a column may hold: ``lo..hi`` and the missing codes.

    Answers are kept as float32 (:data:`~servqual.responses.ANSWER_DTYPE`), and the cast can
    move a value the file holds outside the scale onto an accepted one: ``1e-320`` becomes
    0, a missing code, and ``7.00000001`` becomes 7. Such a value is an answer out of scale,
    and :meth:`rounded_in` finds it.
    """

    lo: float
    hi: float
    codes: tuple[float, ...]

    def accepts(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            inside = (values >= self.lo) & (values <= self.hi)
        return inside | np.isin(values, self.codes)

    def rounded_in(self, exact: np.ndarray) -> np.ndarray:
        """Values (float64) accepted only once cast to the answers' float32."""
        with np.errstate(over="ignore"):
            near = exact.astype(ANSWER_DTYPE)
        return self.accepts(near) & ~self.accepts(exact)


def _fill(out: np.ndarray, array: pa.ChunkedArray, scale: AnswerScale | None = None) -> None:
    """Write numbers (integer or floating Arrow arrays) into ``out`` in its dtype, nulls NaN.

    Reads each chunk's value buffer in place and converts while copying: one pass over the
    data, no temporary array. With a ``scale``, a floating value the cast to ``out``'s dtype
    would move into the scale or onto a missing code is written as infinity (out of scale;
    see :class:`AnswerScale`). Whole numbers cannot move so, and are not looked at.
    """
    position = 0
    for chunk in array.chunks:
        n = len(chunk)
        if not n:
            continue
        target = out[position:position + n]
        validity, data = chunk.buffers()[:2]
        dtype = np.dtype(chunk.type.to_pandas_dtype())
        source = np.frombuffer(data, dtype=dtype)[chunk.offset:chunk.offset + n]
        with np.errstate(over="ignore"):  # beyond float32: infinite, so out of scale
            target[:] = source
        if scale is not None and dtype.kind == "f" and out.dtype != dtype:
            target[scale.rounded_in(source)] = np.inf
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            target[bits[chunk.offset:chunk.offset + n] == 0] = np.nan
        position += n


def numbers_into(series: pd.Series, out: np.ndarray, scale: AnswerScale | None = None
                 ) -> np.ndarray:
    """Parse a column of answers into ``out`` (NaN when blank); return the mask of cells that
    hold text that is not a number (booleans and dates included). With a ``scale``, values
    outside it that ``out``'s dtype would round into it are written as infinity."""
    array = _arrow(series)
    kind = array.type
    none = np.zeros(len(series), dtype=bool)
    if pa.types.is_null(kind):
        out[:] = np.nan
        return none
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        _fill(out, pc.cast(array, pa.float64()) if pa.types.is_decimal(kind) else array, scale)
        return none
    # Each distinct text is parsed once: a column of answers holds a handful of them, where
    # matching a million cells against the number pattern took 58 ms per column.
    codes, distinct = _encoded(array)
    text = _text(pa.chunked_array([distinct]), normalize=True)
    number = pc.match_substring_regex(text, _NUMBER)
    parsed = np.empty(len(distinct) + 1)  # the last slot: blank cells
    _fill(parsed[:-1], pc.cast(pc.if_else(number, text, pa.scalar(None, pa.large_string())),
                               pa.float64()))
    parsed[-1] = np.nan
    if scale is not None and out.dtype != parsed.dtype:
        parsed[scale.rounded_in(parsed)] = np.inf
    bad = pc.fill_null(pc.and_(pc.invert(number), pc.not_equal(text, "")), False)
    bad = np.append(bad.to_numpy(zero_copy_only=False), False)
    with np.errstate(over="ignore"):  # beyond float32: infinite, so out of scale
        out[:] = parsed[codes]
    return bad[codes]


def numeric_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN when blank) and a mask of cells holding non-numeric text."""
    values = np.empty(len(series))
    return values, numbers_into(series, values)


def text_column(series: pd.Series) -> pd.Series:
    """Labels (ids, waves, segment values) as stripped text; blank becomes missing.

    Whole numbers read as floats (Excel, SPSS) are written without '.0': 3.0 is the label "3".
    """
    text = _text(_arrow(series), normalize=False)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
    return pd.Series(pd.arrays.ArrowStringArray(text), index=series.index)


def _ids(series: pd.Series) -> tuple[pd.arrays.ArrowStringArray, np.ndarray]:
    """Respondent ids as :func:`text_column` gives them, but "" where blank, and the mask of
    blank ids. (Missing values filled afterwards in pandas cost 14 ms per 1,000,000 ids.)"""
    text = _text(_arrow(series), normalize=False)
    blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    return pd.arrays.ArrowStringArray(pc.fill_null(text, "")), blank


# --------------------------------------------------------------------------------------------
# Rows of one table


class _Flags:
    """The first failing check of each row, with the offending column and its raw value.

    The columns and values are kept for the flagged cells only (few, as a rule): two text
    arrays over every row cost 15 ms per 1,000,000-row file to set up.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        self.frame = frame
        self.code = np.zeros(n, dtype=np.int8)
        self.duplicate_of = np.full(n, -1, dtype=np.int64)
        # (rows, column, raw values) per flag_cells call; a row is in one of them at most
        self._cells: list[tuple[np.ndarray, str, np.ndarray]] = []

    @property
    def ok(self) -> np.ndarray:
        return self.code == 0

    def flag(self, mask: np.ndarray, reason: str) -> None:
        self.code[(self.code == 0) & mask] = _CODE[reason]

    def flag_cells(self, mask: np.ndarray, column: str, reason: str) -> None:
        """Flag rows whose cell in ``column`` fails, remembering the column and raw value."""
        if not mask.any():
            return
        rows = np.flatnonzero(mask & (self.code == 0))
        if len(rows):
            self.code[rows] = _CODE[reason]
            values = self.frame[column].iloc[rows].astype("string").fillna("").to_numpy()
            self._cells.append((rows, column, values))

    def cells(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The offending column and raw value at ``rows`` (ascending), "" where a row was
        not flagged by its cell."""
        column = np.full(len(rows), "", dtype=object)
        value = np.full(len(rows), "", dtype=object)
        for flagged, name, raw in self._cells:
            at = np.searchsorted(rows, flagged)
            inside = at < len(rows)
            inside[inside] = rows[at[inside]] == flagged[inside]
            column[at[inside]] = name
            value[at[inside]] = raw[inside]
        return column, value


@dataclass
class _Rows:
    """One table read row by row: labels, answers (one column per answer column, missing as
    NaN), the item of each row (long layout) and the checks so far."""

    meta: pd.DataFrame
    values: np.ndarray
    flags: _Flags
    item: np.ndarray | None = None


def answer_columns(instrument: Instrument) -> list[str]:
    """The answer columns: per item and battery (wide), or one per battery (long)."""
    if instrument.long is not None:
        long = instrument.long
        return [c for c in (long.expectation, long.perception, long.adequate) if c]
    batteries = ["expectation", "perception"] + (["adequate"] if instrument.has_adequate else [])
    return [getattr(i, b) for b in batteries for i in instrument.items]


def _answer_matrix(rows: int, columns: int) -> np.ndarray:
    """An uninitialised column-major answer matrix (float32), from Arrow's memory pool.

    The pool keeps freed memory for the next file, where numpy hands large blocks back to
    the system and page-faults them in again: on a million rows, that was a third of the
    validation time, paid again for every wave of a run.
    """
    if not rows * columns:
        return np.empty((rows, columns), dtype=ANSWER_DTYPE, order="F")
    buffer = pa.allocate_buffer(rows * columns * np.dtype(ANSWER_DTYPE).itemsize)
    return np.frombuffer(buffer, dtype=ANSWER_DTYPE).reshape(columns, rows).T


def _read_rows(raw: RawTable, frame: pd.DataFrame, instrument: Instrument,
               answer_columns: list[str]) -> _Rows:
    """Labels and answers of every row, checked up to ``invalid_weight``."""
    settings = instrument.settings
    n = len(frame)
    flags = _Flags(frame)
    meta = pd.DataFrame({SOURCE_ROW: raw.source_rows})
    meta[SOURCE] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [str(raw.path)])
    if settings.wave and settings.wave in frame.columns:
        wave = _categorical(frame[settings.wave], blank="")
        blank = list(wave.categories).index("") if "" in wave.categories else -1
        flags.flag((wave.codes == blank) & (blank >= 0), "missing_wave")
        meta[WAVE] = wave
    else:
        meta[WAVE] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                               [wave_from_filename(raw.path)])
    if settings.respondent_id:
        rid, blank = _ids(frame[settings.respondent_id])
        flags.flag(blank, "missing_respondent_id")
        meta[RESPONDENT] = rid
    else:
        meta[RESPONDENT] = pd.array(raw.source_rows.astype(str), dtype="string")
    for seg in settings.segments:
        meta[seg] = _categorical(frame[seg])  # blank: in no segment
    item = None
    if instrument.long is not None:
        item = item_positions(text_column(frame[instrument.long.item]), instrument)
        flags.flag_cells(item < 0, instrument.long.item, "unknown_item")

    missing = sorted({*settings.missing_codes, *raw.missing_codes})
    scale = AnswerScale(settings.scale_min, settings.scale_max, tuple(missing))
    values = _answer_matrix(n, len(answer_columns))
    for j, column in enumerate(answer_columns):
        flags.flag_cells(numbers_into(frame[column], values[:, j], scale), column,
                         "non_numeric")
    if settings.sampling_weight:
        weight, weight_text = numeric_column(frame[settings.sampling_weight])
        flags.flag_cells(weight_text, settings.sampling_weight, "non_numeric")
        meta[WEIGHT] = weight
    for j, column in enumerate(answer_columns):
        answers = values[:, j]
        with np.errstate(invalid="ignore"):
            outside = (answers < settings.scale_min) | (answers > settings.scale_max)
        # Missing codes lie outside the scale (the instrument checks), so only cells outside
        # it need looking at: they are missing answers, or out of scale.
        cells = np.flatnonzero(outside)
        coded = cells[np.isin(answers[cells], missing)]
        answers[coded] = np.nan
        outside[coded] = False
        flags.flag_cells(outside, column, "out_of_scale")
    if settings.sampling_weight:
        with np.errstate(invalid="ignore"):
            invalid = ~(meta[WEIGHT].to_numpy() > 0) | ~np.isfinite(meta[WEIGHT].to_numpy())
        flags.flag_cells(invalid, settings.sampling_weight, "invalid_weight")
    for dim in instrument.dimensions:
        if dim.importance:
            # Importance points are auxiliary: unreadable points make the allocation missing
            # (the statistics count it), they do not cost the respondent's answers.
            meta[importance_column(dim.key)] = numeric_column(frame[dim.importance])[0]
    if settings.overall_satisfaction:
        meta[OVERALL_SATISFACTION] = numeric_column(frame[settings.overall_satisfaction])[0]
    classes = instrument.customer_classes
    if classes is not None and classes.derived:
        # Value scores place the respondent in a value segment; unreadable scores leave the
        # respondent without one, they do not cost the answers.
        for column in (classes.current_value, classes.potential_value):
            meta[column] = numeric_column(frame[column])[0]
    return _Rows(meta=meta, values=values, flags=flags, item=item)


def _batteries(values: np.ndarray, k: int) -> list[np.ndarray]:
    """The expectation, perception (and adequate) blocks of ``k`` columns each, as views."""
    return [values[:, s * k:(s + 1) * k] for s in range(values.shape[1] // k)]


def _compact(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows ``keep`` of ``values``, moved up in place, in order (no second matrix).

    With few rows to drop (the usual case), each run of kept rows is moved as one block, a
    single memmove per column; with many, each column is compressed through a temporary.
    """
    gone = np.flatnonzero(~keep)
    m = len(values) - len(gone)
    if len(gone) > _FEW_DROPPED:
        for j in range(values.shape[1]):
            values[:m, j] = values[keep, j]
        return values[:m]
    ends = np.append(gone[1:], len(values))
    for j in range(values.shape[1]):
        column = values[:, j]
        for shift, (start, end) in enumerate(zip(gone + 1, ends), start=1):
            column[start - shift:end - shift] = column[start:end]
    return values[:m]


def _reverse_score(batteries: list[np.ndarray], instrument: Instrument) -> None:
    """Negatively worded items scored as scale_min + scale_max - x, in place."""
    lo, hi = instrument.scale_min, instrument.scale_max
    for battery in batteries:
        for j, item in enumerate(instrument.items):
            if item.reverse:
                battery[:, j] = lo + hi - battery[:, j]


def _make_responses(batteries: list[np.ndarray], meta: pd.DataFrame, instrument: Instrument
                    ) -> Responses:
    return Responses(item_ids=instrument.item_ids, expectation=batteries[0],
                     perception=batteries[1], adequate=batteries[2] if len(batteries) > 2 else None,
                     meta=meta, segments=tuple(instrument.settings.segments))


# --------------------------------------------------------------------------------------------
# One file


@dataclass
class _Checked:
    responses: Responses
    quarantine: pd.DataFrame
    quality: DataQuality
    # Long layout: respondent, source_row and item of each valid input row.
    provenance: pd.DataFrame | None = None


def check_table(raw: RawTable, instrument: Instrument) -> _Checked:
    """Row-level checks of one table; duplicates within the file included."""
    frame = resolve_columns(raw, instrument)
    columns = answer_columns(instrument)
    check_header(raw, frame, columns, instrument)
    rows = _read_rows(raw, frame, instrument, columns)
    check = _check_long if instrument.long is not None else _check_wide
    checked = check(raw, rows, instrument)
    checked.quality.files.append(file_record(raw, checked.quality))
    return checked


def file_record(raw: RawTable, quality: DataQuality) -> dict:
    """The entry of one file in ``DataQuality.files``."""
    return {"file": str(raw.path), "kind": raw.kind, "encoding": raw.encoding,
            "platform": raw.platform.name if raw.platform else None,
            "rows_read": quality.rows_read, "rows_valid": quality.rows_valid,
            "rows_quarantined": quality.rows_quarantined}


def wide_rows(raw: RawTable, frame: pd.DataFrame, instrument: Instrument
              ) -> tuple[_Flags, Responses]:
    """The checks of each row of a wide table on its own (up to ``all_missing``), and every
    row as responses, reverse-scored, whatever its verdict.

    ``frame`` is ``raw.frame`` with the instrument's column names (:func:`resolve_columns`).
    Rows are judged independently here, so a table may be checked in slices (the
    out-of-core path does); duplicates and straight-lining are judged after.
    """
    rows = _read_rows(raw, frame, instrument, answer_columns(instrument))
    return rows.flags, _wide_responses(rows, instrument)


def _wide_responses(rows: _Rows, instrument: Instrument) -> Responses:
    """Flag the rows that answer nothing; the rows as reverse-scored responses (views of
    ``rows.values``)."""
    rows.flags.flag(rowchecks.answered_none(rows.values), "all_missing")
    batteries = _batteries(rows.values, len(instrument.items))
    _reverse_score(batteries, instrument)
    return _make_responses(batteries, rows.meta, instrument)


def _check_wide(raw: RawTable, rows: _Rows, instrument: Instrument) -> _Checked:
    flags, values = rows.flags, rows.values
    responses = _wide_responses(rows, instrument)
    if instrument.settings.respondent_id:
        reason, first = find_duplicates(responses, among=flags.ok)
        _flag_duplicates(flags, reason, first)
    straight = straightlining(responses)
    if instrument.settings.quarantine_straightlining:
        flags.flag(straight, "straightlining")
    ok = flags.ok
    valid = responses
    if not ok.all():  # keep the valid rows' answers where they are: no copy of the matrix
        valid = _make_responses(_batteries(_compact(values, ok), len(instrument.items)),
                                rows.meta.iloc[np.flatnonzero(ok)].reset_index(drop=True),
                                instrument)
    quality = DataQuality(rows_read=raw.rows_read, rows_valid=len(valid),
                          respondents_valid=len(valid), straightlining=int((straight & ok).sum()),
                          answers_missing=count_missing(valid))
    return _Checked(valid, _quarantine(raw, flags, quality), quality)


def _check_long(raw: RawTable, rows: _Rows, instrument: Instrument) -> _Checked:
    """Rows checked one by one, then per respondent, then reassembled into respondents."""
    flags, values, item, meta = rows.flags, rows.values, rows.item, rows.meta
    key = _respondent_keys(meta)

    # A respondent none of whose rows answers anything.
    live = np.flatnonzero(flags.ok)
    owner, first = respondents(key[live])
    answered = np.bincount(owner, weights=(~rowchecks.answered_none(values[live])).astype(float),
                           minlength=len(first))
    flags.flag(_spread(live, answered[owner] == 0, len(key)), "all_missing")

    # Rows of one respondent that disagree (two answers to one item, or two regions): none
    # can be trusted, so all the respondent's rows are set aside.
    live = np.flatnonzero(flags.ok)
    owner, first = respondents(key[live])
    conflict = np.zeros(len(first), dtype=bool)
    for column in _respondent_columns(meta):
        conflict |= _disagrees(owner, meta[column].iloc[live], len(first))
    pair = owner * len(instrument.items) + item[live]
    repeated = pd.Series(pair).duplicated(keep=False).to_numpy()
    if repeated.any():
        content = pd.util.hash_pandas_object(pd.DataFrame(values[live[repeated]]), index=False)
        conflict |= _disagrees(owner[repeated], content, len(first), by=pair[repeated])
    flags.flag(_spread(live, conflict[owner], len(key)), "duplicate_conflict")
    later = pd.Series(pair).duplicated(keep="first").to_numpy() & ~conflict[owner]
    first_copy = pd.Series(meta[SOURCE_ROW].to_numpy()[live]).groupby(pair).transform("first")
    flags.duplicate_of[live[later]] = first_copy.to_numpy()[later]
    flags.flag(_spread(live, later, len(key)), "duplicate_respondent")

    # Reassemble, then judge respondents as a whole.
    live = np.flatnonzero(flags.ok)
    owner, first = respondents(key[live])
    batteries = assemble(owner, item[live], values[live], len(first), len(instrument.items))
    _reverse_score(batteries, instrument)
    responses = _make_responses(batteries, meta.iloc[live[first]].reset_index(drop=True),
                                instrument)
    straight = straightlining(responses)
    if instrument.settings.quarantine_straightlining:
        flags.flag(_spread(live, straight[owner], len(key)), "straightlining")
        kept = ~straight
        row_kept = kept[owner]
        responses, live = responses.take(kept), live[row_kept]
        owner = (np.cumsum(kept) - 1)[owner[row_kept]]
        straight = np.zeros(len(responses), dtype=bool)
    provenance = pd.DataFrame({_RESPONDENT: owner, SOURCE_ROW: raw.source_rows[live],
                               _ITEM: item[live]})
    quality = DataQuality(rows_read=raw.rows_read, rows_valid=len(live),
                          respondents_valid=len(responses), straightlining=int(straight.sum()),
                          answers_missing=count_missing(responses))
    return _Checked(responses, _quarantine(raw, flags, quality), quality, provenance)


def _spread(rows: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """A mask over ``n`` rows, true at ``rows[mask]``."""
    out = np.zeros(n, dtype=bool)
    out[rows[mask]] = True
    return out


def _respondent_columns(meta: pd.DataFrame) -> list[str]:
    """Columns that describe the respondent, not the row (segments, weights, importance)."""
    return [c for c in meta.columns if c not in (SOURCE, SOURCE_ROW, WAVE, RESPONDENT)]


def _disagrees(owner: np.ndarray, values: pd.Series, size: int, by: np.ndarray | None = None
               ) -> np.ndarray:
    """Per respondent (``size`` of them): do ``values`` differ between rows of one ``by``
    group (default: between the respondent's rows)?"""
    codes = pd.factorize(values.reset_index(drop=True), use_na_sentinel=False)[0]
    group = owner if by is None else by
    pairs = pd.DataFrame({"group": group, "value": codes, "owner": owner}).drop_duplicates(
        ["group", "value"])
    split = pairs["owner"].to_numpy()[pairs["group"].duplicated().to_numpy()]
    out = np.zeros(size, dtype=bool)
    out[split] = True
    return out


def _flag_duplicates(flags: _Flags, reason: np.ndarray, first: np.ndarray) -> None:
    for name in ("duplicate_conflict", "duplicate_respondent"):
        mask = reason == _CODE[name]
        flags.duplicate_of[mask & flags.ok] = first[mask & flags.ok]
        flags.flag(mask, name)


def _quarantine(raw: RawTable, flags: _Flags, quality: DataQuality) -> pd.DataFrame:
    """The rejected rows with their reason, then their original values; fills the counts."""
    rejected = np.flatnonzero(~flags.ok)
    quarantine = rejected_rows(raw, rejected, flags.code[rejected], *flags.cells(rejected),
                               flags.duplicate_of[rejected])
    quality.add_rejected(quarantine["reason"])
    quality.check()
    return quarantine


def rejected_rows(raw: RawTable, rows: np.ndarray, code: np.ndarray, column: np.ndarray,
                  value: np.ndarray, duplicate_of: np.ndarray) -> pd.DataFrame:
    """Quarantine rows: the rows ``rows`` of ``raw.frame`` with their reason code, offending
    column and value, and the row of the first copy (-1: none), then the unparseable records;
    then the file's own values."""
    q = pd.DataFrame({
        SOURCE: str(raw.path),
        SOURCE_ROW: raw.source_rows[rows],
        "reason": np.array(REASONS, dtype=object)[np.asarray(code, dtype=np.int64) - 1],
        "column": column,
        "value": value,
        "duplicate_of": pd.array(np.where(duplicate_of >= 0, duplicate_of, 0), dtype="Int64"),
    })
    q["duplicate_of"] = q["duplicate_of"].mask(duplicate_of < 0)
    if len(raw.unparseable):
        q = pd.concat([q, pd.DataFrame({
            SOURCE: str(raw.path), SOURCE_ROW: raw.unparseable["source_row"].to_numpy(),
            "reason": "unparseable", "column": "", "value": raw.unparseable["text"].to_numpy(),
        })], ignore_index=True)
    original = _rows_of(raw.frame, rows)
    return pd.concat([q, original.set_axis(_renamed(original.columns), axis=1)], axis=1)


def _rows_of(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows]``; a few rows as slices put together, which leaves Arrow columns of
    many chunks as they are where ``take`` gathers them (a million rows: 4 ms against 20 ms).
    The slices are then copied out: a slice keeps its whole block of the file alive (22 MB
    per 1,000,000-row file for its 8 quarantined rows, held to the end of a run)."""
    if 0 < len(rows) <= _FEW_DROPPED:
        picked = pd.concat([frame.iloc[r:r + 1] for r in rows]).reset_index(drop=True)
        return _detached(picked)
    return frame.iloc[rows].reset_index(drop=True)


def _detached(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its Arrow-backed columns copied into buffers of their own."""
    columns = []
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        array = column.array
        if hasattr(array, "__arrow_array__"):
            arrow = array.__arrow_array__()
            copied = pc.take(arrow, pa.array(np.arange(len(arrow))))  # new buffers
            column = pd.Series(type(array)(copied), name=column.name, dtype=column.dtype)
        columns.append(column)
    return pd.concat(columns, axis=1) if columns else frame


def _renamed(columns) -> list[str]:
    """The file's column names as quarantine columns: distinct from the quarantine's own
    columns and from each other (a header may repeat a name or leave it blank)."""
    out: list[str] = []
    taken = set(QUARANTINE_COLUMNS)
    for n, column in enumerate(columns, start=1):
        name = str(column) or f"(column {n})"
        if name in QUARANTINE_COLUMNS:
            name = f"{name} (original)"
        candidate, copy = name, 1
        while candidate in taken:
            copy += 1
            candidate = f"{name} ({copy})"
        taken.add(candidate)
        out.append(candidate)
    return out


def _respondent_keys(meta: pd.DataFrame) -> np.ndarray:
    """One integer per (wave, respondent id): equal for the same respondent of a wave."""
    wave = pd.factorize(meta[WAVE])[0].astype(np.int64)
    codes, distinct = _codes(meta[RESPONDENT])
    return wave * (len(distinct) + 1) + codes


def _key_hashes(meta: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (wave, respondent id): equal keys, equal hashes."""
    wave = pd.factorize(meta[WAVE])[0].astype(np.int64)
    ids = _arrow(meta[RESPONDENT]).combine_chunks()
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    width = np.int64 if pa.types.is_large_string(ids.type) else np.int32
    offsets = np.frombuffer(ids.buffers()[1], dtype=width)[ids.offset:ids.offset + len(ids) + 1]
    data = ids.buffers()[2]
    return rowchecks.key_hashes(wave, offsets, np.frombuffer(data, dtype=np.uint8)
                                if data is not None else np.zeros(0, dtype=np.uint8))


def find_duplicates(responses: Responses, among: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Reason codes for repeated respondent ids within a wave, and the row of the first copy.

    A later copy with the same answers (and segments, weight, importance) is a
    ``duplicate_respondent``; when the copies differ, none can be trusted and every copy is a
    ``duplicate_conflict``. Only respondents in ``among`` (default: all) are compared.
    """
    n = len(responses)
    reason = np.zeros(n, dtype=np.int8)
    first_row = np.full(n, -1, dtype=np.int64)
    idx = np.arange(n) if among is None else np.flatnonzero(among)
    # Cheap hashes first find the few rows that may repeat a key; exact keys decide.
    idx = idx[rowchecks.repeated(_key_hashes(responses.meta)[idx])]
    key = _respondent_keys(responses.meta.iloc[idx])
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return reason, first_row
    idx, key = idx[repeated], key[repeated]
    sub = responses.take(idx)
    answers = [sub.expectation, sub.perception]
    if sub.adequate is not None:
        answers.append(sub.adequate)
    content = pd.DataFrame(np.column_stack(answers))
    others = sub.meta[_respondent_columns(sub.meta)]
    content = pd.concat([content, others.reset_index(drop=True)], axis=1)
    content.columns = [str(c) for c in content.columns]
    digest = pd.util.hash_pandas_object(content, index=False).to_numpy()
    group = pd.factorize(key)[0]
    distinct = pd.Series(digest).groupby(group).nunique().to_numpy()[group]
    conflict = distinct > 1
    later = pd.Series(group).duplicated(keep="first").to_numpy() & ~conflict
    first_of_group = pd.Series(sub.meta[SOURCE_ROW].to_numpy()).groupby(group).transform("first")
    reason[idx[conflict]] = _CODE["duplicate_conflict"]
    reason[idx[later]] = _CODE["duplicate_respondent"]
    first_row[idx[later]] = first_of_group.to_numpy()[later]
    return reason, first_row


def straightlining(responses: Responses, min_answered: int = 3) -> np.ndarray:
    """Respondents who gave one answer to every expectation item and one to every perception item.

    Each battery must have at least ``min_answered`` answers for the pattern to mean anything.
    """
    if responses.expectation.shape[1] < min_answered:
        return np.zeros(len(responses), dtype=bool)
    return rowchecks.straight([responses.expectation, responses.perception], min_answered)


def count_missing(responses: Responses) -> int:
    batteries = [responses.expectation, responses.perception, responses.adequate]
    return sum(rowchecks.missing(b) for b in batteries if b is not None)


# --------------------------------------------------------------------------------------------
# Several files


def validate(tables: Iterable[RawTable], instrument: Instrument) -> Validated:
    """Validate tables (one per file, read lazily) into one set of responses.

    Duplicates are found within each file and then across files of the same wave; in the
    cross-file case the quarantined copy is recorded with its values as parsed.
    """
    parts: list[_Checked] = []
    quarantines: list[pd.DataFrame] = []
    quality = DataQuality()
    columns: dict[str, list[str]] = {}
    for raw in tables:
        columns[str(raw.path)] = [str(c) for c in raw.frame.columns]
        checked = check_table(raw, instrument)
        parts.append(checked)
        quarantines.append(checked.quarantine)
        merge_quality(quality, checked.quality)
    if not parts:
        raise DataError("no survey files given")
    responses = Responses.concat([p.responses for p in parts])
    if instrument.settings.respondent_id and len(parts) > 1:
        reason, first = find_duplicates(responses)
        if reason.any():
            drop = reason > 0
            dropped = responses.take(drop)
            rows = as_parsed(dropped, reason[drop], first[drop], instrument,
                              _provenance(parts, drop))
            quarantines.append(rows)
            quality.rows_valid -= len(rows)
            quality.respondents_valid -= len(dropped)
            quality.answers_missing -= count_missing(dropped)
            quality.add_rejected(rows["reason"])
            move_to_quarantine(quality, rows[SOURCE])
            responses = responses.take(~drop)
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame(
        columns=QUARANTINE_COLUMNS)
    quality.check()
    # Value segments split each wave at the medians of all its respondents: derived here, once,
    # so that a unit of --split-by keeps the company-wide split.
    responses = derive_value_segment(responses, instrument)
    return Validated(responses=responses, quarantine=quarantine, quality=quality, columns=columns)


def merge_quality(total: DataQuality, part: DataQuality) -> None:
    """Add one part's row accounting (a file's, a stored wave's) to a total."""
    total.rows_read += part.rows_read
    total.rows_valid += part.rows_valid
    total.rows_quarantined += part.rows_quarantined
    total.respondents_valid += part.respondents_valid
    for reason, count in part.quarantine_reasons.items():
        total.quarantine_reasons[reason] = total.quarantine_reasons.get(reason, 0) + count
    total.answers_missing += part.answers_missing
    total.straightlining += part.straightlining
    total.files.extend(part.files)


def move_to_quarantine(quality: DataQuality, sources: pd.Series) -> None:
    """Per-file counts after rows of a file were quarantined as copies from another file."""
    moved = sources.value_counts()
    for entry in quality.files:
        count = int(moved.get(entry["file"], 0))
        entry["rows_valid"] -= count
        entry["rows_quarantined"] += count


def _provenance(parts: list[_Checked], drop: np.ndarray) -> pd.DataFrame | None:
    """Long layout: the input rows of the dropped respondents (numbered as in ``drop``'s
    subset), each with its item; ``None`` for wide files (one row per respondent)."""
    if parts[0].provenance is None:
        return None
    offsets = np.cumsum([0] + [len(p.responses) for p in parts[:-1]])
    rows = pd.concat([p.provenance.assign(**{_RESPONDENT: p.provenance[_RESPONDENT] + o})
                      for p, o in zip(parts, offsets)], ignore_index=True)
    renumber = np.cumsum(drop) - 1
    rows = rows[drop[rows[_RESPONDENT].to_numpy()]]
    return rows.assign(**{_RESPONDENT: renumber[rows[_RESPONDENT].to_numpy()]})


def as_parsed(rows: Responses, reason: np.ndarray, first: np.ndarray, instrument: Instrument,
               provenance: pd.DataFrame | None) -> pd.DataFrame:
    """Quarantine rows for respondents set aside across files, with their values as parsed
    (reverse scoring undone). Long layout: one row per input row of each respondent."""
    settings = instrument.settings
    lo, hi = instrument.scale_min, instrument.scale_max
    reverse = np.array([i.reverse for i in instrument.items], dtype=bool)
    batteries = [("expectation", rows.expectation), ("perception", rows.perception)]
    if rows.adequate is not None:
        batteries.append(("adequate", rows.adequate))
    as_read = {name: np.where(reverse, lo + hi - arr, arr) for name, arr in batteries}

    who = np.arange(len(rows)) if provenance is None else provenance[_RESPONDENT].to_numpy()
    source_row = (rows.meta[SOURCE_ROW].to_numpy() if provenance is None
                  else provenance[SOURCE_ROW].to_numpy())
    frame = pd.DataFrame({
        SOURCE: rows.meta[SOURCE].to_numpy()[who], SOURCE_ROW: source_row,
        "reason": np.array(REASONS, dtype=object)[reason[who] - 1], "column": "", "value": "",
        "duplicate_of": pd.array(np.where(first[who] >= 0, first[who], 0), dtype="Int64"),
    })
    frame["duplicate_of"] = frame["duplicate_of"].mask(first[who] < 0)
    if provenance is None:
        for name, arr in as_read.items():
            for j, item in enumerate(instrument.items):
                frame[getattr(item, name)] = arr[:, j]
    else:
        item = provenance[_ITEM].to_numpy()
        frame[instrument.long.item] = np.array([i.long_code for i in instrument.items])[item]
        for name, arr in as_read.items():
            frame[getattr(instrument.long, name)] = arr[who, item]
    names = {RESPONDENT: settings.respondent_id, WAVE: settings.wave or WAVE,
             WEIGHT: settings.sampling_weight, OVERALL_SATISFACTION: settings.overall_satisfaction,
             **{importance_column(d.key): d.importance for d in instrument.dimensions}}
    for c in rows.meta.columns:
        if c not in (SOURCE, SOURCE_ROW):
            frame[names.get(c, c)] = rows.meta[c].to_numpy()[who]
    return frame
