"""A questionnaire that changed between waves: the items asked in every wave.

When items were added or dropped between waves, a dimension's score over all its items
means different things in different waves; its trend is taken over the items asked in every
wave only (level ``dimension_common``), from a second pass over the respondents, since
which items those are is known only once every wave has been aggregated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..models import ALL, CROSS_KEYS, CROSS_SUMS, SUMS, WEIGHTED_SUMS, Aggregates
from ..responses import WEIGHT, Responses
from .accumulators import HISTOGRAM_CELL_KEYS, FloatCounter, value_histogram
from .aggregate import tidy
from .cells import CellRows, marginals
from .grouping import group_families, groupings
from .scores import Block, dimension_scores, membership


def item_presence(moments: pd.DataFrame, measure: str = "gap") -> pd.DataFrame:
    """Waves × items: answered pairs (a SERVPERF analysis, ``measure`` perception: answered
    perceptions) in the whole sample (0 where the item was not asked)."""
    rows = moments[(moments["segment"] == ALL) & (moments["level"] == "item")
                   & (moments["measure"] == measure)]
    return rows.pivot_table(index="wave", columns="id", values="n", aggfunc="sum",
                            fill_value=0)


def questionnaire_common(moments: pd.DataFrame, instrument: Instrument) -> np.ndarray | None:
    """Membership of the items asked in every wave, when the questionnaire changed.

    None when every item has answers in every wave (or there is one wave). A dimension with
    no item common to all waves keeps no common score.
    """
    presence = item_presence(moments, instrument.score).reindex(
        columns=list(instrument.item_ids), fill_value=0)
    asked = (presence > 0).to_numpy()
    changed = asked.any(axis=0) & ~asked.all(axis=0)  # asked in some waves, not in others
    if len(presence) < 2 or not changed.any():
        return None
    asked_always = asked.all(axis=0)
    member = membership(instrument)
    return member * asked_always[:, None]


def common_items(responses: Responses, instrument: Instrument, member: np.ndarray
                 ) -> Aggregates:
    """Dimension scores from the items asked in every wave only (level ``dimension_common``,
    ``member`` from :func:`questionnaire_common` over all waves): what dimension trends use
    when the questionnaire changed between waves. A second pass over the respondents, as the
    items asked in every wave are known only once every wave has been aggregated."""
    meta = responses.meta
    weight = meta[WEIGHT].to_numpy(dtype=float) if WEIGHT in meta else None
    dims = dimension_scores(responses, instrument, member=member)
    keys = instrument.dimension_keys
    blocks = [Block("dimension_common", m, keys, getattr(dims, m))
              for m in ("expectation", "perception", "gap")]
    moments, histograms = [], []
    for group in groupings(responses):
        sums_to = group_families(group, whole=not moments)
        counter = FloatCounter(group.size, weight is not None)
        counter.add(blocks, group.code, weight)
        moments.append(marginals(counter.cell_rows(), sums_to))
        histogram = value_histogram(next(b for b in blocks if b.measure == instrument.score),
                                    group.code, group.size)
        histograms.append(marginals(CellRows.from_frame(histogram, HISTOGRAM_CELL_KEYS,
                                                        ["count"]), sums_to))
    sums = SUMS + (WEIGHTED_SUMS if weight is not None else [])
    return tidy(pd.concat(moments, ignore_index=True), pd.concat(histograms, ignore_index=True),
                sums, pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS), None)
