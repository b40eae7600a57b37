"""Per-respondent scores: the measures every other statistic summarises.

For each item, a respondent's expectation (E), perception (P) and gap (G = P − E) count only
when both E and P are answered, so the three means always describe the same people and
``gap_mean == perception_mean − expectation_mean`` holds exactly.

A SERVPERF analysis (Cronin & Taylor 1992; the instrument leaves the expectation out of some
item, :attr:`~servqual.instrument.Instrument.servperf`) measures perception alone: an item's
perception counts whenever it is answered, a dimension's perception is its SERVPERF score
(below), and there is no dimension expectation or gap (NaN). An item that has both columns
keeps its own gap, over the respondents who answered both (its ``gap_n``).

A respondent's dimension score is the mean of their answered (paired) items in it, computed
only when at least ``min_item_share`` of the dimension's items are answered (PZB 1988; the
share follows common practice for scale scores with missing items). The dimension gap is
then the mean of the item gaps, computed as ``(ΣP − ΣE) / count`` so that equal gaps are
equal numbers (rank tests depend on it).

Other per-respondent measures:

* SERVPERF (Cronin & Taylor 1992): perception only, from every answered perception item
  (an expectation is not needed), dimension means with the same minimum share; the overall
  SERVPERF score is the mean of the respondent's dimension perceptions.
* Importance weights: the 100-point allocation as fractions. Allocations whose total is not
  within ``importance_tolerance`` of 100 are rescaled to 100; all-zero, negative or missing
  ones are excluded. The weighted SERVQUAL score of a respondent is Σ w_d · G_d over the
  dimensions they have a gap for, with the weights rescaled to sum to 1 over those.
* Top-2-box and bottom-2-box of an item's perception: 1 when the answer is one of the two
  highest (``≥ scale_max − 1``) or two lowest (``≤ scale_min + 1``) points of the scale, else
  0, over the item's counted perceptions (as above): their means are the shares of
  favourable and unfavourable answers that CX reports show beside the means.
* Zone of tolerance (PZB 1994), when adequate-service columns exist: MSA = P − adequate,
  zone width = desired (the expectation) − adequate, and whether P lies below the adequate
  level, inside the zone, or above the desired level. Only items with all three answers
  count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instrument import Instrument
from ..models import ImportanceCounts
from ..responses import (OVERALL_SATISFACTION, Responses, importance_column,
                         item_importance_column)
from . import kernels
from .matrix import GROUPS, MEASURE, PROFILE, matrix_indicators, profile_scores
from .nps import NPS_IDS, nps_indicators


@dataclass(frozen=True)
class Block:
    """One block of per-respondent scores: ``values[:, j]`` is the score on ``ids[j]``."""

    level: str  # "item", "dimension" or "overall"
    measure: str  # "expectation", "perception", "gap", "msa", ...
    ids: tuple[str, ...]
    values: np.ndarray  # (respondents x len(ids)), NaN where not computable


@dataclass
class Scores:
    """Per-respondent score blocks, and the facts about importance allocations."""

    blocks: list[Block]
    importance: ImportanceCounts | None = None

    def block(self, level: str, measure: str) -> Block:
        for b in self.blocks:
            if b.level == level and b.measure == measure:
                return b
        raise KeyError((level, measure))


def membership(instrument: Instrument) -> np.ndarray:
    """(items x dimensions) 0/1 matrix: which item belongs to which dimension."""
    dims = {d: j for j, d in enumerate(instrument.dimension_keys)}
    m = np.zeros((len(instrument.items), len(dims)))
    for i, item in enumerate(instrument.items):
        m[i, dims[item.dimension]] = 1.0
    return m


def item_dimensions(instrument: Instrument) -> np.ndarray:
    """The position of each item's dimension among the instrument's dimensions (int64)."""
    return np.argmax(membership(instrument), axis=1).astype(np.int64)


def paired_items(responses: Responses, dtype=np.float64, servperf: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item E, P and gap, each NaN unless both E and P are answered; with ``servperf``, P
    wherever it is answered."""
    e = responses.expectation.astype(dtype, copy=False)
    p = responses.perception.astype(dtype, copy=False)
    g = p - e  # NaN wherever either is missing
    missing = np.isnan(g)
    return (np.where(missing, np.nan, e), p if servperf else np.where(missing, np.nan, p), g)


