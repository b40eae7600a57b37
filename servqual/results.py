"""The one results object of a run: computed once, viewed as JSON and as the HTML report.

Tables are tidy DataFrames whose column names are the JSON contract's field names
(contract §4). ``to_json()`` selects and orders those fields; the report reads the same
object, so the two views cannot disagree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .celltext import bound_labels
from .config import AnalysisConfig
from .fields import (BY_WAVE_FIELDS, BY_WAVE_ITEM_FIELDS, DIMENSION_FIELDS, IPA_FIELDS, ITEM_FIELDS,
                     OVERALL_FIELDS, SEGMENT_BY_WAVE_FIELDS, SEGMENT_FIELDS, SEGMENT_ITEM_FIELDS,
                     SEGMENT_TEST_FIELDS, TOLERANCE_FIELDS, TREND_FIELDS, WOW_FIELDS)
from .instrument import Instrument
from .stats.aggregate import Aggregates
from .models import ALL
from .stats.drivers import KEY_DRIVER_FIELDS
from .stats.matrix import PROFILE_FIELDS, SHARE_FIELDS
from .stats.nps import NPS_FIELDS
from .stats.segments import group_sizes, published_groups, segment_rows, withheld_groups
from .stats.tables import OUTCOME_FIELDS, Tables
from .strategy import StrategyBook, direction_strategy, loyalty_strategies, subject_label
from .models import DataQuality

if TYPE_CHECKING:
    from .findings import Findings

SCHEMA_VERSION = 1


def _current(table: pd.DataFrame, wave: str) -> pd.DataFrame:
    """Whole-sample rows of one wave, without the cell columns."""
    rows = table[(table["wave"] == wave) & (table["segment"] == ALL)]
    return rows.drop(columns=["segment", "value"]).reset_index(drop=True)


def _complete(rows: pd.DataFrame, key: str, ids: list[str], wave: str,
              fill: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per id of the instrument, in its order: an id nobody had a score for in the
    wave (an item left unanswered by everyone, a dimension none of whose items was answered)
    is kept, with ``n`` = 0 and its figures undefined, so the report and the JSON still list
    it (and its history) instead of dropping it."""
    if rows[key].tolist() == list(ids):
        return rows
    out = rows.set_index(key).reindex(pd.Index(list(ids), name=key)).reset_index()
    out["wave"] = wave
    out["n"] = out["n"].fillna(0).astype(rows["n"].dtype if len(rows) else "int64")
    for column, values in (fill or {}).items():
        out[column] = out[key].map(values)
    return out[list(rows.columns)]


def current_segments(table: pd.DataFrame, wave: str, config: AnalysisConfig) -> pd.DataFrame:
    """The segment cells of one wave of a gap table, flagged (small base, suppressed)."""
    return segment_rows(table[table["wave"] == wave], config).drop(columns=["wave"])


def of_wave(table: pd.DataFrame, wave: str) -> pd.DataFrame:
    """The rows of one wave, without the wave column."""
    if table.empty:
        return table
    return table[table["wave"] == wave].drop(columns=["wave"]).reset_index(drop=True)


