"""Row accounting: every input row is either analysed or quarantined, with its reason.

The rule it keeps: ``rows_read == rows_valid + rows_quarantined``, and the counts of the
reasons add up to ``rows_quarantined``, for every file and for the run. Missing answers are
counted too (never averaged as zero).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..ingest import RawTable
from ..models import DataQuality
from ..quarantine import SOURCE
from ..responses import WAVE, Responses


def add_rejected(quality: DataQuality, reasons: pd.Series) -> None:
    """Count quarantined rows by their reason."""
    for reason, count in reasons.value_counts().items():
        quality.quarantine_reasons[str(reason)] += int(count)
    quality.rows_quarantined += len(reasons)


def check(quality: DataQuality) -> None:
    """The invariant of the accounting (a bug when it fails: never the user's mistake)."""
    if quality.rows_read != quality.rows_valid + quality.rows_quarantined:
        raise RuntimeError(f"row accounting broken: {quality.rows_read} read, "
                           f"{quality.rows_valid} valid, {quality.rows_quarantined} quarantined")
    if sum(quality.quarantine_reasons.values()) != quality.rows_quarantined:
        raise RuntimeError("quarantine reasons do not add up to the quarantined rows")


def merge(total: DataQuality, part: DataQuality) -> None:
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


def file_record(raw: RawTable, quality: DataQuality, outcomes_absent: list[str]) -> dict:
    """The entry of one file in ``DataQuality.files``; ``outcomes_absent``: the outcomes whose
    column the file lacks (:func:`.columns.absent_outcomes`)."""
    return {"file": str(raw.path), "kind": raw.kind, "encoding": raw.encoding,
            "platform": raw.platform.name if raw.platform else None,
            "rows_read": quality.rows_read, "rows_valid": quality.rows_valid,
            "rows_quarantined": quality.rows_quarantined,
            "outcomes_absent": list(outcomes_absent)}


def missing_answers(responses: Responses) -> np.ndarray:
    """Each respondent's answers not given (NaN in any battery): the missing answers are
    counted in the data quality, never averaged as zero."""
    batteries = [responses.expectation, responses.perception, responses.adequate]
    return sum(np.isnan(b).sum(axis=1) for b in batteries if b is not None)


def count_missing(responses: Responses) -> int:
    """The missing answers of the respondents analysed (:func:`missing_answers`)."""
    return int(np.sum(missing_answers(responses))) if len(responses) else 0


def by_file_and_wave(responses: Responses, paths: dict[str, int]
                     ) -> Iterator[tuple[int, str, np.ndarray]]:
    """The rows of each (file, wave) among ``responses``: the file's index in ``paths``, the
    wave and the mask of its rows (from the label columns' codes: a million labels as text
    took half a second per batch)."""
    source = responses.meta[SOURCE].astype("category")
    wave = responses.meta[WAVE].astype("category")
    width = len(wave.cat.categories) + 1
    pair = source.cat.codes.to_numpy(np.int64) * width + wave.cat.codes.to_numpy(np.int64) + 1
    for key in np.unique(pair):
        at = int(key) // width, int(key) % width - 1  # -1: no wave label (never valid)
        label = str(wave.cat.categories[at[1]]) if at[1] >= 0 else "nan"
        yield paths[str(source.cat.categories[at[0]])], label, pair == key

