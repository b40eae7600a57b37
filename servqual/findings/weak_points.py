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
``score = shortfall × importance × trend × evidence × reach`` with shortfall = −gap,
importance = the dimension's importance weight × the number of dimensions (1 = an equal
share; 1 when unknown), trend = ``priority_falling_factor`` when falling else 1, evidence =
1 + ``priority_evidence_bonus`` per piece of evidence beyond the first, and reach = the share
of the current wave's respondents the weak point concerns (1 for the whole sample, the unit's
n / the whole's n for a unit). Cards (dimensions, units and items standing alone) are ranked
by score; the items inside a dimension's card follow all cards, in the order of their card,
then by score.

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


EVIDENCE = ("negative_gap", "below_adequate", "falling_trend", "target_missed", "complaints",
            "below_peers")
PRIMARY = frozenset({"negative_gap", "below_adequate", "target_missed", "falling_trend"})
TREND_KEYS = ("direction", "slope_per_wave", "p_value", "change", "waves", "first", "last",
              "observed_first", "observed_last", "first_wave", "last_wave")


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
    if classes is None or segments.empty or tests.empty:
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
    kind: str  # "dimension", "item" or "unit"
    id: str  # dimension or item id; for a unit "<dimension or item>@<column>=<value>"
    dimension: str
    gap_mean: float
    item: str | None = None  # the item of an item weak point or of an item-level unit
    column: str | None = None  # a unit's segment column …
    value: str | None = None  # … and value
    parent: str | None = None  # an item inside its dimension's card: the dimension
    n: float | None = None
    gap_ci95_low: float | None = None
    gap_ci95_high: float | None = None
    reach: float = 1.0
    zone: str | None = None  # zone of tolerance: below_adequate, inside, above_desired
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    score: float = 0.0
    priority: int = 0
    direction: str = ""
    trend: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    customer_class: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None  # a significant drop in the latest wave
    peers: dict[str, Any] | None = None  # a unit's benchmarking row (best unit, average)

    @property
    def subject(self) -> tuple[str, str]:
        """What the weak point is about: ("dimension", id) or ("item", id)."""
        return ("item", self.item) if self.item else ("dimension", self.dimension)


def _importance_factor(dimensions: pd.DataFrame) -> dict[str, float]:
    if "importance_weight" not in dimensions or dimensions["importance_weight"].isna().all():
        return {}
    k = len(dimensions)
    return {d: float(w) * k for d, w in zip(dimensions["dimension"],
                                            dimensions["importance_weight"])
            if np.isfinite(w)}