def _sums(values: np.ndarray, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per respondent and dimension: Σ of the answered values and their count, in float64.

    The (respondents x items) work happens in the values' own precision (row sums of scale
    answers are exact in float32); the small (respondents x dimensions) results are float64.
    """
    answered = ~np.isnan(values)
    m = member.astype(values.dtype)
    total = np.where(answered, values, 0) @ m
    count = answered.astype(values.dtype) @ m
    return total.astype(np.float64), count.astype(np.float64)


def _enough(count: np.ndarray, member: np.ndarray, min_share: float) -> np.ndarray:
    needed = min_share * member.sum(axis=0) - 1e-9
    return (count >= needed) & (count > 0)


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
    total, count = _sums(values, member)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = total / count
    means[~_enough(count, member, min_share)] = np.nan
    return means


def importance_weights(responses: Responses, instrument: Instrument
                       ) -> tuple[np.ndarray | None, ImportanceCounts | None]:
    """(respondents x dimensions) importance as fractions, NaN rows where unusable."""
    if not instrument.has_importance:
        return None, None
    return allocations(responses.meta, instrument)


def allocations(meta, instrument: Instrument) -> tuple[np.ndarray, ImportanceCounts]:
    """:func:`importance_weights` from the respondents' meta columns alone."""
    columns = [importance_column(d.key) if d.importance else None for d in instrument.dimensions]
    n = len(meta)
    points = np.column_stack([
        meta[c].to_numpy(dtype=float) if c is not None else np.zeros(n)
        for c in columns])
    weights, counts = np.empty_like(points), np.zeros(4, np.int64)
    kernels.allocation_weights(points, instrument.analysis.importance_tolerance, weights,
                               counts)
    used, rescaled, zero, invalid = counts
    counts = ImportanceCounts(respondents=n, used=int(used), rescaled=int(rescaled),
                              all_zero=int(zero), missing_or_invalid=int(invalid))
    return weights, counts


@dataclass
class DimensionScores:
    """Per-respondent dimension scores (respondents x dimensions), float64, NaN if too few."""

    expectation: np.ndarray
    perception: np.ndarray
    gap: np.ndarray
    servperf: np.ndarray


def dimension_scores(responses: Responses, instrument: Instrument,
                     member: np.ndarray | None = None) -> DimensionScores:
    """Per-respondent dimension scores; ``member`` restricts the items (default: all). In a
    SERVPERF analysis the perception is the SERVPERF score, expectation and gap are NaN."""
    e, p, _ = paired_items(responses)
    member = membership(instrument) if member is None else member
    share = instrument.analysis.min_item_share
    if instrument.servperf:
        servperf = dimension_means(responses.perception.astype(np.float64), member, share)
        none = np.full_like(servperf, np.nan)
        return DimensionScores(expectation=none, perception=servperf, gap=none,
                               servperf=servperf)
    sum_e, count = _sums(e, member)
    sum_p, _ = _sums(p, member)
    enough = _enough(count, member, share)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = DimensionScores(
            expectation=np.where(enough, sum_e / count, np.nan),
            perception=np.where(enough, sum_p / count, np.nan),
            gap=np.where(enough, (sum_p - sum_e) / count, np.nan),
            servperf=dimension_means(responses.perception.astype(np.float64), member, share))
    return scores


def overall_blocks(dims: DimensionScores, responses: Responses, instrument: Instrument
                   ) -> tuple[list[Block], ImportanceCounts | None]:
    """Importance weights, the overall scores of each respondent, and the cross moments of
    importance–performance analysis.

    Overall ids: ``respondents`` (1 for everyone: its n is the number of respondents),
    ``servperf`` (mean of the dimension perceptions), with importance columns
    ``servqual_weighted`` and ``servperf_weighted``, and ``overall_satisfaction`` when the
    instrument names that column. For derived importance, per dimension ``ipa_x`` (the
    perception score), ``ipa_y`` (overall satisfaction, or else the respondent's mean
    perception) and ``ipa_xy`` (their product), over respondents who have both. With items'
    importance ratings, the item block ``importance`` (each rating on the answer scale).
    With outcomes, each outcome's usable answers (overall ``outcome``: how many answered, or
    were matched in the CRM extract), the Net Promoter Score's indicators (:mod:`.nps`) and
    the satisfaction–loyalty matrix's groups and gap profiles (:mod:`.matrix`).
    """
    keys = instrument.dimension_keys
    blocks = []
    servperf = kernels.row_mean(dims.servperf)
    ids = ["respondents", "servperf"]
    values = [np.ones(len(responses)), servperf]
    weights, counts = importance_weights(responses, instrument)
    if weights is not None:
        ids += ["servqual_weighted", "servperf_weighted"]
        values += [kernels.weighted_sum(dims.gap, weights),
                   kernels.weighted_sum(dims.servperf, weights)]
        blocks.append(Block("dimension", "importance", keys, weights))
    criterion = servperf
    if OVERALL_SATISFACTION in responses.meta:
        criterion = responses.meta[OVERALL_SATISFACTION].to_numpy(dtype=float)
        ids.append("overall_satisfaction")
        values.append(criterion)
    blocks.append(Block("overall", "score", tuple(ids), np.column_stack(values)))
    promoters = nps_indicators(responses.meta, instrument)
    if promoters is not None:  # the Net Promoter Score's promoters and detractors (.nps)
        blocks.append(Block("overall", "nps", NPS_IDS, promoters))
    if instrument.outcomes:  # each outcome's usable answers: their n, mean and sd per cell
        blocks.append(Block("overall", "outcome", tuple(o.key for o in instrument.outcomes),
                            np.column_stack([responses.meta[o.meta_column].to_numpy(dtype=float)
                                             for o in instrument.outcomes])))
    groups = matrix_indicators(responses.meta, instrument)
    if groups is not None:  # the satisfaction–loyalty matrix's groups and gap profiles (.matrix)
        blocks.append(Block("overall", MEASURE, GROUPS, groups))
        profiled = dims.perception if instrument.servperf else dims.gap
        blocks += [Block("dimension", m, keys, g)
                   for m, g in zip(PROFILE, profile_scores(groups, profiled))]
    x = dims.perception
    both = ~np.isnan(x) & ~np.isnan(criterion)[:, None]
    y = np.where(both, criterion[:, None], np.nan)
    x = np.where(both, x, np.nan)
    blocks += [Block("dimension", "ipa_x", keys, x), Block("dimension", "ipa_y", keys, y),
               Block("dimension", "ipa_xy", keys, x * y)]
    blocks += box_blocks(responses, instrument)
    if instrument.has_item_importance:  # stated importance ratings, per item
        n = len(responses)
        blocks.append(Block("item", "importance", instrument.item_ids, np.column_stack([
            responses.meta[item_importance_column(i.id)].to_numpy(dtype=float)
            if i.importance else np.full(n, np.nan) for i in instrument.items])))
    return blocks, counts


