"""Validate: every input row is either analysed or quarantined with one reason.

Checks are vectorised over the whole table. Each rejected row gets exactly one reason code,
the first that applies in the order of :data:`REASONS`, plus the offending column and value
where there is one, and the row number of the first copy for duplicates. The invariant
``rows_read == rows_valid + rows_quarantined`` holds per file and overall.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .ingest import RawTable
from .instrument import Instrument
from .responses import (OVERALL_SATISFACTION, RESPONDENT, SOURCE, SOURCE_ROW, WAVE, WEIGHT,
                        Responses, importance_column)
from .waves import wave_from_filename

# Reason codes, in the order they are checked. The meaning of each is documented in the
# README and explained in the report (reports/locale); the codes themselves are stable.
REASONS = (
    "unparseable",            # the record could not be split into the header's columns
    "missing_wave",           # the instrument's wave column is blank in this row
    "missing_respondent_id",  # the instrument's respondent id column is blank in this row
    "non_numeric",            # an answer (or weight) is text that is not a number
    "out_of_scale",           # an answer lies outside scale_min..scale_max
    "invalid_weight",         # the sampling weight is missing, negative or zero
    "all_missing",            # not a single item answered
    "duplicate_conflict",     # the same respondent id twice with different answers: all copies
    "duplicate_respondent",   # a later exact copy of an earlier row (same id, same answers)
    "straightlining",         # same answer throughout (only when the instrument asks to quarantine)
)
_CODE = {r: n + 1 for n, r in enumerate(REASONS)}

QUARANTINE_COLUMNS = [SOURCE, SOURCE_ROW, "reason", "column", "value", "duplicate_of"]


@dataclass
class DataQuality:
    """Row accounting of a run (the JSON ``data_quality`` object)."""

    rows_read: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    answers_missing: int = 0
    straightlining: int = 0
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
        rows = self.quarantine[self.quarantine[SOURCE] == file]
        own = [c for c in _renamed(self.columns.get(file, [])) if c in rows.columns]
        return rows[QUARANTINE_COLUMNS + own].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Column helpers


def require_columns(frame: pd.DataFrame, instrument: Instrument, path: Path) -> None:
    """Every column the instrument names must exist; else name the closest existing one."""
    present = list(frame.columns)
    present_set = set(present)
    for column, key in instrument.required_columns():
        if column not in present_set:
            close = difflib.get_close_matches(column, [str(c) for c in present], n=1, cutoff=0.6)
            hint = f"; closest existing column: {close[0]!r}" if close else ""
            raise DataError(f"column named by {key} is not in the file{hint}",
                            file=path, row=instrument.settings.header_rows and 1, column=column)
    duplicated = {c for c in present if present.count(c) > 1} if len(present_set) < len(present) else set()
    used = {c for c, _ in instrument.required_columns()}
    for column in duplicated & used:
        raise DataError("the header names this column more than once; which one holds the "
                        "answers is ambiguous", file=path, row=1, column=column)


def numeric_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN when blank) and a mask of cells holding non-numeric text."""
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return values, np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(series), dtype=bool)
    text = series.astype("string").str.normalize("NFKC").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype="float64",
                                                                        na_value=np.nan)
    bad = np.isnan(values) & ~blank.to_numpy(dtype=bool)
    return values, bad


def text_column(series: pd.Series) -> pd.Series:
    """Labels (ids, waves, segment values) as stripped strings; blank becomes missing."""
    if pd.api.types.is_float_dtype(series.dtype):
        # Excel and SPSS give whole-number codes as floats: 3.0 is the label "3".
        as_int = series.dropna()
        if (as_int == np.floor(as_int)).all():
            series = series.astype("Int64")
    text = series.astype("string").str.strip()
    return text.mask(text == "")


# --------------------------------------------------------------------------------------------
# One file


@dataclass
class _Checked:
    responses: Responses
    quarantine: pd.DataFrame
    quality: DataQuality


def _answer_columns(instrument: Instrument) -> tuple[list[str], list[str], list[str]]:
    items = instrument.items
    adequate = [i.adequate for i in items] if instrument.has_adequate else []
    return [i.expectation for i in items], [i.perception for i in items], adequate


