"""Findings: facts with evidence — targets, complaints, peers, importance, weak points.

Service evaluation practice (domain.md §2) reads a wave in this order: targets not met,
current status, satisfaction trend, weak points (from item analysis, complaint analysis and
benchmarking), then improvement direction. This package establishes the facts; the words of
the recommendations come from :mod:`servqual.strategy`.

* :mod:`.targets` — service targets, met or missed, and revision;
* :mod:`.complaints` — complaint categories, the complaints file, rates and trends;
* :mod:`.benchmark` — units against each other and the whole against external peers;
* :mod:`.importance` — importance–performance quadrants;
* :mod:`.weak_points` — weak points, their evidence and priority.

This module gathers them: :func:`find` computes all findings of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..instrument import Instrument
from ..models import ALL
from ..stats.trends import TrendTables
from .benchmark import benchmark_units, compare_with_peers, load_peers
from .complaints import complaint_analysis, load_categories, load_complaints
from .importance import importance_performance
from .targets import Target, evaluate_targets, load_targets
from .weak_points import WeakPoint
from .weak_points import weak_points as _weak_points  # the submodule keeps its name

__all__ = ["Findings", "Target", "WeakPoint", "find", "load_categories", "load_complaints",
           "load_peers", "load_targets"]


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


def find(*, tables, aggregates, waves: list[str], instrument: Instrument, trends: TrendTables,
         segments: pd.DataFrame, segment_tests: pd.DataFrame, targets: list[Target],
         complaints: tuple[pd.DataFrame, int] | None, peers: tuple[str, dict] | None,
         benchmark_column: str) -> Findings:
    """All findings of a run (the inputs come from :func:`servqual.run.compute`)."""
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
                            instrument.dimension_keys) \
        if benchmark_column else pd.DataFrame()
    peer_table = compare_with_peers(dims_now, *peers, config) if peers else pd.DataFrame()
    ipa = importance_performance(dims_now, aggregates.moments, current,
                                 bool(instrument.settings.overall_satisfaction))
    points = _weak_points(dimensions=dims_now, items=items_now, trends=trends,
                          targets=target_table, complaints=summary, benchmark=bench,
                          peers=peer_table, segments=segments, segment_tests=segment_tests,
                          instrument=instrument, config=config)
    return Findings(trends=trends, targets=target_table, complaints=complaint_table,
                    complaint_summary=summary, complaints_outside=outside, benchmark=bench,
                    peers=peer_table, ipa=ipa, weak_points=points)
