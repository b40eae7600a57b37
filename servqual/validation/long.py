"""Long files (one row per respondent × item): rows checked one by one, then per
respondent, then reassembled into respondents.

A bad row is quarantined alone; the respondent's other rows still count, with that item
missing. A respondent whose rows disagree (two answers to one item, two values of a segment
or weight) cannot be trusted: all its rows are set aside (``duplicate_conflict``); a later
exact copy of a row is a ``duplicate_respondent``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ingest import RawTable
from ..ingest.long import assemble, respondents
from ..instrument import Instrument
from ..models import DataQuality
from ..quarantine import SOURCE_ROW
from .accounting import count_missing
from .checked import Checked
from .duplicates import exact_keys, respondent_columns
from .quarantine import ITEM, RESPONDENT_ROW, quarantine_rows
from .rows import Rows, answered_none, make_responses, reverse_score
from .straightlining import straightlining


def check_long(raw: RawTable, rows: Rows, instrument: Instrument) -> Checked:
    """Rows checked one by one, then per respondent, then reassembled into respondents."""
    flags, values, item, meta = rows.flags, rows.values, rows.item, rows.meta
    key = exact_keys(meta)

    # A respondent none of whose rows answers anything.
    live = np.flatnonzero(flags.ok)
    owner, first = respondents(key[live])
    answered = np.bincount(owner, weights=(~answered_none(values[live])).astype(float),
                           minlength=len(first))
    flags.flag(_spread(live, answered[owner] == 0, len(key)), "all_missing")

    # Rows of one respondent that disagree (two answers to one item, or two regions): none
    # can be trusted, so all the respondent's rows are set aside.
    live = np.flatnonzero(flags.ok)
    owner, first = respondents(key[live])
    conflict = np.zeros(len(first), dtype=bool)
    for column in respondent_columns(meta):
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
    reverse_score(batteries, instrument)
    responses = make_responses(batteries, meta.iloc[live[first]].reset_index(drop=True),
                                instrument)
    straight = straightlining(responses, instrument)
    if instrument.settings.quarantine_straightlining:
        flags.flag(_spread(live, straight[owner], len(key)), "straightlining")
        kept = ~straight
        row_kept = kept[owner]
        responses, live = responses.take(kept), live[row_kept]
        owner = (np.cumsum(kept) - 1)[owner[row_kept]]
        straight = np.zeros(len(responses), dtype=bool)
    provenance = pd.DataFrame({RESPONDENT_ROW: owner, SOURCE_ROW: raw.source_rows[live],
                               ITEM: item[live]})
    quality = DataQuality(rows_read=raw.rows_read, rows_valid=len(live),
                          respondents_valid=len(responses), straightlining=int(straight.sum()),
                          answers_missing=count_missing(responses))
    return Checked(responses, quarantine_rows(raw, flags, quality), quality,
                   provenance=provenance)


def _spread(rows: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """A mask over ``n`` rows, true at ``rows[mask]``."""
    out = np.zeros(n, dtype=bool)
    out[rows[mask]] = True
    return out


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
