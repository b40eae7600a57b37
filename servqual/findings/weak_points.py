"""Weak points: shortfalls of practical size, at the level their evidence belongs to.

Three kinds of weak point:

* ``dimension`` — a dimension of the whole sample (the company);
* ``item`` — an item of the whole sample. When its dimension is a weak point the item is
  one only if it stands out: primary evidence its dimension lacks (its own missed target,
  a fall or a below-adequate perception the dimension does not share) or a shortfall worse
  than the dimension's by at least ``weak_min_shortfall``; it is then shown inside the
  dimension's card (``parent`` = the dimension). An item that only repeats its dimension's
  story is no weak point of its own (the card lists the dimension's items and their gaps).
  An item of a dimension that is not a weak point stands alone when it has primary evidence;
* ``unit`` — a dimension (or item) in one unit: a value of the benchmarking segment
  (``benchmark_segment``, a region, a branch) or a segment value a target is set for
  ("Responsiveness in West"). Its numbers are the unit's own (gap, n, confidence interval).

Evidence
--------
*Primary* evidence makes a weak point by itself; *supporting* evidence only adds weight to
one that has primary evidence. Every weak point falls short (gap < 0).

Whole-sample dimensions and items:

* ``negative_gap`` (primary) — a **material** shortfall: the gap is at least
  ``weak_min_shortfall`` scale points below zero *and* significantly below zero after
  adjustment for multiple comparisons. With adequate-service columns (the zone of tolerance)
  a gap whose perception is at or above the adequate level lies inside the zone: it is then
  kept as supporting evidence only, since a perception between the adequate and the desired
  level is the normal state the zone describes;
* ``below_adequate`` (primary) — perception is significantly below the adequate-service
  level (MSA < 0, adjusted within dimensions and within items): the customers' own minimum
  is not reached, which is material by definition;
* ``target_missed`` (primary) — a whole-sample target for it is missed this wave (the target
  is the management's own threshold of practical size);
* ``falling_trend`` (primary) — the gap's trend across waves is ``falling`` (a change of at
  least ``trend_min_change``, see :mod:`servqual.stats.trends`);
* ``complaints`` (supporting, dimensions) — complaints mapped to the dimension rose
  significantly, trend up or are the highest of all dimensions this wave;
* ``key_driver`` (supporting, dimensions) — the dimension drives an outcome significantly
  more than an equal share (:func:`.evidence.key_driver_evidence`): improving it moves
  what customers do and say most;
* ``below_peers`` (supporting, dimensions) — the whole is significantly and by at least
  ``peer_min_difference`` below an external benchmark (``--peers``). In the report of one
  unit of ``--split-by`` the unit is the whole, and its place below the other units of the
  benchmarking segment is primary evidence, as it is for the unit in the whole's report.

Units (primary evidence, all at the unit's own level): ``target_missed`` (a target set for
that segment value), ``below_peers`` (the unit is significantly and meaningfully below the
other units of ``benchmark_segment``) and ``falling_trend`` (the unit's trend falls while the
whole's does not: a fall the whole shares is the whole's, on the dimension's card); a
material ``negative_gap`` of the unit is added as supporting evidence. None of these ever
counts as evidence of the whole-sample dimension or item.

Priority
--------
``score = shortfall × importance × trend × evidence × reach`` with shortfall = −gap (in a
SERVPERF analysis scale_max − perception, the room for improvement), importance = the
dimension's importance weight × the number of dimensions (1 = an equal share; without the
100 points, its items' mean importance rating over that of all dimensions; 1 when
unknown), trend = ``priority_falling_factor`` when falling else 1, evidence =
1 + ``priority_evidence_bonus`` per piece of evidence beyond the first, and reach = the share
of the current wave's respondents the weak point concerns (1 for the whole sample, the unit's
n / the whole's n for a unit). Cards (dimensions, units and items standing alone) are ranked
by score; the items inside a dimension's card follow all cards, in the order of their card,
then by score.

A weak dimension also names the customer class where its shortfall concentrates, if one
clearly does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..instrument import Instrument
from ..models import FALLING
from ..stats.trends import TrendTables
from .evidence import (EVIDENCE, PRIMARY, WeakPoint, alert_of, below_standard, gap_evidence,
                       key_driver_evidence, material, ordered_evidence, perception_evidence,
                       standard_of, target_evidence, trend_facts, unit_peer_evidence)
from .units import unit_points

__all__ = ["EVIDENCE", "WeakPoint", "concentrated_class", "weak_points"]


# --------------------------------------------------------------------------------------------
# Customer classes: where does a shortfall concentrate?


def concentrated_class(segments: pd.DataFrame, tests: pd.DataFrame, instrument: Instrument,
                       dimension: str, overall_gap: float, config: AnalysisConfig
                       ) -> dict[str, Any] | None:
    """The customer class whose gap on a dimension is clearly the worst, if any.

    Clearly: the classes differ (Kruskal–Wallis p < significance) and the worst class's gap
    (a SERVPERF analysis: its perception) is below the whole sample's by at least
    ``peer_min_difference``.
    """
    classes = instrument.customer_classes
    if classes is None or segments.empty or tests.empty:
        return None
    rows = segments[(segments["column"] == classes.column) & (segments["dimension"] == dimension)
                    & ~segments["suppressed"]]
    test = tests[(tests["column"] == classes.column) & (tests["dimension"] == dimension)]
    if rows.empty or test.empty or not test["kruskal_p"].iloc[0] < config.significance:
        return None
    measure = instrument.score
    worst = rows.loc[rows[f"{measure}_mean"].idxmin()]
    key = classes.class_of(worst["value"])
    if key is None or worst[f"{measure}_mean"] > overall_gap - config.peer_min_difference:
        return None
    return {"class": key, "value": str(worst["value"]), "measure": measure,
            f"{measure}_mean": float(worst[f"{measure}_mean"]),
            f"overall_{measure}": float(overall_gap),
            "kruskal_p": float(test["kruskal_p"].iloc[0])}


# --------------------------------------------------------------------------------------------
# Weak points


def _importance_factor(dimensions: pd.DataFrame, items: pd.DataFrame) -> dict[str, float]:
    """Per dimension, its importance relative to an equal share: the 100-point weight × the
    number of dimensions; without allocations, from the items' importance ratings, the mean
    of its items' mean ratings over the mean of all dimensions' (1 when unknown)."""
    if "importance_weight" not in dimensions or dimensions["importance_weight"].isna().all():
        if "importance_mean" not in items or items["importance_mean"].isna().all():
            return {}
        rated = items.groupby("dimension")["importance_mean"].mean().dropna()
        return {d: float(v / rated.mean()) for d, v in rated.items()}
    k = len(dimensions)
    return {d: float(w) * k for d, w in zip(dimensions["dimension"],
                                            dimensions["importance_weight"])
            if np.isfinite(w)}


def _score(point: WeakPoint, importance: dict[str, float], config: AnalysisConfig) -> float:
    falling = config.priority_falling_factor if "falling_trend" in point.evidence else 1.0
    return float(point.shortfall * importance.get(point.dimension, 1.0) * falling
                 * (1 + config.priority_evidence_bonus * (len(point.evidence) - 1))
                 * point.reach)


def weak_points(*, dimensions: pd.DataFrame, items: pd.DataFrame, trends: TrendTables,
                targets: pd.DataFrame, complaints: pd.DataFrame | None,
                benchmark: pd.DataFrame, peers: pd.DataFrame, segments: pd.DataFrame,
                segment_tests: pd.DataFrame, instrument: Instrument, config: AnalysisConfig,
                segment_items: pd.DataFrame | None = None,
                tolerance: pd.DataFrame | None = None,
                benchmark_column: str = "", own_benchmark: pd.DataFrame | None = None,
                drivers: pd.DataFrame | None = None) -> list[WeakPoint]:
    """Every weak point of a wave (dimensions, items, units), in priority order.

    ``tolerance`` holds, per dimension and item (columns ``level``, ``id``), the mean MSA
    (perception − adequate), the mean MSS and the adjusted p-value of MSA < 0
    (``msa_p_adjusted``); empty or None without adequate-service columns.
    ``own_benchmark``: in the report of one unit of ``--split-by``, the whole run's
    benchmarking rows of that unit, its place among the other units (its own evidence).
    """
    importance = _importance_factor(dimensions, items)
    whole = _whole_points(dimensions, items, trends, targets, complaints, peers, segments,
                          segment_tests, instrument, config, tolerance, own_benchmark,
                          key_driver_evidence(drivers))
    units = unit_points(dimensions, trends, targets, benchmark, segments,
                         segment_items if segment_items is not None else pd.DataFrame(),
                         config, benchmark_column, instrument)
    found = whole + units
    for point in found:
        point.score = _score(point, importance, config)
    weak_dims = {p.id: p for p in found if p.kind == "dimension"}
    kept = []
    for point in found:
        card = weak_dims.get(point.dimension) if point.kind == "item" else None
        if card is not None:
            if not _stands_out(point, card, config):
                continue  # its dimension's card tells its story
            point.parent = point.dimension
        kept.append(point)
    found = kept
    cards = sorted((p for p in found if p.parent is None), key=lambda p: -p.score)
    rank = {p.id: n for n, p in enumerate(cards)}
    nested = sorted((p for p in found if p.parent is not None),
                    key=lambda p: (rank[p.parent], -p.score))
    ordered = cards + nested
    for n, point in enumerate(ordered, 1):
        point.priority = n
    return ordered


def _stands_out(item: WeakPoint, dimension: WeakPoint, config: AnalysisConfig) -> bool:
    """Whether an item of a weak dimension has primary evidence of its own: evidence its
    dimension lacks (its own missed target, a fall its dimension does not share …), or a
    shortfall worse than its dimension's by at least ``weak_min_shortfall``."""
    own = (set(item.evidence) - set(dimension.evidence)) & PRIMARY
    if item.zone in ("inside", "above_desired"):
        own.discard("negative_gap")
    worse = (bool({"negative_gap", "low_perception"} & set(item.evidence))
             and item.shortfall >= dimension.shortfall + config.weak_min_shortfall)
    return bool(own) or worse


