"""Per-respondent scores: the measures every other statistic summarises.

For each item, a respondent's expectation (E), perception (P) and gap (G = P − E) count only
when both E and P are answered, so the three means always describe the same people and
``gap_mean == perception_mean − expectation_mean`` holds exactly.

A respondent's dimension score is the mean of their answered (paired) items in it, computed
only when at least ``min_item_share`` of the dimension's items are answered (PZB 1988; the
share follows common practice for scale scores with missing items). The dimension gap is
then the mean of the item gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instrument import Instrument
from ..responses import Responses


@dataclass(frozen=True)
class Block:
    """One block of per-respondent scores: ``values[:, j]`` is the score on ``ids[j]``."""

    level: str  # "item", "dimension" or "overall"
    measure: str  # "expectation", "perception", "gap", ...
    ids: tuple[str, ...]
    values: np.ndarray  # (respondents x len(ids)), NaN where not computable


def membership(instrument: Instrument) -> np.ndarray:
    """(items x dimensions) 0/1 matrix: which item belongs to which dimension."""
    dims = {d: j for j, d in enumerate(instrument.dimension_keys)}
    m = np.zeros((len(instrument.items), len(dims)))
    for i, item in enumerate(instrument.items):
        m[i, dims[item.dimension]] = 1.0
    return m


def paired_items(responses: Responses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item E, P and gap, each NaN unless both E and P are answered."""
    e, p = responses.expectation, responses.perception
    both = ~(np.isnan(e) | np.isnan(p))
    e = np.where(both, e, np.nan)
    p = np.where(both, p, np.nan)
    return e, p, p - e


def dimension_means(values: np.ndarray, member: np.ndarray, min_share: float) -> np.ndarray:
    """Per respondent and dimension, the mean of the answered items (NaN below the share).

    Parameters
    ----------
    values
        (respondents x items) scores, NaN where not answered.
    member
        (items x dimensions) membership matrix from :func:`membership`.
    min_share
        Minimum share of a dimension's items that must be answered.
    """
    answered = ~np.isnan(values)
    count = answered.astype(np.float64) @ member
    total = np.where(answered, values, 0.0) @ member
    needed = min_share * member.sum(axis=0) - 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        means = total / count
    means[(count < needed) | (count == 0)] = np.nan
    return means


def score_blocks(responses: Responses, instrument: Instrument) -> list[Block]:
    """The per-respondent measures of the gap analysis, item and dimension level."""
    e, p, g = paired_items(responses)
    member = membership(instrument)
    share = instrument.analysis.min_item_share
    items, dims = instrument.item_ids, instrument.dimension_keys
    # One mask for the three dimension measures keeps E, P and G on the same respondents.
    dim_e = dimension_means(e, member, share)
    dim_p = dimension_means(p, member, share)
    blocks = [
        Block("item", "expectation", items, e),
        Block("item", "perception", items, p),
        Block("item", "gap", items, g),
        Block("dimension", "expectation", dims, dim_e),
        Block("dimension", "perception", dims, dim_p),
        Block("dimension", "gap", dims, dim_p - dim_e),
    ]
    return blocks
