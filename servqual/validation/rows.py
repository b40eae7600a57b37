"""Rows: each row of a table read and checked on its own.

A row's labels (wave, respondent id, segments) and answers are read, and the row-level
checks run in the order of :class:`servqual.models.Reason`, up to ``all_missing``: a row
gets the first reason that holds, with the offending column and its raw value. Answers land
in one column-major float32 matrix, reverse-scored where the instrument says so. Rows are
judged independently here, so a table may be checked in slices; duplicates
(:mod:`.duplicates`) and straight-lining (:mod:`.straightlining`) are judged across rows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..celltext import bound_label
from ..errors import UsageError
from ..ingest import RawTable
from ..ingest.long import item_positions
from ..instrument import Instrument
from ..instrument.answers import recode
from ..instrument.outcomes import usable
from ..models import Reason
from ..quarantine import SOURCE, SOURCE_ROW
from ..responses import (ANSWER_DTYPE, RESPONDENT, WAVE, WEIGHT,
                         Responses, importance_column,
                         item_importance_column)
from ..waves import wave_from_filename
from .cells import (AnswerScale, as_written, categorical, numbers_into, numeric_column,
                    respondent_ids, text_column)
from .columns import answer_columns

# Up to this many dropped rows, valid rows are compacted block by block (see compact).
_FEW_DROPPED = 1000
# Answer columns of tables from this many rows are parsed on threads (see _parse_answers).
_PARALLEL_ROWS = 10_000
_THREADS = max(1, min(2, os.cpu_count() or 1))


class Flags:
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
        self.code[(self.code == 0) & mask] = Reason[reason]

    def flag_cells(self, mask: np.ndarray, column: str, reason: str) -> None:
        """Flag rows whose cell in ``column`` fails, remembering the column and raw value."""
        if not mask.any():
            return
        rows = np.flatnonzero(mask & (self.code == 0))
        if len(rows):
            self.code[rows] = Reason[reason]
            values = as_written(self.frame[column].iloc[rows]).astype("string").fillna(
                "").to_numpy()
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
class Rows:
    """One table read row by row: labels, answers (one column per answer column, missing as
    NaN), the item of each row (long layout) and the checks so far."""

    meta: pd.DataFrame
    values: np.ndarray
    flags: Flags
    item: np.ndarray | None = None


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


def segment_labels(values: pd.Categorical) -> pd.Categorical:
    """A segment column's values as every output names them: a value longer than a label may
    be (a comment or a blob pasted into the column) is shortened once, here, by
    :func:`servqual.celltext.bound_label` (distinct values stay distinct), rather than
    carried through every table, chart and file a run writes."""
    categories = list(values.categories)
    labels = [bound_label(c) for c in categories]
    if labels == categories:
        return values
    return pd.Categorical.from_codes(values.codes, categories=labels)


def read_rows(raw: RawTable, frame: pd.DataFrame, instrument: Instrument,
               answer_columns: list[str]) -> Rows:
    """Labels and answers of every row, checked up to ``invalid_weight``."""
    settings = instrument.settings
    n = len(frame)
    flags = Flags(frame)
    meta = pd.DataFrame({SOURCE_ROW: raw.source_rows})
    meta[SOURCE] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [str(raw.path)])
    if settings.wave and settings.wave in frame.columns:
        if instrument.wave_label:
            raise UsageError(f"--wave names the wave of files without a wave column, and "
                             f"{raw.path} has the column {settings.wave!r}: leave out --wave, "
                             "or give the files without one", file=raw.path)
        wave = categorical(frame[settings.wave], blank="", tokens=True)
        blank = list(wave.categories).index("") if "" in wave.categories else -1
        flags.flag((wave.codes == blank) & (blank >= 0), "missing_wave")
        meta[WAVE] = wave
    else:
        meta[WAVE] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                               [wave_from_filename(raw.path,
                                                                   instrument.wave_label)])
    if settings.respondent_id:
        rid, blank = respondent_ids(frame[settings.respondent_id])
        flags.flag(blank, "missing_respondent_id")
        meta[RESPONDENT] = rid
    else:
        meta[RESPONDENT] = pd.array(raw.source_rows.astype(str), dtype="string")
    for seg in settings.segments:
        meta[seg] = segment_labels(categorical(frame[seg]))  # blank: in no segment
    item = None
    if instrument.long is not None:
        item = item_positions(text_column(frame[instrument.long.item]), instrument)
        flags.flag_cells(item < 0, instrument.long.item, "unknown_item")

    missing = sorted({*settings.missing_numbers, *raw.missing_codes})
    scale = AnswerScale(settings.scale_min, settings.scale_max, tuple(missing))
    values = _answer_matrix(n, len(answer_columns))
    texts = _parse_answers([frame[c] if c else None for c in answer_columns], values, scale,
                           answer_label_sets(instrument, len(answer_columns)))
    for column, text in zip(answer_columns, texts):  # in column order: a row's first reason
        flags.flag_cells(text, column, "non_numeric")
    if settings.sampling_weight:
        weight, weight_text = numeric_column(frame[settings.sampling_weight])
        flags.flag_cells(weight_text, settings.sampling_weight, "non_numeric")
        meta[WEIGHT] = weight
    codes = instrument.answer_codes
    for j, column in enumerate(answer_columns):
        answers = values[:, j]
        if codes:  # positions the file wrote, as scores (instrument.answers.AnswerCodes)
            item = instrument.items[j % len(instrument.items)] if instrument.long is None \
                else None
            recode(answers, codes.for_set(item.codes if item is not None else ""), missing)
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
    for n, rated in enumerate(instrument.items):
        if rated.importance:
            meta[item_importance_column(rated.id)] = importance_ratings(
                frame[rated.importance], scale, answer_label_sets(instrument, n + 1)[n],
                instrument.answer_codes.for_set(rated.codes) if instrument.answer_codes
                else None)
    for outcome in instrument.outcomes:  # auxiliary: an unusable cell is left out, not the row
        if outcome.from_behaviour:  # joined from the CRM extract by id (servqual.behaviour)
            meta[outcome.meta_column] = (
                instrument.extract.lookup(outcome, meta[RESPONDENT], meta[WAVE])
                if instrument.extract is not None else np.full(len(frame), np.nan))
            continue
        meta[outcome.meta_column] = (usable(numeric_column(frame[outcome.column])[0], outcome)
                                     if outcome.column in frame else np.full(len(frame), np.nan))
    classes = instrument.customer_classes
    if classes is not None and classes.derived:
        # Value scores place the respondent in a value segment; unreadable scores leave the
        # respondent without one, they do not cost the answers.
        for column in (classes.current_value, classes.potential_value):
            meta[column] = numeric_column(frame[column])[0]
    return Rows(meta=meta, values=values, flags=flags, item=item)


def _parse_answers(columns: list[pd.Series], values: np.ndarray, scale: AnswerScale,
                   labels: list) -> list[np.ndarray]:
    """Each answer column parsed into its column of ``values``; the masks of cells holding
    text that is not an answer. Columns are parsed on two threads (Arrow's kernels release
    the GIL; each writes its own column): a streamed file's answers come as text, and their
    parse was the largest cost of validating it."""
    def parse(j: int) -> np.ndarray:
        if columns[j] is None:  # an item without this battery (SERVPERF: no expectation)
            values[:, j] = np.nan
            return np.zeros(len(values), dtype=bool)
        return numbers_into(columns[j], values[:, j], scale, labels[j])

    if len(columns) < 2 or len(values) < _PARALLEL_ROWS:
        return [parse(j) for j in range(len(columns))]
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(parse, range(len(columns))))


def importance_ratings(column: pd.Series, scale: AnswerScale, labels, codes) -> np.ndarray:
    """An item's importance ratings, read as its answers are (labels, codes, missing codes);
    like importance points they are auxiliary: a rating that is not on the scale is missing
    (the statistics count the ratings), it does not cost the respondent's answers."""
    out = np.empty(len(column))
    numbers_into(column, out, scale, labels)
    if codes is not None:
        recode(out, codes, sorted(scale.codes))
    with np.errstate(invalid="ignore"):
        out[~((out >= scale.lo) & (out <= scale.hi))] = np.nan
    return out