def _zone(tolerance: pd.DataFrame | None, level: str, ident: str, config: AnalysisConfig
          ) -> tuple[str | None, dict[str, Any] | None]:
    """Where perception lies in the zone of tolerance, and the below-adequate evidence."""
    if tolerance is None or tolerance.empty:
        return None, None
    rows = tolerance[(tolerance["level"] == level) & (tolerance["id"] == ident)]
    if rows.empty or not np.isfinite(rows["msa_mean"].iloc[0]):
        return None, None
    row = rows.iloc[0]
    msa, mss = row["msa_mean"], row["mss_mean"]
    zone = "below_adequate" if msa < 0 else ("above_desired" if mss > 0 else "inside")
    evidence = None
    if msa < 0 and row["msa_p_adjusted"] < config.significance:
        evidence = {"msa": msa, "adequate": row["adequate_mean"],
                    "perception": row["perceived_mean"], "p_adjusted": row["msa_p_adjusted"]}
    return zone, evidence


def _whole_points(dimensions, items, trends, targets, complaints, peers, segments,
                  segment_tests, instrument, config, tolerance, own_benchmark, drivers
                  ) -> list[WeakPoint]:
    """Weak dimensions and items of the whole sample (only whole-sample evidence)."""
    found = []
    series = {"dimension": trends.dimensions.set_index("dimension"),
              "item": trends.items.set_index("item")}
    whole_targets = targets[targets["column"].fillna("") == ""] if len(targets) else targets
    servperf = instrument.servperf
    standard = standard_of(instrument) if servperf else None
    for kind, table in (("dimension", dimensions), ("item", items)):
        if servperf:
            low_p, low = below_standard(table, standard, config)
        for at, (_, row) in enumerate(table.iterrows()):
            gap, perception = row["gap_mean"], row.get("perception_mean", np.nan)
            if servperf and not np.isfinite(perception):
                continue  # not measured
            if not servperf and not (np.isfinite(gap) and gap < 0):
                continue  # no shortfall: never a weak point
            ident = row[kind]
            point = WeakPoint(kind=kind, id=ident, dimension=row["dimension"], gap_mean=gap,
                              item=ident if kind == "item" else None, n=row.get("n"),
                              gap_ci95_low=row.get("gap_ci95_low"),
                              gap_ci95_high=row.get("gap_ci95_high"),
                              perception_mean=perception,
                              perception_ci95_low=row.get("perception_ci95_low"),
                              perception_ci95_high=row.get("perception_ci95_high"),
                              shortfall=(instrument.scale_max - perception) if servperf
                              else -gap)
            evidence: dict[str, dict[str, Any]] = {}
            if servperf and low[at]:
                evidence["low_perception"] = perception_evidence(row, standard, low_p[at])
            if not servperf and material(row, config):
                evidence["negative_gap"] = gap_evidence(row)
            point.zone, below = _zone(tolerance, kind, ident, config)
            if below is not None:
                evidence["below_adequate"] = below
            if ident in series[kind].index:
                trend = series[kind].loc[ident]
                point.direction = trend["direction"]
                point.trend = trend_facts(trend)
                if trend["direction"] == FALLING:
                    evidence["falling_trend"] = dict(point.trend)
            if len(whole_targets):
                missed = whole_targets[(whole_targets["level"] == kind)
                                       & (whole_targets["id"] == ident)
                                       & (whole_targets["met"] == False)]  # noqa: E712
                if len(missed):
                    point.targets = missed.to_dict("records")
                    evidence["target_missed"] = target_evidence(missed)
            if kind == "dimension" and complaints is not None and len(complaints):
                c = complaints.set_index("dimension").loc[ident]
                if c["points_here"]:
                    evidence["complaints"] = {
                        "count": int(c["count"]), "rate_per_1000": c["rate_per_1000"],
                        "wave": c["wave"], "direction": c["direction"],
                        "increase_p": c["increase_p"], "highest_rate": bool(c["highest_rate"])}
            own = own_benchmark[own_benchmark["dimension"] == ident] \
                if kind == "dimension" and own_benchmark is not None and len(own_benchmark) \
                else pd.DataFrame()
            if len(own):
                point.peers = dict(own.iloc[0])
            if len(own) and own["below_peers"].iloc[0]:
                evidence["below_peers"] = unit_peer_evidence(own.iloc[0])
            elif kind == "dimension" and len(peers):
                external = peers[(peers["dimension"] == ident) & peers["below_peers"]]
                if len(external):
                    e = external.iloc[0]
                    evidence["below_peers"] = {
                        "unit": e["peer"], "label": e.get("peer_label"), "gap": e["gap_mean"],
                        "average": e["peer_gap"],
                        "p_adjusted": e["p_value"], "external": True}
            if kind == "dimension" and ident in drivers:
                evidence["key_driver"] = drivers[ident]
            primary = set(evidence) & PRIMARY
            if "below_peers" in evidence and not evidence["below_peers"].get("external"):
                primary.add("below_peers")  # a unit's own report: its place among the units
            if point.zone in ("inside", "above_desired"):
                primary.discard("negative_gap")  # inside the zone: not a weak point by itself
            if not primary:
                continue
            point.evidence = ordered_evidence(evidence)
            if kind == "dimension":
                point.customer_class = concentrated_class(
                    segments, segment_tests, instrument, ident,
                    perception if servperf else gap, config)
            point.alert = alert_of(trends.wave_over_wave, kind, ident)
            found.append(point)
    return found
