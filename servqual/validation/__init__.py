"""Validation: every input row is either analysed or quarantined with one reason.

The rules, each in the module named after it: the reason codes (:class:`servqual.models.
Reason`), the columns a file must have (:mod:`.columns`), the cells (:mod:`.cells`), the
checks of each row (:mod:`.rows`), duplicates (:mod:`.duplicates`), straight-lining
(:mod:`.straightlining`), long layouts (:mod:`.long`), the quarantine (:mod:`.quarantine`)
and the row accounting (:mod:`.accounting`). :func:`check_table` applies them to one table.
"""

from __future__ import annotations

import numpy as np

from ..ingest import RawTable
from ..instrument import Instrument
from ..models import DataQuality, Reason
from . import duplicates
from .accounting import count_missing, file_record
from .checked import Checked
from .columns import absent_outcomes, answer_columns, check_header, resolve_columns
from .long import check_long
from .quarantine import quarantine_rows
from .rows import Flags, Rows, compact, make_responses, read_rows, split_batteries, wide_responses
from .straightlining import straightlining

__all__ = ["Checked", "Overrides", "check_table"]

# Verdicts decided across tables (a respondent in two files of a wave): positions in the
# table, and the reason and first copy's row number of each (:mod:`.duplicates`).
Overrides = tuple[np.ndarray, np.ndarray, np.ndarray]


def check_table(raw: RawTable, instrument: Instrument, overrides: Overrides | None = None,
                ask: np.ndarray | None = None) -> Checked:
    """Every check of one table, duplicates within it included; ``overrides`` replace the
    duplicate verdicts of some rows with those judged across tables; ``ask``: key hashes
    whose rows to describe for that judgement (``Checked.detail``,
    :func:`.duplicates.describe`)."""
    frame = resolve_columns(raw, instrument)
    columns = answer_columns(instrument)
    check_header(raw, frame, columns, instrument)
    rows = read_rows(raw, frame, instrument, columns)
    if instrument.long is not None:
        checked = check_long(raw, rows, instrument)
    else:
        checked = _check_wide(raw, rows, instrument, overrides, ask)
    checked.quality.files.append(file_record(
        raw, checked.quality, absent_outcomes(list(frame.columns), instrument)))
    checked.columns = {str(raw.path): [str(c) for c in raw.frame.columns]}
    return checked


def _check_wide(raw: RawTable, rows: Rows, instrument: Instrument,
                overrides: Overrides | None, ask: np.ndarray | None) -> Checked:
    flags, values = rows.flags, rows.values
    responses = wide_responses(rows, instrument)
    keys = detail = None
    if instrument.settings.respondent_id:
        hashes = duplicates.key_hashes(responses.meta)
        passed = np.flatnonzero(flags.ok)  # the rows the duplicate rule judges
        reason, first = duplicates.find(responses, among=flags.ok, hashes=hashes,
                                        keep=instrument.settings.duplicates)
        _flag_duplicates(flags, reason, first)
        keys = (hashes[passed], passed)  # for the rule across tables
    straight = straightlining(responses, instrument)
    if instrument.settings.quarantine_straightlining:
        flags.flag(straight, "straightlining")
    if keys is not None and ask is not None:
        at = passed[np.isin(keys[0], ask)]
        detail = duplicates.describe(responses.take(at), at, reason[at], first[at],
                                     straight[at] & instrument.settings.quarantine_straightlining)
    if overrides is not None:
        at, override_reason, override_first = overrides
        hit = override_reason > 0
        flags.duplicate_of[at[hit]] = override_first[hit]
        flags.code[at[hit]] = override_reason[hit]
    ok = flags.ok
    valid = responses
    if not ok.all():  # keep the valid rows' answers where they are: no copy of the matrix
        valid = make_responses(split_batteries(compact(values, ok), len(instrument.items)),
                               rows.meta.iloc[np.flatnonzero(ok)].reset_index(drop=True),
                               instrument)
    quality = DataQuality(rows_read=raw.rows_read, rows_valid=len(valid),
                          respondents_valid=len(valid), straightlining=int((straight & ok).sum()),
                          answers_missing=count_missing(valid))
    return Checked(valid, quarantine_rows(raw, flags, quality), quality, keys=keys,
                   detail=detail)


def _flag_duplicates(flags: Flags, reason: np.ndarray, first: np.ndarray) -> None:
    for name in ("duplicate_conflict", "duplicate_respondent"):
        mask = reason == Reason[name]
        flags.duplicate_of[mask & flags.ok] = first[mask & flags.ok]
        flags.flag(mask, name)
