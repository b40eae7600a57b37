"""Weak units: a dimension or item in one unit (a segment value: a region, a branch), on the
unit's own evidence: a target set for that unit missed, the unit below the other units of the
benchmarking segment, or the unit's own falling trend (see :mod:`.weak_points`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..models import FALLING
from .evidence import (WeakPoint, trend_facts, alert_of, gap_evidence, material,
                       ordered_evidence, target_evidence, unit_peer_evidence)


def unit_points(dimensions, trends, targets, benchmark, segments, segment_items, config,
                 benchmark_column, instrument) -> list[WeakPoint]:
    """Weak units: a dimension or item in one segment value, on the unit's own evidence (in
    a SERVPERF analysis, its perception: no gap, no material shortfall of its own)."""
    servperf = instrument.servperf
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
                candidates.setdefault(key, {})["target_missed"] = target_evidence(missed)
                unit_targets[key] = missed.to_dict("records")
    if len(benchmark):
        for _, row in benchmark[benchmark["below_peers"]].iterrows():
            key = (row["column"], str(row["unit"]), "dimension", row["dimension"])
            candidates.setdefault(key, {})["below_peers"] = unit_peer_evidence(row)
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
            candidates.setdefault(key, {})["falling_trend"] = trend_facts(row)

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
        gap, perception = row["gap_mean"], row.get("perception_mean", np.nan)
        if not (np.isfinite(perception) if servperf else (np.isfinite(gap) and gap < 0)):
            continue
        dimension = row["dimension"]
        n_all = whole_n.get(dimension, np.nan)
        point = WeakPoint(
            kind="unit", id=f"{ident}@{column}={value}", dimension=dimension, gap_mean=gap,
            item=ident if level == "item" else None, column=column, value=value, n=row["n"],
            gap_ci95_low=row.get("gap_ci95_low"), gap_ci95_high=row.get("gap_ci95_high"),
            perception_mean=perception,
                              perception_ci95_low=row.get("perception_ci95_low"),
                              perception_ci95_high=row.get("perception_ci95_high"),
            shortfall=(instrument.scale_max - perception) if servperf else -gap,
            reach=float(min(1.0, row["n"] / n_all)) if n_all and np.isfinite(n_all) else 1.0)
        if not servperf and material(row, config):
            evidence["negative_gap"] = gap_evidence(row)
        point.evidence = ordered_evidence(evidence)
        point.targets = unit_targets.get((column, value, level, ident), [])
        point.peers = peer_rows.get((column, value, level, ident))
        if level == "dimension" and len(seg_trends):
            trend = seg_trends[(seg_trends["column"] == column) & (seg_trends["value"] == value)
                               & (seg_trends["dimension"] == ident)]
            if len(trend):
                point.direction = trend["direction"].iloc[0]
                point.trend = trend_facts(trend.iloc[0])
            point.alert = alert_of(trends.wave_over_wave, "segment", ident, column, value)
        found.append(point)
    return found