def box_blocks(responses: Responses, instrument: Instrument) -> list[Block]:
    """Per item, the top-2-box and bottom-2-box indicators of the counted perceptions (those
    :func:`paired_items` keeps): 1 when P ≥ scale max − 1 (P ≤ scale min + 1), else 0; NaN
    where P is not counted. Computed on the answers as stored (no float64 copies)."""
    p = responses.perception
    missing = np.isnan(p) if instrument.servperf else np.isnan(p) | np.isnan(
        responses.expectation)
    top = (p >= instrument.scale_max - 1).astype(np.float64)
    top[missing] = np.nan
    bottom = (p <= instrument.scale_min + 1).astype(np.float64)
    bottom[missing] = np.nan
    return [Block("item", "top2", instrument.item_ids, top),
            Block("item", "bottom2", instrument.item_ids, bottom)]


def score_blocks(responses: Responses, instrument: Instrument) -> Scores:
    """Every per-respondent measure of the analysis, as float blocks (the general path)."""
    e, p, g = paired_items(responses, servperf=instrument.servperf)
    items, keys = instrument.item_ids, instrument.dimension_keys
    dims = dimension_scores(responses, instrument)
    blocks = [
        Block("item", "expectation", items, e),
        Block("item", "perception", items, p),
        Block("item", "gap", items, g),
        Block("dimension", "expectation", keys, dims.expectation),
        Block("dimension", "perception", keys, dims.perception),
        Block("dimension", "gap", keys, dims.gap),
        Block("dimension", "servperf", keys, dims.servperf),
    ]
    extra, counts = overall_blocks(dims, responses, instrument)
    blocks += extra
    if responses.adequate is not None:
        blocks += tolerance_blocks(responses, membership(instrument),
                                   instrument.analysis.min_item_share, items, keys)
    return Scores(blocks=blocks, importance=counts)


def tolerance_blocks(responses: Responses, member: np.ndarray, share: float,
                     item_ids: tuple[str, ...], dims: tuple[str, ...]) -> list[Block]:
    """Zone-of-tolerance measures for items and dimensions (PZB 1994)."""
    desired, perceived, adequate = (np.asarray(a, dtype=np.float64) for a in (
        responses.expectation, responses.perception, responses.adequate))
    complete = ~(np.isnan(desired) | np.isnan(perceived) | np.isnan(adequate))
    d = np.where(complete, desired, np.nan)
    p = np.where(complete, perceived, np.nan)
    a = np.where(complete, adequate, np.nan)
    blocks = _zone_blocks("item", item_ids, d, p, a)
    sum_d, count = _sums(d, member)
    sum_p, _ = _sums(p, member)
    sum_a, _ = _sums(a, member)
    enough = _enough(count, member, share)
    with np.errstate(invalid="ignore", divide="ignore"):
        dd, dp, da = (np.where(enough, s / count, np.nan) for s in (sum_d, sum_p, sum_a))
    return blocks + _zone_blocks("dimension", dims, dd, dp, da)


def _zone_blocks(level: str, ids, desired, perceived, adequate) -> list[Block]:
    present = ~np.isnan(perceived)
    below = perceived < adequate
    above = (perceived > desired) & ~below
    inside = present & ~below & ~above

    def indicator(mask: np.ndarray) -> np.ndarray:
        return np.where(present, mask.astype(np.float64), np.nan)

    return [
        Block(level, "adequate", tuple(ids), adequate),
        Block(level, "msa", tuple(ids), perceived - adequate),
        Block(level, "mss", tuple(ids), perceived - desired),
        Block(level, "zone_width", tuple(ids), desired - adequate),
        Block(level, "below_adequate", tuple(ids), indicator(below)),
        Block(level, "inside_zone", tuple(ids), indicator(inside)),
        Block(level, "above_desired", tuple(ids), indicator(above)),
    ]
