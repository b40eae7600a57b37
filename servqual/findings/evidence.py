"""The evidence of weak points: what a weak point holds, and each piece of evidence as the
report and the JSON show it (:mod:`.weak_points` decides which weak points there are, and
:mod:`.units` those of units)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..models import EVIDENCE

__all__ = ["EVIDENCE", "PRIMARY", "TREND_KEYS", "WeakPoint"]

# Evidence that makes a weak point by itself; the rest only adds weight (see .weak_points).
PRIMARY = frozenset({"negative_gap", "low_perception", "below_adequate", "target_missed",
                     "falling_trend"})
TREND_KEYS = ("direction", "slope_per_wave", "p_value", "p_adjusted", "change", "waves",
              "first", "last", "observed_first", "observed_last", "first_wave", "last_wave")


def trend_facts(row) -> dict[str, Any]:
    """A trend's facts for a weak point's evidence (:data:`TREND_KEYS`; ``p_adjusted``, the
    p-value its direction was decided on, NaN where no family decided it)."""
    return {k: row[k] if k in row else np.nan for k in TREND_KEYS}


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
    perception_mean: float | None = None
    perception_ci95_low: float | None = None
    perception_ci95_high: float | None = None
    # −gap; in a SERVPERF analysis scale_max − perception, the room for improvement
    shortfall: float = 0.0
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


def alert_of(wave_over_wave: pd.DataFrame, level: str, ident: str, column: str | None = None,
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
                                "current_mean", "change", "p_value", "p_adjusted",
                                "cohens_d") if k in row}


def material(row: pd.Series, config: AnalysisConfig) -> bool:
    """A shortfall of practical size: at least ``weak_min_shortfall`` below zero and
    significantly below zero after adjustment."""
    gap, p = row.get("gap_mean", np.nan), row.get("p_adjusted", np.nan)
    return bool(np.isfinite(gap) and gap <= -config.weak_min_shortfall
                and np.isfinite(p) and p < config.significance)


def standard_of(instrument) -> float:
    """The perception standard of a SERVPERF analysis: ``servperf_standard``, else the
    midpoint of the answer scale."""
    standard = instrument.analysis.servperf_standard
    return float(standard if standard is not None
                 else (instrument.scale_min + instrument.scale_max) / 2)


def below_standard(table: pd.DataFrame, standard: float, config: AnalysisConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    """SERVPERF's material shortfall, for the rows of one tested family (a wave's dimensions,
    or its items): the p-value of ``perception_mean ≠ standard`` (one-sample t on the
    perception's standard error, :func:`servqual.stats.gaps.paired_t`), adjusted across the
    rows by ``p_adjust``, and whether each falls short materially: at least
    ``weak_min_shortfall`` below the standard and significant."""
    from ..stats.gaps import adjust_pvalues, paired_t

    mean = table["perception_mean"].to_numpy(float)
    n = table["n"].to_numpy(float)
    p = paired_t(mean - standard, table["perception_sd"].to_numpy(float), n,
                 table["perception_se"].to_numpy(float))["p_value"]
    adjusted = adjust_pvalues(p, config.p_adjust)
    with np.errstate(invalid="ignore"):
        low = (mean <= standard - config.weak_min_shortfall) & (adjusted < config.significance)
    return adjusted, low


def perception_evidence(row: pd.Series, standard: float, p_adjusted: float) -> dict[str, Any]:
    return {"perception": row["perception_mean"], "standard": standard,
            "ci95_low": row.get("perception_ci95_low"),
            "ci95_high": row.get("perception_ci95_high"), "p_adjusted": p_adjusted}


def gap_evidence(row: pd.Series) -> dict[str, Any]:
    return {"gap": row["gap_mean"], "ci95_low": row.get("gap_ci95_low"),
            "ci95_high": row.get("gap_ci95_high"), "p_adjusted": row["p_adjusted"]}


def target_evidence(missed: pd.DataFrame) -> dict[str, Any]:
    worst = missed.loc[missed["distance"].idxmin()]
    return {"measure": worst["measure"], "actual": worst["actual"], "target": worst["target"],
            "distance": worst["distance"], "column": worst["column"] or None,
            "value": worst["value"] or None}


def unit_peer_evidence(row: pd.Series) -> dict[str, Any]:
    """A unit's place below the other units of the benchmarking segment (by its gap, or by
    a SERVPERF analysis' perception: keys ``perception`` and ``best_perception``)."""
    measure = "gap" if "gap_mean" in row else "perception"
    return {"unit": row["unit"], measure: row[f"{measure}_mean"],
            "average": row["average_others"],
            "p_adjusted": row["p_adjusted"], "column": row["column"],
            "best_unit": row["best_unit"], f"best_{measure}": row[f"best_{measure}"],
            "rank": row["rank"], "units": row["units"], "external": False}


def key_driver_evidence(drivers: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """The dimensions that drive an outcome significantly more than an equal share: among
    the perception key drivers (:mod:`..stats.drivers`) of every outcome, those where the
    lower end of the weight's bootstrap interval lies above R² / k (k dimensions). Evidence
    ``key_driver`` of each such dimension, by dimension, naming the outcome it exceeds its
    equal share of by most (the first in satisfaction, recommend, repurchase on a tie)."""
    from ..instrument.outcomes import OUTCOMES

    if drivers is None or drivers.empty:
        return {}
    rows = drivers[(drivers["basis"] == "perception") & drivers["raw_weight"].notna()]
    found: dict[str, dict[str, Any]] = {}
    for outcome in OUTCOMES:
        chosen = rows[rows["outcome"] == outcome]
        if not len(chosen):
            continue
        equal = chosen["r_squared"].iloc[0] / len(chosen)
        for r in chosen.to_dict("records"):
            margin = r["ci95_low"] - equal
            if margin > 0 and margin > found.get(r["dimension"], {}).get("margin", 0):
                found[r["dimension"]] = {
                    "outcome": outcome, "weight": r["raw_weight"], "ci95_low": r["ci95_low"],
                    "ci95_high": r["ci95_high"], "equal_share": equal,
                    "r_squared": r["r_squared"], "margin": margin}
    for facts in found.values():
        facts.pop("margin")
    return found


def ordered_evidence(evidence: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {code: evidence[code] for code in EVIDENCE if code in evidence}


def decided_p(facts: dict) -> float | None:
    """The p-value a trend direction or an alert was decided on: adjusted within its family
    (:func:`servqual.stats.multiplicity.two_level_bh`), else the test's own."""
    adjusted = facts.get("p_adjusted")
    if adjusted is not None and np.isfinite(adjusted):
        return adjusted
    return facts.get("p_value")
