"""Weak points: what falls short with evidence, and the priority of each.

A dimension or item is a **weak point** when it falls short (gap < 0) and at least one
piece of evidence says so:

* ``negative_gap`` — the gap is significantly below zero after adjustment for multiple
  comparisons;
* ``falling_trend`` — the gap's trend across waves is ``falling``;
* ``target_missed`` — a target for it (whole sample or a segment) is missed this wave;
* ``complaints`` — complaints mapped to its dimension rose significantly, trend up, or are the
  highest of all dimensions this wave;
* ``below_peers`` — a unit (``benchmark_segment``) is significantly and meaningfully below
  the other units, or the whole is below an external benchmark.

**Priority** (documented in the README): ``score = shortfall × importance × trend × evidence``
with shortfall = −gap, importance = the dimension's importance weight × the number of
dimensions (1 = an equal share; 1 when unknown), trend = ``priority_falling_factor`` (1.5)
when falling else 1, and evidence = 1 + ``priority_evidence_bonus`` (0.25) per piece of
evidence beyond the first (both in ``[analysis]``, see :class:`servqual.config.AnalysisConfig`).
Dimensions are ranked first (a broad problem), then items, each by score.

A weak dimension also names the customer class where its shortfall concentrates, if one
clearly does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..instrument import Instrument
from ..stats.trends import FALLING, TrendTables


EVIDENCE = ("negative_gap", "falling_trend", "target_missed", "complaints", "below_peers")


# --------------------------------------------------------------------------------------------
# Customer classes: where does a shortfall concentrate?


def concentrated_class(segments: pd.DataFrame, tests: pd.DataFrame, instrument: Instrument,
                       dimension: str, overall_gap: float, config: AnalysisConfig
                       ) -> dict[str, Any] | None:
    """The customer class whose gap on a dimension is clearly the worst, if any.

    Clearly: the classes differ (Kruskal–Wallis p < significance) and the worst class's gap
    is below the whole sample's by at least ``peer_min_difference``.
    """
    classes = instrument.customer_classes
    if classes is None:
        return None
    rows = segments[(segments["column"] == classes.column) & (segments["dimension"] == dimension)
                    & ~segments["suppressed"]]
    test = tests[(tests["column"] == classes.column) & (tests["dimension"] == dimension)]
    if rows.empty or test.empty or not test["kruskal_p"].iloc[0] < config.significance:
        return None
    worst = rows.loc[rows["gap_mean"].idxmin()]
    key = classes.class_of(worst["value"])
    if key is None or worst["gap_mean"] > overall_gap - config.peer_min_difference:
        return None
    return {"class": key, "value": str(worst["value"]), "gap_mean": float(worst["gap_mean"]),
            "overall_gap": float(overall_gap), "kruskal_p": float(test["kruskal_p"].iloc[0])}


# --------------------------------------------------------------------------------------------
# Weak points


@dataclass
class WeakPoint:
    kind: str  # "dimension" or "item"
    id: str
    dimension: str
    gap_mean: float
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    score: float = 0.0
    priority: int = 0
    direction: str = ""
    trend: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    customer_class: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None  # a significant drop in the latest wave


def _importance_factor(dimensions: pd.DataFrame) -> dict[str, float]:
    if "importance_weight" not in dimensions or dimensions["importance_weight"].isna().all():
        return {}
    k = len(dimensions)
    return {d: float(w) * k for d, w in zip(dimensions["dimension"],
                                            dimensions["importance_weight"])
            if np.isfinite(w)}


def _alert(wave_over_wave: pd.DataFrame, kind: str, ident: str) -> dict[str, Any] | None:
    if wave_over_wave.empty or kind not in set(wave_over_wave["level"]):
        return None
    rows = wave_over_wave[(wave_over_wave["level"] == kind) & wave_over_wave["alert"]
                          & (wave_over_wave[kind] == ident)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {k: row[k] for k in ("previous_wave", "current_wave", "previous_mean",
                                "current_mean", "change", "p_value", "cohens_d")}


def weak_points(*, dimensions: pd.DataFrame, items: pd.DataFrame, trends: TrendTables,
                targets: pd.DataFrame, complaints: pd.DataFrame | None,
                benchmark: pd.DataFrame, peers: pd.DataFrame, segments: pd.DataFrame,
                segment_tests: pd.DataFrame, instrument: Instrument, config: AnalysisConfig
                ) -> list[WeakPoint]:
    """Every dimension and item that falls short with evidence, in priority order."""
    alpha = config.significance
    importance = _importance_factor(dimensions)
    dim_trends = trends.dimensions.set_index("dimension")
    item_trends = trends.items.set_index("item")
    found: list[WeakPoint] = []
    for kind, table, key in (("dimension", dimensions, "dimension"), ("item", items, "item")):
        series = dim_trends if kind == "dimension" else item_trends
        for _, row in table.iterrows():
            gap = row["gap_mean"]
            if not (np.isfinite(gap) and gap < 0):
                continue  # no shortfall: never a weak point
            ident = row[key]
            point = WeakPoint(kind=kind, id=ident, dimension=row["dimension"], gap_mean=gap)
            if row["p_adjusted"] < alpha:
                point.evidence["negative_gap"] = {
                    "gap": gap, "ci95_low": row["gap_ci95_low"],
                    "ci95_high": row["gap_ci95_high"], "p_adjusted": row["p_adjusted"]}
            if ident in series.index:
                trend = series.loc[ident]
                point.direction = trend["direction"]
                point.trend = {k: trend[k] for k in (
                    "direction", "slope_per_wave", "p_value", "change", "waves", "first", "last",
                    "observed_first", "observed_last", "first_wave", "last_wave")}
                if trend["direction"] == FALLING:
                    point.evidence["falling_trend"] = dict(point.trend)
            missed = targets[(targets["level"] == kind) & (targets["id"] == ident)
                             & (targets["met"] == False)]  # noqa: E712 (None = not evaluable)
            if len(missed):
                point.targets = missed.to_dict("records")
                worst = missed.loc[missed["distance"].idxmin()]
                point.evidence["target_missed"] = {
                    "measure": worst["measure"], "actual": worst["actual"],
                    "target": worst["target"], "distance": worst["distance"],
                    "column": worst["column"], "value": worst["value"]}
            if kind == "dimension" and complaints is not None and len(complaints):
                c = complaints.set_index("dimension").loc[ident]
                if c["points_here"]:
                    point.evidence["complaints"] = {
                        "count": int(c["count"]), "rate_per_1000": c["rate_per_1000"],
                        "wave": c["wave"], "direction": c["direction"],
                        "increase_p": c["increase_p"], "highest_rate": bool(c["highest_rate"])}
            if kind == "dimension":
                below = benchmark[(benchmark["dimension"] == ident) & benchmark["below_peers"]] \
                    if len(benchmark) else benchmark
                external = peers[(peers["dimension"] == ident) & peers["below_peers"]] \
                    if len(peers) else peers
                if len(below):
                    worst = below.loc[below["difference"].idxmin()]
                    point.evidence["below_peers"] = {
                        "column": worst["column"], "unit": worst["unit"],
                        "gap": worst["gap_mean"], "average": worst["average_others"],
                        "p_adjusted": worst["p_adjusted"], "units_below": int(len(below))}
                elif len(external):
                    e = external.iloc[0]
                    point.evidence["below_peers"] = {
                        "unit": e["peer"], "gap": e["gap_mean"], "average": e["peer_gap"],
                        "p_adjusted": e["p_value"], "external": True}
                point.customer_class = concentrated_class(segments, segment_tests, instrument,
                                                          ident, gap, config)
            if not point.evidence:
                continue
            point.alert = _alert(trends.wave_over_wave, kind, ident)
            falling = config.priority_falling_factor if "falling_trend" in point.evidence \
                else 1.0
            point.score = (-gap * importance.get(point.dimension, 1.0) * falling
                           * (1 + config.priority_evidence_bonus * (len(point.evidence) - 1)))
            found.append(point)
    ordered = sorted(found, key=lambda p: (p.kind != "dimension", -p.score))
    for n, point in enumerate(ordered, 1):
        point.priority = n
    return ordered
