"""Decisions: which trends and wave-over-wave changes a report calls news.

Every trend direction (rising / falling) and every wave-over-wave alert (a drop) and rise a
report shows is decided together, by the two-level Benjamini–Bogomolov procedure at
``alarm_fdr`` (:func:`.multiplicity.two_level_bh`), so that when nothing changed the chance
of any false alarm in a report is at most ``alarm_fdr``. The families:

* each **dimension** heads a family: its score's trend (or wave-over-wave test) is the head;
  its perception trend, its items' and its segment cells' are the members;
* each **overall score** (servqual_unweighted, …) is a head of its own, for trends;
* the **Net Promoter Score** (:mod:`.nps`) heads a family of its own (:data:`NPS_FAMILY`):
  all respondents' NPS is the head, its published segment cells are the members.

A decision also needs a practical size: ``trend_min_change`` (trends) and
``alert_min_change`` (alerts and rises) scale points, ``nps_min_change`` NPS points for the
NPS. An alert is news of a drop, so its hypotheses are one-sided ("no drop": half the
two-sided p-value of a drop, 1 − half of a rise); a rise is the same rule on "no rise".
``p_value`` stays the raw one, ``p_adjusted`` is the decision's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..models import FALLING, FLAT, INSUFFICIENT, RISING
from .multiplicity import two_level_bh

OVERALL_FAMILY = "(overall) "  # the overall scores: each a head of its own (no members)
NPS_FAMILY = "(nps)"  # the Net Promoter Score and its segment cells
NPS_LEVELS = ("nps", "nps_segment")  # wave-over-wave levels of the NPS (head, members)


def decided_directions(p_adjusted, slope, change, waves_ok, min_change, q: float):
    """Rising or falling where the decision (p_adjusted ≤ q) and the practical size agree."""
    decided = (p_adjusted <= q) & (np.abs(change) >= min_change) & waves_ok
    return np.where(decided, np.where(slope > 0, RISING, FALLING), FLAT)


def decide_trends(dimensions: pd.DataFrame, items: pd.DataFrame, segments: pd.DataFrame,
                  overall: pd.DataFrame, config: AnalysisConfig,
                  nps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Decide every trend direction a report shows together, in place.

    The heads are the dimensions' score trends, the overall scores' trends and the NPS
    trend of all respondents (``nps``: rows with ``column`` "" and the segment cells');
    each dimension's perception trend, its items' and its segment cells' trends are its
    family's members, and the NPS segment cells the NPS family's. Adds ``p_adjusted``,
    ``family_p_adjusted`` and ``family_selected`` (``perception_``-prefixed for the
    perception trend); ``direction`` becomes rising or falling only when ``p_adjusted ≤
    alarm_fdr`` and the change reaches ``trend_min_change`` (``nps_min_change`` for the NPS).
    Two-sided: a rise and a fall are both news. Returns the heads (``family``, ``p_value``),
    which the history store needs to decide the series a report does not show.
    """
    def family_of(table: pd.DataFrame, column: str) -> pd.Series | None:
        return table[column].astype(str) if column in table else None

    scale = config.trend_min_change
    parts = [(dimensions, "", family_of(dimensions, "dimension"), True, scale),
             (overall, "", pd.Series([OVERALL_FAMILY + s for s in overall.get(
                 "score", pd.Series(dtype=str)).astype(str)], index=overall.index,
                 dtype=object), True, scale),
             (dimensions, "perception_", family_of(dimensions, "dimension"), False, scale),
             (items, "", family_of(items, "dimension"), False, scale),
             (segments, "", family_of(segments, "dimension"), False, scale)]
    if nps is not None and len(nps):
        parts.append((nps, "", pd.Series(NPS_FAMILY, index=nps.index, dtype=object),
                      (nps["column"] == "").to_numpy(), config.nps_min_change))
    parts = [(t, prefix, fam, np.broadcast_to(head, len(t)), size)
             for t, prefix, fam, head, size in parts
             if len(t) and fam is not None and f"{prefix}p_value" in t]
    if not parts:
        return pd.DataFrame({"family": pd.Series(dtype=object), "p_value": []})
    p = np.concatenate([t[f"{prefix}p_value"].to_numpy(float) for t, prefix, *_ in parts])
    family = np.concatenate([fam.to_numpy(object) for _, _, fam, *_ in parts])
    heads = np.concatenate([head for *_, head, _ in parts])
    decision = two_level_bh(p, family, heads, config.alarm_fdr)
    start = 0
    for table, prefix, _, _, size in parts:
        stop = start + len(table)
        adjusted = decision.p_adjusted[start:stop]
        table[f"{prefix}p_adjusted"] = adjusted
        table[f"{prefix}family_p_adjusted"] = decision.family_p_adjusted[start:stop]
        table[f"{prefix}family_selected"] = decision.family_selected[start:stop]
        direction = table[f"{prefix}direction"]
        table[f"{prefix}direction"] = np.where(
            direction == INSUFFICIENT, INSUFFICIENT,
            decided_directions(adjusted, table[f"{prefix}slope_per_wave"].to_numpy(float),
                               table[f"{prefix}change"].to_numpy(float), True, size,
                               config.alarm_fdr))
        start = stop
    return pd.DataFrame({"family": family[heads], "p_value": p[heads]})


def decide_alerts(wow: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Decide the wave-over-wave alerts, and their mirror the rises, of a report together.

    ``wow`` has a row per test: ``level`` (dimension, item, segment; nps and nps_segment for
    the Net Promoter Score), ``dimension`` (the family: :data:`NPS_FAMILY` for the NPS),
    ``change`` and the two-sided ``p_value``. The dimensions' own tests and the NPS of all
    respondents are the heads. Adds ``p_adjusted``, ``family_p_adjusted``,
    ``family_selected``, ``alert`` (``p_adjusted ≤ alarm_fdr`` and a drop of at least
    ``alert_min_change``, or ``nps_min_change`` NPS points), ``rise_p_adjusted`` and ``rise``
    (the same rule on the hypotheses "no rise"), so the report's ↓ and ↑ beside a change are
    one decision each way. Returns a copy.
    """
    out = wow.copy()
    columns = ("p_adjusted", "family_p_adjusted", "family_selected", "rise_p_adjusted")
    if not len(out):
        for column in columns:
            out[column] = pd.Series(dtype=bool if column == "family_selected" else float)
        out["alert"] = out["rise"] = pd.Series(dtype=bool)
        return out
    half = out["p_value"].to_numpy(float) / 2
    change = out["change"].to_numpy(float)
    family = out["dimension"].astype(str).to_numpy(object)
    heads = out["level"].isin(["dimension", NPS_LEVELS[0]]).to_numpy()
    size = np.where(out["level"].isin(NPS_LEVELS), config.nps_min_change,
                    config.alert_min_change)
    drop = two_level_bh(np.where(change < 0, half, 1 - half), family, heads, config.alarm_fdr)
    rise = two_level_bh(np.where(change > 0, half, 1 - half), family, heads, config.alarm_fdr)
    out["p_adjusted"] = drop.p_adjusted
    out["family_p_adjusted"] = drop.family_p_adjusted
    out["family_selected"] = drop.family_selected
    out["alert"] = (drop.p_adjusted <= config.alarm_fdr) & (change <= -size)
    out["rise_p_adjusted"] = rise.p_adjusted
    out["rise"] = (rise.p_adjusted <= config.alarm_fdr) & (change >= size)
    return out