def check_table(raw: RawTable, instrument: Instrument) -> _Checked:
    """Row-level checks of one wide table; duplicates within the file included."""
    frame = raw.frame
    path = raw.path
    require_columns(frame, instrument, path)
    settings = instrument.settings
    n = len(frame)
    code = np.zeros(n, dtype=np.int8)
    bad_column = np.full(n, "", dtype=object)
    bad_value = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, reason: str) -> None:
        code[(code == 0) & mask] = _CODE[reason]

    def flag_cells(cells: np.ndarray, columns: list[str], reason: str) -> None:
        """Flag rows with a bad cell, remembering the first bad column and its raw value."""
        rows = cells.any(axis=1) & (code == 0)
        if not rows.any():
            return
        code[rows] = _CODE[reason]
        first = cells.argmax(axis=1)
        for j in np.unique(first[rows]):
            at = np.flatnonzero(rows & (first == j))
            bad_column[at] = columns[j]
            bad_value[at] = frame[columns[j]].iloc[at].astype("string").fillna("").to_numpy()

    # Labels -------------------------------------------------------------------------------
    meta = pd.DataFrame({SOURCE_ROW: raw.source_rows})
    meta[SOURCE] = pd.Series(str(path), index=meta.index, dtype="category")
    if settings.wave and settings.wave in frame.columns:
        wave = text_column(frame[settings.wave])
        flag(wave.isna().to_numpy(), "missing_wave")
        meta[WAVE] = wave.fillna("").astype("category").array
    else:
        meta[WAVE] = pd.Series(wave_from_filename(path), index=meta.index, dtype="category")
    if settings.respondent_id:
        rid = text_column(frame[settings.respondent_id])
        flag(rid.isna().to_numpy(), "missing_respondent_id")
        meta[RESPONDENT] = rid.fillna("").to_numpy()
    else:
        meta[RESPONDENT] = raw.source_rows.astype(str)
    for seg in settings.segments:
        meta[seg] = text_column(frame[seg]).astype("category").array

    # Answers ------------------------------------------------------------------------------
    e_cols, p_cols, a_cols = _answer_columns(instrument)
    answer_cols = e_cols + p_cols + a_cols
    parsed = [numeric_column(frame[c]) for c in answer_cols]
    values = np.column_stack([v for v, _ in parsed]) if parsed else np.empty((n, 0))
    non_numeric = np.column_stack([b for _, b in parsed]) if parsed else np.empty((n, 0), bool)
    flag_cells(non_numeric, answer_cols, "non_numeric")
    if settings.missing_codes:
        values[np.isin(values, settings.missing_codes)] = np.nan
    with np.errstate(invalid="ignore"):
        outside = (values < settings.scale_min) | (values > settings.scale_max)
    flag_cells(outside, answer_cols, "out_of_scale")

    if settings.sampling_weight:
        weight, weight_text = numeric_column(frame[settings.sampling_weight])
        flag_cells(weight_text[:, None], [settings.sampling_weight], "non_numeric")
        with np.errstate(invalid="ignore"):
            invalid = ~(weight > 0) | ~np.isfinite(weight)
        flag_cells(invalid[:, None], [settings.sampling_weight], "invalid_weight")
        meta[WEIGHT] = weight
    for dim in instrument.dimensions:
        if dim.importance:
            # Importance points are auxiliary: unreadable points make the allocation missing
            # (the statistics count it), they do not cost the respondent's answers.
            meta[importance_column(dim.key)] = numeric_column(frame[dim.importance])[0]
    if settings.overall_satisfaction:
        meta[OVERALL_SATISFACTION] = numeric_column(frame[settings.overall_satisfaction])[0]

    flag(np.isnan(values).all(axis=1), "all_missing")

    # Reverse-score and split into batteries ---------------------------------------------------
    k = len(instrument.items)
    reverse = np.array([i.reverse for i in instrument.items], dtype=bool)
    batteries = [values[:, s * k:(s + 1) * k] for s in range(len(answer_cols) // k)]
    for battery in batteries:
        battery[:, reverse] = settings.scale_min + settings.scale_max - battery[:, reverse]

    responses = Responses(
        item_ids=instrument.item_ids, expectation=batteries[0], perception=batteries[1],
        adequate=batteries[2] if len(batteries) > 2 else None, meta=meta,
        segments=tuple(settings.segments))

    checked = _split(responses, code, bad_column, bad_value, raw, instrument)
    checked.quality.files.append({"file": str(path), "encoding": raw.encoding,
                                  "rows_read": raw.rows_read})
    return checked


def _split(responses: Responses, code: np.ndarray, bad_column: np.ndarray,
           bad_value: np.ndarray, raw: RawTable, instrument: Instrument) -> _Checked:
    """Apply duplicate and straight-lining checks, then split valid rows from quarantined ones."""
    duplicate_of = np.full(len(code), -1, dtype=np.int64)
    if instrument.settings.respondent_id:
        candidates = np.flatnonzero(code == 0)
        reason, first = find_duplicates(responses.take(candidates))
        code[candidates] = np.where(reason > 0, reason, code[candidates])
        duplicate_of[candidates] = first

    straight = straightlining(responses)
    if instrument.settings.quarantine_straightlining:
        code[(code == 0) & straight] = _CODE["straightlining"]

    ok = code == 0
    quality = DataQuality(rows_read=raw.rows_read)
    valid = responses.take(ok)
    quality.rows_valid = len(valid)
    quality.straightlining = int((straight & ok).sum())
    quality.answers_missing = count_missing(valid)

    rejected = ~ok
    frame = raw.frame.loc[rejected].reset_index(drop=True)
    q = pd.DataFrame({
        SOURCE: str(raw.path),
        SOURCE_ROW: responses.meta[SOURCE_ROW].to_numpy()[rejected],
        "reason": np.array(REASONS, dtype=object)[code[rejected] - 1] if rejected.any()
        else np.array([], dtype=object),
        "column": bad_column[rejected],
        "value": bad_value[rejected],
        "duplicate_of": pd.array(np.where(duplicate_of[rejected] >= 0, duplicate_of[rejected], -1),
                                 dtype="Int64").astype("Int64"),
    })
    q["duplicate_of"] = q["duplicate_of"].mask(q["duplicate_of"] < 0)
    if len(raw.unparseable):
        q = pd.concat([q, pd.DataFrame({
            SOURCE: str(raw.path), SOURCE_ROW: raw.unparseable["source_row"].to_numpy(),
            "reason": "unparseable", "column": "", "value": raw.unparseable["text"].to_numpy(),
        })], ignore_index=True)
    quarantine = pd.concat([q, _without_clashes(frame)], axis=1)
    quality.add_rejected(quarantine["reason"])
    quality.check()
    return _Checked(valid, quarantine, quality)


def _renamed(columns) -> list[str]:
    """Original column names, renamed where they clash with the quarantine's own columns."""
    return [f"{c} (original)" if c in QUARANTINE_COLUMNS else c for c in columns]


def _without_clashes(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = _renamed(frame.columns)
    return frame


def find_duplicates(responses: Responses) -> tuple[np.ndarray, np.ndarray]:
    """Reason codes for repeated respondent ids within a wave, and the row of the first copy.

    A later copy with the same answers (and segments, weight, importance) is a
    ``duplicate_respondent``; when the copies differ, none can be trusted and every copy is a
    ``duplicate_conflict``.
    """
    n = len(responses)
    reason = np.zeros(n, dtype=np.int8)
    first_row = np.full(n, -1, dtype=np.int64)
    keys = responses.meta[[WAVE, RESPONDENT]]
    repeated = keys.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return reason, first_row
    idx = np.flatnonzero(repeated)
    sub = responses.take(idx)
    answers = [sub.expectation, sub.perception] + ([sub.adequate] if sub.adequate is not None else [])
    content = pd.DataFrame(np.column_stack(answers))
    others = sub.meta.drop(columns=[SOURCE, SOURCE_ROW, WAVE, RESPONDENT])
    content = pd.concat([content, others.reset_index(drop=True)], axis=1)
    content.columns = [str(c) for c in content.columns]
    digest = pd.util.hash_pandas_object(content, index=False).to_numpy()
    group = sub.meta.groupby([WAVE, RESPONDENT], sort=False).ngroup().to_numpy()
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
    def flat(battery: np.ndarray) -> np.ndarray:
        answered = (~np.isnan(battery)).sum(axis=1)
        with np.errstate(invalid="ignore"), _quiet():
            spread = np.nanmax(battery, axis=1) - np.nanmin(battery, axis=1)
        return (answered >= min_answered) & (spread == 0)

    if responses.expectation.shape[1] < min_answered:
        return np.zeros(len(responses), dtype=bool)
    return flat(responses.expectation) & flat(responses.perception)


def count_missing(responses: Responses) -> int:
    total = int(np.isnan(responses.expectation).sum() + np.isnan(responses.perception).sum())
    if responses.adequate is not None:
        total += int(np.isnan(responses.adequate).sum())
    return total


class _quiet:
    """Silence numpy's 'All-NaN slice' warnings for rows with nothing answered."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# --------------------------------------------------------------------------------------------
# Several files


def validate(tables: Iterable[RawTable], instrument: Instrument) -> Validated:
    """Validate tables (one per file, read lazily) into one set of responses.

    Duplicates are found within each file and then across files of the same wave; in the
    cross-file case the quarantined copy is recorded with its values as parsed.
    """
    parts: list[Responses] = []
    quarantines: list[pd.DataFrame] = []
    quality = DataQuality()
    columns: dict[str, list[str]] = {}
    for raw in tables:
        columns[str(raw.path)] = [str(c) for c in raw.frame.columns]
        checked = check_table(raw, instrument)
        parts.append(checked.responses)
        quarantines.append(checked.quarantine)
        _merge_quality(quality, checked.quality)
    if not parts:
        raise DataError("no survey files given")
    responses = Responses.concat(parts)
    if instrument.settings.respondent_id and len(parts) > 1:
        reason, first = find_duplicates(responses)
        if reason.any():
            drop = reason > 0
            quarantines.append(_as_parsed(responses.take(drop), reason[drop], first[drop],
                                          instrument))
            quality.rows_valid -= int(drop.sum())
            quality.answers_missing -= count_missing(responses.take(drop))
            quality.add_rejected(quarantines[-1]["reason"])
            responses = responses.take(~drop)
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame(
        columns=QUARANTINE_COLUMNS)
    quality.check()
    return Validated(responses=responses, quarantine=quarantine, quality=quality, columns=columns)


def _merge_quality(total: DataQuality, part: DataQuality) -> None:
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


def _as_parsed(rows: Responses, reason: np.ndarray, first: np.ndarray,
               instrument: Instrument) -> pd.DataFrame:
    e_cols, p_cols, a_cols = _answer_columns(instrument)
    data = {SOURCE: rows.meta[SOURCE].to_numpy(), SOURCE_ROW: rows.meta[SOURCE_ROW].to_numpy(),
            "reason": np.array(REASONS, dtype=object)[reason - 1], "column": "", "value": "",
            "duplicate_of": pd.array(np.where(first >= 0, first, -1), dtype="Int64")}
    frame = pd.DataFrame(data)
    frame["duplicate_of"] = frame["duplicate_of"].mask(frame["duplicate_of"] < 0)
    batteries = [(e_cols, rows.expectation), (p_cols, rows.perception)]
    if a_cols:
        batteries.append((a_cols, rows.adequate))
    for cols, arr in batteries:
        for j, c in enumerate(cols):
            frame[c] = arr[:, j]
    settings = instrument.settings
    names = {RESPONDENT: settings.respondent_id, WAVE: settings.wave or WAVE,
             WEIGHT: settings.sampling_weight, OVERALL_SATISFACTION: settings.overall_satisfaction,
             **{importance_column(d.key): d.importance for d in instrument.dimensions}}
    for c in rows.meta.columns:
        if c not in (SOURCE, SOURCE_ROW):
            frame[names.get(c, c)] = rows.meta[c].to_numpy()
    return frame