def _alert(wave_over_wave: pd.DataFrame, level: str, ident: str, column: str | None = None,
           value: str | None = None) -> dict[str, Any] | None:
    if wave_over_wave.empty or level not in set(wave_over_wave["level"]):
        return None
    key = "item" if level == "item" else "dimension"
    rows = wave_over_wave[(wave_over_wave["level"] == level) & wave_over_wave["alert"]
                          & (wave_over_wave[key] == ident)]
    if column is not None:
        rows = rows[(rows["column"] == column) & (rows["value"].astype(str) == value)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {k: row[k] for k in ("previous_wave", "current_wave", "previous_mean",
                                "current_mean", "change", "p_value", "cohens_d")}


def _material(row: pd.Series, config: AnalysisConfig) -> bool:
    """A shortfall of practical size: at least ``weak_min_shortfall`` below zero and
    significantly below zero after adjustment."""
    gap, p = row.get("gap_mean", np.nan), row.get("p_adjusted", np.nan)
    return bool(np.isfinite(gap) and gap <= -config.weak_min_shortfall
                and np.isfinite(p) and p < config.significance)


def _gap_evidence(row: pd.Series) -> dict[str, Any]:
    return {"gap": row["gap_mean"], "ci95_low": row.get("gap_ci95_low"),
            "ci95_high": row.get("gap_ci95_high"), "p_adjusted": row["p_adjusted"]}


def _target_evidence(missed: pd.DataFrame) -> dict[str, Any]:
    worst = missed.loc[missed["distance"].idxmin()]
    return {"measure": worst["measure"], "actual": worst["actual"], "target": worst["target"],
            "distance": worst["distance"], "column": worst["column"] or None,
            "value": worst["value"] or None}


def _unit_peer_evidence(row: pd.Series) -> dict[str, Any]:
    """A unit's place below the other units of the benchmarking segment."""
    return {"unit": row["unit"], "gap": row["gap_mean"], "average": row["average_others"],
            "p_adjusted": row["p_adjusted"], "column": row["column"],
            "best_unit": row["best_unit"], "best_gap": row["best_gap"],
            "rank": row["rank"], "units": row["units"], "external": False}


def _score(point: WeakPoint, importance: dict[str, float], config: AnalysisConfig) -> float:
    falling = config.priority_falling_factor if "falling_trend" in point.evidence else 1.0
    return float(-point.gap_mean * importance.get(point.dimension, 1.0) * falling
                 * (1 + config.priority_evidence_bonus * (len(point.evidence) - 1))
                 * point.reach)


def _ordered(evidence: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {code: evidence[code] for code in EVIDENCE if code in evidence}


def weak_points(*, dimensions: pd.DataFrame, items: pd.DataFrame, trends: TrendTables,
                targets: pd.DataFrame, complaints: pd.DataFrame | None,
                benchmark: pd.DataFrame, peers: pd.DataFrame, segments: pd.DataFrame,
                segment_tests: pd.DataFrame, instrument: Instrument, config: AnalysisConfig,
                segment_items: pd.DataFrame | None = None,
                tolerance: pd.DataFrame | None = None,
                benchmark_column: str = "", own_benchmark: pd.DataFrame | None = None
                ) -> list[WeakPoint]:
    """Every weak point of a wave (dimensions, items, units), in priority order.

    ``tolerance`` holds, per dimension and item (columns ``level``, ``id``), the mean MSA
    (perception − adequate), the mean MSS and the adjusted p-value of MSA < 0
    (``msa_p_adjusted``); empty or None without adequate-service columns.
    ``own_benchmark``: in the report of one unit of ``--split-by``, the whole run's
    benchmarking rows of that unit, its place among the other units (its own evidence).
    """
    importance = _importance_factor(dimensions)
    whole = _whole_points(dimensions, items, trends, targets, complaints, peers, segments,
                          segment_tests, instrument, config, tolerance, own_benchmark)
    units = _unit_points(dimensions, trends, targets, benchmark, segments,
                         segment_items if segment_items is not None else pd.DataFrame(),
                         config, benchmark_column)
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
    worse = ("negative_gap" in item.evidence and item.gap_mean
             <= dimension.gap_mean - config.weak_min_shortfall)
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
                  segment_tests, instrument, config, tolerance, own_benchmark
                  ) -> list[WeakPoint]:
    """Weak dimensions and items of the whole sample (only whole-sample evidence)."""
    found = []
    series = {"dimension": trends.dimensions.set_index("dimension"),
              "item": trends.items.set_index("item")}
    whole_targets = targets[targets["column"].fillna("") == ""] if len(targets) else targets
    for kind, table in (("dimension", dimensions), ("item", items)):
        for _, row in table.iterrows():
            gap = row["gap_mean"]
            if not (np.isfinite(gap) and gap < 0):
                continue  # no shortfall: never a weak point
            ident = row[kind]
            point = WeakPoint(kind=kind, id=ident, dimension=row["dimension"], gap_mean=gap,
                              item=ident if kind == "item" else None, n=row.get("n"),
                              gap_ci95_low=row.get("gap_ci95_low"),
                              gap_ci95_high=row.get("gap_ci95_high"))
            evidence: dict[str, dict[str, Any]] = {}
            if _material(row, config):
                evidence["negative_gap"] = _gap_evidence(row)
            point.zone, below = _zone(tolerance, kind, ident, config)
            if below is not None:
                evidence["below_adequate"] = below
            if ident in series[kind].index:
                trend = series[kind].loc[ident]
                point.direction = trend["direction"]
                point.trend = {k: trend[k] for k in TREND_KEYS}
                if trend["direction"] == FALLING:
                    evidence["falling_trend"] = dict(point.trend)
            if len(whole_targets):
                missed = whole_targets[(whole_targets["level"] == kind)
                                       & (whole_targets["id"] == ident)
                                       & (whole_targets["met"] == False)]  # noqa: E712
                if len(missed):
                    point.targets = missed.to_dict("records")
                    evidence["target_missed"] = _target_evidence(missed)
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
                evidence["below_peers"] = _unit_peer_evidence(own.iloc[0])
            elif kind == "dimension" and len(peers):
                external = peers[(peers["dimension"] == ident) & peers["below_peers"]]
                if len(external):
                    e = external.iloc[0]
                    evidence["below_peers"] = {
                        "unit": e["peer"], "gap": e["gap_mean"], "average": e["peer_gap"],
                        "p_adjusted": e["p_value"], "external": True}
            primary = set(evidence) & PRIMARY
            if "below_peers" in evidence and not evidence["below_peers"].get("external"):
                primary.add("below_peers")  # a unit's own report: its place among the units
            if point.zone in ("inside", "above_desired"):
                primary.discard("negative_gap")  # inside the zone: not a weak point by itself
            if not primary:
                continue
            point.evidence = _ordered(evidence)
            if kind == "dimension":
                point.customer_class = concentrated_class(segments, segment_tests, instrument,
                                                          ident, gap, config)
            point.alert = _alert(trends.wave_over_wave, kind, ident)
            found.append(point)
    return found


def _unit_points(dimensions, trends, targets, benchmark, segments, segment_items, config,
                 benchmark_column) -> list[WeakPoint]:
    """Weak units: a dimension or item in one segment value, on the unit's own evidence."""
    candidates: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
    unit_targets: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    peer_rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    columns_values: set[tuple[str, str]] = set()
    if len(targets):
        own = targets[targets["column"].fillna("") != ""]
        for key, rows in own.groupby(["column", "value", "level", "id"], sort=False):
            columns_values.add((key[0], key[1]))
            if key[2] not in ("dimension", "item"):
                continue  # an overall target of a unit is shown with the targets only
            missed = rows[rows["met"] == False]  # noqa: E712 (None = not evaluable)
            if len(missed):
                candidates.setdefault(key, {})["target_missed"] = _target_evidence(missed)
                unit_targets[key] = missed.to_dict("records")
    if len(benchmark):
        for _, row in benchmark[benchmark["below_peers"]].iterrows():
            key = (row["column"], str(row["unit"]), "dimension", row["dimension"])
            candidates.setdefault(key, {})["below_peers"] = _unit_peer_evidence(row)
            peer_rows[key] = dict(row)
    whole_trends = trends.dimensions.set_index("dimension")["direction"] \
        if len(trends.dimensions) else pd.Series(dtype=object)
    seg_trends = trends.segments
    if len(seg_trends):
        seg_trends = seg_trends.assign(value=seg_trends["value"].astype(str))
        for _, row in seg_trends[seg_trends["direction"] == FALLING].iterrows():
            unit = (row["column"], row["value"])
            if row["column"] != benchmark_column and unit not in columns_values:
                continue  # not a unit: a customer class or a survey mode is not managed
            if whole_trends.get(row["dimension"]) == FALLING:
                continue  # the whole falls too: the whole's trend, on the dimension's card
            key = (*unit, "dimension", row["dimension"])
            candidates.setdefault(key, {})["falling_trend"] = {k: row[k] for k in TREND_KEYS}

    whole_n = dict(zip(dimensions["dimension"], dimensions["n"])) if "n" in dimensions else {}
    cells = {"dimension": segments, "item": segment_items}
    found = []
    for (column, value, level, ident), evidence in candidates.items():
        table = cells[level]
        if table.empty:
            continue
        rows = table[(table["column"] == column) & (table["value"].astype(str) == value)
                     & (table[level] == ident)]
        if "suppressed" in rows:
            rows = rows[~rows["suppressed"].astype(bool)]
        if rows.empty:
            continue  # too few respondents to name the unit (privacy)
        row = rows.iloc[0]
        gap = row["gap_mean"]
        if not (np.isfinite(gap) and gap < 0):
            continue
        dimension = row["dimension"]
        n_all = whole_n.get(dimension, np.nan)
        point = WeakPoint(
            kind="unit", id=f"{ident}@{column}={value}", dimension=dimension, gap_mean=gap,
            item=ident if level == "item" else None, column=column, value=value, n=row["n"],
            gap_ci95_low=row.get("gap_ci95_low"), gap_ci95_high=row.get("gap_ci95_high"),
            reach=float(min(1.0, row["n"] / n_all)) if n_all and np.isfinite(n_all) else 1.0)
        if _material(row, config):
            evidence["negative_gap"] = _gap_evidence(row)
        point.evidence = _ordered(evidence)
        point.targets = unit_targets.get((column, value, level, ident), [])
        point.peers = peer_rows.get((column, value, level, ident))
        if level == "dimension" and len(seg_trends):
            trend = seg_trends[(seg_trends["column"] == column) & (seg_trends["value"] == value)
                               & (seg_trends["dimension"] == ident)]
            if len(trend):
                point.direction = trend["direction"].iloc[0]
                point.trend = {k: trend[k].iloc[0] for k in TREND_KEYS}
            point.alert = _alert(trends.wave_over_wave, "segment", ident, column, value)
        found.append(point)
    return found