@dataclass
class Results:
    """Everything a run found. DataFrame columns follow the JSON field names."""

    instrument: Instrument
    config: AnalysisConfig
    waves: list[str]
    current_wave: str
    quality: DataQuality
    tables: Tables = field(repr=False)  # every wave and cell
    aggregates: Aggregates = field(repr=False)  # sufficient statistics behind all tables
    items: pd.DataFrame  # current wave, whole sample: one row per item
    dimensions: pd.DataFrame  # current wave, whole sample: one row per dimension
    by_wave: pd.DataFrame  # every wave, whole sample: one row per wave x dimension
    by_wave_items: pd.DataFrame  # every wave, whole sample: one row per wave x item
    overall: dict[str, Any]  # current wave, whole sample
    overall_by_wave: pd.DataFrame
    segments: pd.DataFrame  # current wave: dimension statistics per segment value
    segment_items: pd.DataFrame  # current wave: item statistics per segment value
    segment_tests: pd.DataFrame  # current wave: between-value tests per segment column
    reliability: pd.DataFrame  # current wave: alpha per dimension and battery
    reliability_items: pd.DataFrame  # current wave: alpha-if-deleted, item-rest r
    tolerance: pd.DataFrame  # current wave, whole sample (empty without adequate columns)
    inputs: list[str] = field(default_factory=list)
    # Trends, findings and their recommendations (servqual.run.compute).
    findings: Findings | None = field(default=None, repr=False)
    recommendations: list[dict[str, Any]] = field(default_factory=list, repr=False)
    strategy_book: StrategyBook | None = field(default=None, repr=False)
    _record: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, *, instrument: Instrument, waves: list[str], quality: DataQuality,
              aggregates: Aggregates, tables: Tables, inputs: list[str],
              findings: Findings | None = None, recommendations: list | None = None,
              strategy_book: StrategyBook | None = None) -> Results:
        current = waves[-1]
        config = instrument.analysis
        overall_rows = _current(tables.overall, current)
        overall = overall_rows.iloc[0].to_dict() if len(overall_rows) else {}
        overall.pop("wave", None)

        def segment_part(table: pd.DataFrame) -> pd.DataFrame:
            return current_segments(table, current, config)

        def current_rows(table: pd.DataFrame) -> pd.DataFrame:
            return of_wave(table, current)

        whole = tables.overall[tables.overall["segment"] == ALL]
        return cls(
            instrument=instrument, config=config, waves=waves, current_wave=current,
            quality=quality, tables=tables, aggregates=aggregates,
            items=_complete(_current(tables.items, current), "item", instrument.item_ids,
                            current, {"dimension": dict(instrument.dimension_of_item)}),
            dimensions=_complete(_current(tables.dimensions, current), "dimension",
                                 instrument.dimension_keys, current),
            by_wave=tables.dimensions[tables.dimensions["segment"] == ALL].reset_index(drop=True),
            by_wave_items=tables.items[tables.items["segment"] == ALL].reset_index(drop=True),
            overall=overall,
            overall_by_wave=whole.drop(columns=["segment", "value"]).reset_index(drop=True),
            segments=segment_part(tables.dimensions),
            segment_items=segment_part(tables.items),
            segment_tests=current_rows(tables.segment_tests),
            reliability=current_rows(tables.reliability),
            reliability_items=current_rows(tables.reliability_items),
            tolerance=(_current(tables.tolerance, current) if not tables.tolerance.empty
                       else tables.tolerance),
            inputs=inputs, findings=findings, recommendations=recommendations or [],
            strategy_book=strategy_book,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON results (contract §4), built once: the report of the run, each unit's
        report (as the comparison) and the JSON file read the same record, and must not
        change it."""
        if self._record is None:
            self._record = self.record()
        return self._record

    def record(self) -> dict[str, Any]:
        """The JSON results built afresh (:meth:`to_json` keeps the first)."""
        quality = self.quality.as_dict()
        if self.aggregates.importance is not None:
            quality["importance_allocations"] = self.aggregates.importance.as_dict()
        if self.instrument.extract is not None:  # the CRM extract joined (servqual.behaviour)
            quality["behaviour"] = self.instrument.extract.summary()
        return bound_labels({
            "schema_version": SCHEMA_VERSION,
            "instrument": self.instrument.name,
            # SERVPERF: perceptions only (no expectation for some item), gap fields null
            "method": "servperf" if self.instrument.servperf else "servqual",
            "waves": list(self.waves),
            "current_wave": self.current_wave,
            "weighted": self.instrument.settings.sampling_weight != "",
            # Wilcoxon and Kruskal–Wallis run on counts of respondents, never on weights.
            "rank_tests_weighted": False,
            "data_quality": quality,
            "overall": {k: clean(self.overall.get(k)) for k in OVERALL_FIELDS},
            "dimensions": records(self.dimensions, DIMENSION_FIELDS),
            "items": records(self.items, ITEM_FIELDS),
            "reliability": self.reliability_json(),
            "tolerance": records(self.tolerance, TOLERANCE_FIELDS),
            "by_wave": records(self.by_wave, BY_WAVE_FIELDS),
            "by_wave_items": records(self.by_wave_items, BY_WAVE_ITEM_FIELDS),
            "overall_by_wave": records(self.overall_by_wave, ["wave"] + OVERALL_FIELDS),
            "segments": records(published(self.segments), SEGMENT_FIELDS),
            "segment_items": records(published(self.segment_items), SEGMENT_ITEM_FIELDS),
            "segments_by_wave": records(published(segment_rows(self.tables.dimensions,
                                                               self.config)),
                                        SEGMENT_BY_WAVE_FIELDS),
            "segments_withheld": records(withheld_groups(self.group_sizes, self.config),
                                         ["column", "wave", "values", "n"]),
            "segment_tests": records(self.segment_tests, SEGMENT_TEST_FIELDS),
            "segment_responses": self.segment_responses(),
            "loyalty": self.loyalty_json(),
            "key_drivers": records(self.tables.key_drivers, KEY_DRIVER_FIELDS),
            **self.findings_json(),
            "thresholds": self.config.as_dict(),
        })

    def loyalty_json(self) -> dict[str, Any]:
        """``nps`` (:mod:`.stats.nps`) and ``matrix`` (:mod:`.stats.matrix`): rows of every
        wave, all respondents (``column`` and ``value`` null) then each published segment
        cell."""
        out: dict[str, Any] = {"nps": records(self._cells(self.tables.nps), [
            "wave", "column", "value"] + NPS_FIELDS + ["small_base"]),
            "outcomes": records(self.tables.outcomes, OUTCOME_FIELDS)}
        trends = self.findings.trends if self.findings is not None else None
        for key, table, fields in (("nps_trends", "nps", TREND_FIELDS),
                                   ("nps_change", "nps_change", WOW_FIELDS)):
            rows = getattr(trends, table) if trends is not None else pd.DataFrame()
            if len(rows):  # all respondents: column and value null, as in nps
                whole = (rows["column"] == "").to_numpy()
                rows = rows.assign(column=np.where(whole, None, rows["column"]),
                                   value=np.where(whole, None, rows["value"]))
            out[key] = records(rows, ["column", "value"] + fields)
        axes = self.instrument.loyalty_matrix
        if axes is not None:
            s, loyal = (self.instrument.outcome(k) for k in axes)
            out["matrix"] = {
                "satisfaction": {"outcome": s.key, "high_from": s.high},
                "loyalty": {"outcome": loyal.key, "high_from": loyal.high},
                "basis": self.instrument.score,
                "shares": records(self._cells(self.tables.matrix), [
                    "wave", "column", "value"] + SHARE_FIELDS + ["small_base"]),
                "profiles": records(self._cells(self.tables.matrix_profile), [
                    "wave", "column", "value"] + PROFILE_FIELDS + ["small_base"])}
            matrix = out["matrix"]
            matrix["groups"] = [] if self.strategy_book is None else loyalty_strategies(
                self.strategy_book, self.instrument, matrix["shares"], matrix["profiles"],
                self.current_wave)
        return out

    def _cells(self, table: pd.DataFrame) -> pd.DataFrame:
        """A table's whole-sample rows then its published segment cells, wave by wave."""
        if table.empty:
            return table
        whole = table[table["segment"] == ALL].rename(columns={"segment": "column"})
        whole = whole.assign(column=None, value=None, small_base=False)
        rows = pd.concat([whole, published(segment_rows(table, self.config))],
                         ignore_index=True)
        order = {w: n for n, w in enumerate(self.waves)}
        return rows.iloc[np.lexsort([rows["column"].notna().to_numpy(),
                                     rows["wave"].map(order).to_numpy()])]

    def findings_json(self) -> dict[str, Any]:
        f = self.findings
        if f is None:
            return {}
        book, inst = self.strategy_book, self.instrument
        trends = records(f.trends.dimensions, ["dimension"] + TREND_FIELDS + [
            "perception_" + k for k in TREND_FIELDS] + ["common_items_only"])
        for row in trends:
            row["strategy"] = direction_strategy(book, subject_label("dimension",
                                                                      row["dimension"], inst),
                                                 row, inst.score)
        item_trends = records(f.trends.items, ["item", "dimension"] + TREND_FIELDS)
        for row in item_trends:
            row["strategy"] = direction_strategy(book, subject_label("item", row["item"], inst),
                                                 row, inst.score)
        wow = f.trends.wave_over_wave
        breaks = self.tables.breaks
        return {
            "questionnaire_breaks": records(breaks, list(breaks.columns)),
            "trends": trends,
            "item_trends": item_trends,
            "overall_trends": records(f.trends.overall, ["score"] + TREND_FIELDS),
            "segment_trends": records(f.trends.segments, ["column", "value", "dimension"]
                                      + TREND_FIELDS),
            "wave_over_wave": records(wow, ["level", "dimension", "item", "column", "value"]
                                      + WOW_FIELDS),
            "alerts": records(wow[wow["alert"]] if len(wow) else wow,
                              ["level", "dimension", "item", "column", "value"] + WOW_FIELDS),
            "targets": records(f.targets, list(f.targets.columns)),
            "complaints": records(f.complaints, ["wave", "dimension", "count", "respondents",
                                                 "rate_per_1000"]),
            "complaint_summary": records(f.complaint_summary,
                                         list(f.complaint_summary.columns)),
            "complaints_outside_waves": f.complaints_outside,
            "benchmark": records(f.benchmark, ["column", "dimension", "unit", "n", "gap_mean",
                                               "perception_mean", "rank", "units",
                                               "best_unit", "best_gap", "best_perception",
                                               "average_others", "difference", "p_value",
                                               "p_adjusted", "below_peers"]),
            "peers": records(f.peers, list(f.peers.columns)),
            "importance_performance": records(f.ipa, ["dimension"] + IPA_FIELDS),
            "importance_performance_items": records(f.ipa_items, ["item", "dimension"]
                                                    + IPA_FIELDS),
            "weak_points": [self.weak_point_json(p, r) for p, r in
                            zip(f.weak_points, self.recommendations)],
        }

    @staticmethod
    def weak_point_json(point, recommendation: dict[str, Any]) -> dict[str, Any]:
        return clean({
            "kind": point.kind, "id": point.id, "dimension": point.dimension,
            "item": point.item, "column": point.column, "value": point.value,
            "parent": point.parent,
            "label": recommendation["label"], "n": point.n, "gap_mean": point.gap_mean,
            "perception_mean": point.perception_mean,
            "gap_ci95_low": point.gap_ci95_low, "gap_ci95_high": point.gap_ci95_high,
            "zone": point.zone, "reach": point.reach,
            "priority": point.priority, "score": point.score,
            "evidence": list(point.evidence),
            "evidence_details": {code: {**facts, **recommendation["evidence"][code]}
                                 for code, facts in point.evidence.items()},
            "direction": point.direction or None,
            "customer_class": point.customer_class,
            "alert": point.alert,
            "strategy": recommendation["text"],
            "strategy_parts": recommendation["parts"],
        })

    @property
    def group_sizes(self) -> pd.DataFrame:
        """Respondents per wave and segment value (:func:`.stats.segments.group_sizes`)."""
        return group_sizes(self.aggregates.moments)

    def segment_responses(self) -> list[dict[str, Any]]:
        """Respondents per wave and segment value (those with a perception score): the
        report's "responses by survey mode" and the like. Groups with fewer than
        ``min_cell`` respondents in a wave are left out of that wave (counted in
        ``segments_withheld``)."""
        rows = self.tables.overall[self.tables.overall["segment"] != ALL]
        if rows.empty or "servperf_n" not in rows.columns:
            return []
        rows = rows.rename(columns={"segment": "column", "servperf_n": "n"})
        rows = rows.merge(published_groups(self.group_sizes, self.config),
                          on=["wave", "column", "value"], how="inner")
        return records(rows, ["wave", "column", "value", "n"])

    def reliability_json(self) -> list[dict[str, Any]]:
        out = []
        for row in records(self.reliability, ["dimension", "kind", "n", "k", "alpha",
                                              "alpha_flag"]):
            items = self.reliability_items[
                (self.reliability_items["dimension"] == row["dimension"])
                & (self.reliability_items["kind"] == row["kind"])]
            row["items"] = records(items, ["item", "alpha_if_deleted", "item_rest_r",
                                           "item_mean", "item_sd"])
            out.append(row)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, allow_nan=False)


def clean(value: Any) -> Any:
    """A JSON-safe scalar: numpy types to Python, NaN and ±inf to None."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def published(cells: pd.DataFrame) -> pd.DataFrame:
    """The segment cells that may be published: suppressed cells (fewer than ``min_cell``
    respondents) are left out, figures and name alike."""
    if cells.empty or "suppressed" not in cells.columns:
        return cells
    return cells[~cells["suppressed"].astype(bool)]


def records(frame: pd.DataFrame, fields: list[str]) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts with the given fields, in that order; a field the frame lacks
    (not computable for this run: alpha of a one-respondent wave, say) is ``null``."""
    present = [f for f in fields if f in frame.columns]
    rows = []
    for row in frame[present].itertuples(index=False, name=None):
        values = dict(zip(present, row))
        rows.append({f: clean(values[f]) if f in values else None for f in fields})
    return rows
