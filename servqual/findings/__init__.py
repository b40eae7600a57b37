"""Findings: facts with evidence — targets, complaints, peers, importance, weak points.

Service evaluation practice (domain.md §2) reads a wave in this order: targets not met,
current status, satisfaction trend, weak points (from item analysis, complaint analysis and
benchmarking), then improvement direction. This package establishes the facts; the words of
the recommendations come from :mod:`servqual.strategy`.

* :mod:`.targets` — service targets, met or missed, and revision;
* :mod:`.complaints` — complaint categories, the complaints file, rates and trends;
* :mod:`.benchmark` — units against each other and the whole against external peers;
* :mod:`.importance` — importance–performance quadrants;
* :mod:`.weak_points` — weak points and their priority; :mod:`.units` — those of units;
  :mod:`.evidence` — what a weak point and each piece of its evidence hold.

This module gathers them: :func:`find` computes all findings of a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..models import ALL
from ..stats.gaps import adjust_pvalues, paired_t
from ..stats.trends import TrendTables
from .benchmark import benchmark_units, compare_with_peers, load_peers
from .complaints import complaint_analysis, load_categories, load_complaints
from .importance import importance_performance, item_importance_performance
from .targets import Target, evaluate_targets, load_targets, targets_of_unit
from .evidence import WeakPoint
from .weak_points import weak_points as _weak_points  # the submodule keeps its name

__all__ = ["Findings", "Target", "WeakPoint", "find", "load_categories", "load_complaints",
           "load_peers", "load_targets", "targets_of_unit"]


@dataclass
class Findings:
    trends: TrendTables
    targets: pd.DataFrame
    complaints: pd.DataFrame  # per wave and dimension: count, rate (empty without complaints)
    complaint_summary: pd.DataFrame  # per dimension, current wave: trend, evidence
    complaints_outside: int  # complaints dated outside the survey's waves
    benchmark: pd.DataFrame
    peers: pd.DataFrame
    ipa: pd.DataFrame
    weak_points: list[WeakPoint]
    ipa_items: pd.DataFrame = field(default_factory=pd.DataFrame)  # items' stated ratings


def find(*, tables, aggregates, waves: list[str], instrument: Instrument, trends: TrendTables,
         segments: pd.DataFrame, segment_tests: pd.DataFrame, targets: list[Target],
         complaints: tuple[pd.DataFrame, int] | None, peers: tuple[str, dict] | None,
         benchmark_column: str, segment_items: pd.DataFrame | None = None,
         own_benchmark: pd.DataFrame | None = None) -> Findings:
    """All findings of a run (the inputs come from :func:`servqual.run.compute`).

    ``own_benchmark``: in the report of one unit of ``--split-by``, the whole run's
    benchmarking rows of that unit (the unit against the other units); the unit is the
    whole of its own report, so these rows are its whole-sample ``below_peers`` evidence.
    """
    config = instrument.analysis
    current = waves[-1]
    whole = tables.dimensions[(tables.dimensions["segment"] == ALL)]
    dims_now = whole[whole["wave"] == current].reset_index(drop=True)
    items = tables.items
    items_now = items[(items["segment"] == ALL) & (items["wave"] == current)].reset_index(
        drop=True)
    target_table = evaluate_targets(targets, tables, waves, config)

    complaint_table = summary = pd.DataFrame()
    outside = 0
    if complaints is not None:
        rows, outside = complaints
        m = aggregates.moments
        respondents = m[(m["segment"] == ALL) & (m["level"] == "overall")
                        & (m["id"] == "respondents")][["wave", "n"]]
        complaint_table, summary = complaint_analysis(rows, respondents, instrument, waves,
                                                      config)
    bench = benchmark_units(aggregates.moments, benchmark_column, current, config,
                            instrument.dimension_keys, instrument.score) \
        if benchmark_column else pd.DataFrame()
    peer_table = compare_with_peers(dims_now, *peers, config) if peers else pd.DataFrame()
    ipa = importance_performance(dims_now, aggregates.moments, current,
                                 bool(instrument.settings.overall_satisfaction),
                                 tables.key_drivers)
    points = _weak_points(dimensions=dims_now, items=items_now, trends=trends,
                          targets=target_table, complaints=summary, benchmark=bench,
                          peers=peer_table, segments=segments, segment_tests=segment_tests,
                          instrument=instrument, config=config,
                          segment_items=segment_items,
                          tolerance=tolerance_tests(tables.tolerance, current, config),
                          benchmark_column=benchmark_column, own_benchmark=own_benchmark,
                          drivers=tables.key_drivers)
    return Findings(trends=trends, targets=target_table, complaints=complaint_table,
                    complaint_summary=summary, complaints_outside=outside, benchmark=bench,
                    peers=peer_table, ipa=ipa, weak_points=points,
                    ipa_items=item_importance_performance(items_now))


def tolerance_tests(tolerance: pd.DataFrame, wave: str, config) -> pd.DataFrame:
    """Per dimension and item of the whole sample in ``wave``: where perception lies against
    the adequate and desired levels, and the p-value of MSA < 0 (one-sample t-test of
    perception − adequate against 0), adjusted within dimensions and within items
    (``p_adjust``). Empty without adequate-service columns."""
    if tolerance is None or tolerance.empty:
        return pd.DataFrame()
    rows = tolerance[(tolerance["wave"] == wave) & (tolerance["segment"] == ALL)].copy()
    rows["id"] = np.where(rows["level"] == "item", rows.get("item"), rows.get("dimension"))
    test = paired_t(rows["msa_mean"].to_numpy(float), rows["msa_sd"].to_numpy(float),
                    rows["msa_n"].to_numpy(float))
    rows["msa_p_value"] = test["p_value"]
    rows["msa_p_adjusted"] = np.nan
    for level in ("dimension", "item"):
        mask = (rows["level"] == level).to_numpy()
        rows.loc[mask, "msa_p_adjusted"] = adjust_pvalues(rows.loc[mask, "msa_p_value"]
                                                          .to_numpy(float), config.p_adjust)
    return rows[["level", "id", "msa_mean", "mss_mean", "adequate_mean", "perceived_mean",
                 "msa_p_adjusted"]].reset_index(drop=True)