def answer_label_sets(instrument: Instrument, columns: int) -> list[tuple | None]:
    """The answer labels each answer column is read with (:mod:`servqual.instrument.answers`):
    its item's named set over the default one; ``None`` where the instrument has none."""
    labels = instrument.answer_labels
    if not labels:
        return [None] * columns
    if instrument.long is not None:
        return [(labels, "")] * columns
    k = len(instrument.items)
    return [(labels, instrument.items[j % k].labels) for j in range(columns)]


def split_batteries(values: np.ndarray, k: int) -> list[np.ndarray]:
    """The expectation, perception (and adequate) blocks of ``k`` columns each, as views."""
    return [values[:, s * k:(s + 1) * k] for s in range(values.shape[1] // k)]


def compact(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
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


def reverse_score(batteries: list[np.ndarray], instrument: Instrument) -> None:
    """Negatively worded items scored as scale_min + scale_max - x, in place."""
    lo, hi = instrument.scale_min, instrument.scale_max
    for battery in batteries:
        for j, item in enumerate(instrument.items):
            if item.reverse:
                battery[:, j] = lo + hi - battery[:, j]


def make_responses(batteries: list[np.ndarray], meta: pd.DataFrame, instrument: Instrument
                    ) -> Responses:
    return Responses(item_ids=instrument.item_ids, expectation=batteries[0],
                     perception=batteries[1], adequate=batteries[2] if len(batteries) > 2 else None,
                     meta=meta, segments=tuple(instrument.settings.segments))


def wide_rows(raw: RawTable, frame: pd.DataFrame, instrument: Instrument
              ) -> tuple[Flags, Responses]:
    """The checks of each row of a wide table on its own (up to ``all_missing``), and every
    row as responses, reverse-scored, whatever its verdict.

    ``frame`` is ``raw.frame`` with the instrument's column names (:func:`resolve_columns`).
    Rows are judged independently here, so a table may be checked in slices (the
    out-of-core path does); duplicates and straight-lining are judged after.
    """
    rows = read_rows(raw, frame, instrument, answer_columns(instrument))
    return rows.flags, wide_responses(rows, instrument)


def wide_responses(rows: Rows, instrument: Instrument) -> Responses:
    """Flag the rows that answer nothing; the rows as reverse-scored responses (views of
    ``rows.values``)."""
    rows.flags.flag(answered_none(rows.values), "all_missing")
    batteries = split_batteries(rows.values, len(instrument.items))
    reverse_score(batteries, instrument)
    return make_responses(batteries, rows.meta, instrument)


def answered_none(values: np.ndarray) -> np.ndarray:
    """Rows of an answer matrix with no answer at all (``all_missing``)."""
    return np.isnan(values).all(axis=1)
