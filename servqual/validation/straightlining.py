"""Straight-lining: one and the same answer to every item.

A respondent who ticks the same box down the whole questionnaire has not read it. Such rows
are counted in the data quality; the instrument's ``quarantine_straightlining = true``
quarantines them (reason ``straightlining``).
"""

from __future__ import annotations

import numpy as np

from ..instrument import Instrument
from ..responses import Responses

MIN_ANSWERED = 3  # answers a battery needs before a pattern in it means anything


def straightlining(responses: Responses, instrument: Instrument,
                   min_answered: int = MIN_ANSWERED) -> np.ndarray:
    """Respondents who straight-line every battery the instrument asks.

    Notes
    -----
    Respondent *i* straight-lines when, in each battery *B* the instrument asks (E and P; P
    alone when no item has an expectation, SERVPERF), they answered at least
    ``min_answered`` items and ``min_j B_ij == max_j B_ij`` over their answered items. An
    instrument with fewer items than ``min_answered`` has no straight-liners.
    """
    out = np.ones(len(responses), dtype=bool)
    if responses.expectation.shape[1] < min_answered:
        return out & False
    asked = not instrument.servperf or (instrument.long is None
                                        and any(i.expectation for i in instrument.items))
    for battery in ((responses.expectation, responses.perception) if asked
                    else (responses.perception,)):
        answered = (~np.isnan(battery)).sum(axis=1)
        with np.errstate(invalid="ignore"):
            flat = np.fmin.reduce(battery, axis=1) == np.fmax.reduce(battery, axis=1)
        out &= (answered >= min_answered) & flat
    return out
