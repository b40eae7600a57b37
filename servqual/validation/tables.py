"""Several tables validated together, as one set of respondents.

Used where the respondents of several files must be judged together in one place: a long
layout (a respondent's rows may lie in several files) and value segments derived from value
scores (each wave split at the medians of all its respondents). Everywhere else the engines
validate a file at a time and settle the duplicates across files by :mod:`.duplicates`.
A respondent found again in another file of the same wave is quarantined there with all its
rows, with the values as parsed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ingest import RawTable
from ..instrument import Instrument
from ..models import DataQuality
from ..quarantine import QUARANTINE_COLUMNS, SOURCE
from ..responses import Responses
from ..value_segments import derive_value_segment
from . import check_table, duplicates
from .accounting import add_rejected, check, count_missing, merge
from .checked import Checked
from .quarantine import RESPONDENT_ROW, as_parsed


def check_tables(tables: Iterable[RawTable], instrument: Instrument) -> Checked:
    """Every check of each table, then the duplicates across them; value segments derived
    over all the respondents of each wave."""
    parts: list[Checked] = []
    quarantines: list[pd.DataFrame] = []
    quality = DataQuality()
    columns: dict[str, list[str]] = {}
    for raw in tables:
        checked = check_table(raw, instrument)
        parts.append(checked)
        quarantines.append(checked.quarantine)
        merge(quality, checked.quality)
        columns.update(checked.columns)
    if not parts:
        raise DataError("no survey files given")
    responses = Responses.concat([p.responses for p in parts])
    if instrument.settings.respondent_id and len(parts) > 1:
        reason, first = duplicates.find(responses, keep=instrument.settings.duplicates)
        if reason.any():
            drop = reason > 0
            dropped = responses.take(drop)
            rows = as_parsed(dropped, reason[drop], first[drop], instrument,
                             _provenance(parts, drop))
            quarantines.append(rows)
            quality.rows_valid -= len(rows)
            quality.respondents_valid -= len(dropped)
            quality.answers_missing -= count_missing(dropped)
            add_rejected(quality, rows["reason"])
            move_to_quarantine(quality, rows[SOURCE])
            responses = responses.take(~drop)
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame(
        columns=QUARANTINE_COLUMNS)
    check(quality)
    return Checked(derive_value_segment(responses, instrument), quarantine, quality,
                   columns=columns)


def move_to_quarantine(quality: DataQuality, sources: pd.Series) -> None:
    """Per-file counts after rows of a file were quarantined as copies from another file."""
    moved = sources.value_counts()
    for entry in quality.files:
        count = int(moved.get(entry["file"], 0))
        entry["rows_valid"] -= count
        entry["rows_quarantined"] += count


def _provenance(parts: list[Checked], drop: np.ndarray) -> pd.DataFrame | None:
    """Long layout: the input rows of the dropped respondents (numbered as in ``drop``'s
    subset), each with its item; ``None`` for wide files (one row per respondent)."""
    if parts[0].provenance is None:
        return None
    offsets = np.cumsum([0] + [len(p.responses) for p in parts[:-1]])
    rows = pd.concat([p.provenance.assign(**{RESPONDENT_ROW: p.provenance[RESPONDENT_ROW] + o})
                      for p, o in zip(parts, offsets)], ignore_index=True)
    renumber = np.cumsum(drop) - 1
    rows = rows[drop[rows[RESPONDENT_ROW].to_numpy()]]
    return rows.assign(**{RESPONDENT_ROW: renumber[rows[RESPONDENT_ROW].to_numpy()]})
