"""The quarantine: every rejected row, why, and its values as the file holds them.

Columns :data:`servqual.quarantine.QUARANTINE_COLUMNS` (where the row came from, its reason,
the offending column and value, the row of the first copy for a duplicate), then the row's
own values under the file's column names. Every engine puts its pieces together with
:func:`joined`: each file's rows in the file's order, then its unparseable records. A long
layout's respondent set aside after its rows were gathered shows its answers as parsed
(:func:`as_parsed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..ingest import RawTable
from ..instrument import Instrument
from ..models import REASONS, DataQuality
from ..quarantine import QUARANTINE_COLUMNS, SOURCE, SOURCE_ROW
from ..responses import (RESPONDENT, WAVE, WEIGHT, Responses,
                         importance_column, item_importance_column)
from .accounting import add_rejected, check
from .cells import as_written
from .rows import Flags

# Up to this many rows, quarantined rows are copied out of the table by slices.
_FEW_ROWS = 1000
# Long layout: which input row of a respondent each valid row was.
RESPONDENT_ROW, ITEM = "respondent", "item"


def empty_quarantine() -> pd.DataFrame:
    """A quarantine without rows."""
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)


def joined(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """The quarantine of a run from its pieces, whichever engine read them, and where each of
    its rows was in the pieces laid end to end.

    Files in the order they first appear; within a file, the rows by their row in the file
    (``source_row``), then the unparseable records. Cells as the file writes them
    (:func:`.cells.as_written`): a whole number read as a float in one piece and as an integer
    in another is written 5 in both, not 5.0.
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_quarantine(), np.zeros(0, dtype=np.int64)
    together = pd.concat([f.apply(as_written) for f in frames], ignore_index=True)
    files = pd.factorize(together[SOURCE])[0]
    order = np.lexsort((pd.to_numeric(together[SOURCE_ROW]).to_numpy(),
                        (together["reason"] == "unparseable").to_numpy(), files))
    return together.iloc[order].reset_index(drop=True), order


def quarantine_of(quarantine: pd.DataFrame, columns: dict[str, list[str]], file: str
                  ) -> pd.DataFrame:
    """The rejected rows of one input file, with that file's columns (``columns[file]``) only."""
    rows = quarantine[quarantine[SOURCE] == file]
    own = [c for c in renamed(columns.get(file, [])) if c in rows.columns]
    return rows[QUARANTINE_COLUMNS + own].reset_index(drop=True)


def quarantine_rows(raw: RawTable, flags: Flags, quality: DataQuality) -> pd.DataFrame:
    """The rejected rows with their reason, then their original values; fills the counts."""
    rejected = np.flatnonzero(~flags.ok)
    quarantine = rejected_rows(raw, rejected, flags.code[rejected], *flags.cells(rejected),
                               flags.duplicate_of[rejected])
    add_rejected(quality, quarantine["reason"])
    check(quality)
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
    original = original.apply(as_written) if len(original.columns) else original
    return pd.concat([q, original.set_axis(renamed(original.columns), axis=1)], axis=1)


def _rows_of(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows]``; a few rows as slices put together, which leaves Arrow columns of
    many chunks as they are where ``take`` gathers them (a million rows: 4 ms against 20 ms).
    The slices are then copied out: a slice keeps its whole block of the file alive (22 MB
    per 1,000,000-row file for its 8 quarantined rows, held to the end of a run)."""
    if 0 < len(rows) <= _FEW_ROWS:
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


def renamed(columns) -> list[str]:
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

    who = np.arange(len(rows)) if provenance is None else provenance[RESPONDENT_ROW].to_numpy()
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
                if getattr(item, name):  # "": an item without that battery (SERVPERF)
                    frame[getattr(item, name)] = arr[:, j]
    else:
        item = provenance[ITEM].to_numpy()
        frame[instrument.long.item] = np.array([i.long_code for i in instrument.items])[item]
        for name, arr in as_read.items():
            if getattr(instrument.long, name):
                frame[getattr(instrument.long, name)] = arr[who, item]
    names = {RESPONDENT: settings.respondent_id, WAVE: settings.wave or WAVE,
             WEIGHT: settings.sampling_weight,
             **{o.meta_column: o.column for o in instrument.survey_outcomes},
             **{importance_column(d.key): d.importance for d in instrument.dimensions},
             **{item_importance_column(i.id): i.importance for i in instrument.items}}
    joined = {o.meta_column for o in instrument.outcomes if o.from_behaviour}  # not in the file
    for c in rows.meta.columns:
        if c not in (SOURCE, SOURCE_ROW) and c not in joined:
            frame[names.get(c, c)] = rows.meta[c].to_numpy()[who]
    return frame
