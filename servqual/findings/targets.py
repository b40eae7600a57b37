"""Service targets (服务目标): loading them, met or missed this wave, and whether to revise.

A target names a dimension, an item or the overall score, a measure (gap or perception) and
a value, for the whole sample or one segment value. A target missed by more than
``target_revise_margin`` for ``target_revise_waves`` waves in a row while perception is
stable is flagged for revision (the target, not the service, may be unrealistic).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import AnalysisConfig, unknown_key_message
from ..errors import InstrumentError
from ..files import read_toml
from ..instrument import Instrument
from ..models import ALL
from ..models import FLAT
from ..stats.trends import classify
from ..waves import time_axis


@dataclass(frozen=True)
class Target:
    level: str  # "dimension", "item" or "overall"
    id: str
    measure: str  # "gap" or "perception"
    value: float
    column: str = ""  # segment column, "" for the whole sample
    segment_value: str = ""
    note: str = ""


def load_targets(path: str | Path, instrument: Instrument) -> list[Target]:
    """Targets from a TOML file of ``[[targets]]`` entries (see surveys/targets.toml)."""
    path = Path(path)
    doc = read_toml(path, "targets")
    for key in doc:
        if key != "targets":
            raise InstrumentError(unknown_key_message(key, ["targets"]), file=path, key=key)
    entries = doc.get("targets", [])
    if not isinstance(entries, list):
        raise InstrumentError("must be a list of [[targets]] tables", file=path, key="targets")
    allowed = ("dimension", "item", "overall", "gap", "perception", "segment", "note")
    out = []
    for n, spec in enumerate(entries):
        where = f"targets[{n}]"

        def fail(message: str, key: str = "") -> None:
            raise InstrumentError(message, file=path, key=f"{where}.{key}" if key else where)

        if not isinstance(spec, dict):
            fail("must be a table")
        for key in spec:
            if key not in allowed:
                fail(unknown_key_message(key, allowed), key)
        subjects = [k for k in ("dimension", "item", "overall") if k in spec]
        if len(subjects) != 1:
            fail("name exactly one of dimension, item or overall = true")
        level = subjects[0]
        ident = spec[level]
        if level == "dimension" and ident not in instrument.dimension_keys:
            fail(unknown_key_message(str(ident), instrument.dimension_keys), level)
        if level == "item" and ident not in instrument.item_ids:
            fail(unknown_key_message(str(ident), instrument.item_ids), level)
        if level == "overall":
            if spec[level] is not True:
                fail("must be true", level)
            ident = "overall"
        measures = [k for k in ("gap", "perception") if k in spec]
        if len(measures) != 1:
            fail("give exactly one target value: gap = … or perception = …")
        value = spec[measures[0]]
        item_gap = level == "item" and next(
            i for i in instrument.items if i.id == ident).expectation
        if measures[0] == "gap" and instrument.servperf and not item_gap:
            fail("this instrument measures perceptions only (SERVPERF): there is no gap to "
                 "hold to a target; set perception = … instead", "gap")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            fail("must be a finite number", measures[0])
        low, high = instrument.scale_min, instrument.scale_max
        if measures[0] == "gap":
            low, high = low - high, high - low
        if not low <= value <= high:  # a typo (55 for 5.5) would be missed or met for ever
            fail(f"{value:g} cannot be reached: a {measures[0]} lies within {low:g} to {high:g} "
                 f"on the instrument's {instrument.scale_min:g}–{instrument.scale_max:g} scale",
                 measures[0])
        column = segment_value = ""
        if "segment" in spec:
            segment = spec["segment"]
            if not isinstance(segment, dict) or len(segment) != 1:
                fail('must name one segment value, like { region = "East" }', "segment")
            (column, segment_value), = segment.items()
            if column not in instrument.segments:
                fail(unknown_key_message(column, instrument.segments), f"segment.{column}")
            segment_value = str(segment_value)
        note = spec.get("note", "")
        if not isinstance(note, str):
            fail("must be text", "note")
        target = Target(level, str(ident), measures[0], float(value), column, segment_value,
                        note)
        same = [t for t in out if (t.level, t.id, t.measure, t.column, t.segment_value) ==
                (target.level, target.id, target.measure, target.column, target.segment_value)]
        if same:  # one met and one missed, side by side
            fail(f"a second {measures[0]} target for the same {level}"
                 + (f" and {column} = {segment_value}" if column else "")
                 + f" (targets[{out.index(same[0])}]): keep one")
        out.append(target)
    return out


def targets_of_unit(targets: list[Target], column: str, value: str) -> list[Target]:
    """The targets of one unit's own report (``--split-by column``, the unit ``value``).

    In that report the unit is the whole: a target set for the unit becomes a whole-sample
    target, and replaces a company-wide target on the same subject and measure; targets of
    the column's other values do not apply (none of their respondents is in the report).
    Company-wide targets without a unit's own version, and targets of other segment columns,
    apply as they are.
    """
    own = [dataclasses.replace(t, column="", segment_value="") for t in targets
           if t.column == column and t.segment_value == value]
    mine = {(t.level, t.id, t.measure) for t in own}
    kept = [t for t in targets if t.column != column
            and not (t.column == "" and (t.level, t.id, t.measure) in mine)]
    return own + kept


def _series(tables, target: Target) -> pd.DataFrame:
    """Per wave, the actual value of a target's measure (and the perception mean)."""
    segment, value = (target.column, target.segment_value) if target.column else (ALL, ALL)
    if target.level == "overall":
        t = tables.overall
        rows = t[(t["segment"] == segment) & (t["value"] == value)]
        actual = rows["servqual_unweighted"] if target.measure == "gap" else rows["servperf"]
        perception = rows["servperf"] if "servperf" in rows else actual
        return pd.DataFrame({"wave": rows["wave"], "actual": actual, "perception": perception})
    t = tables.dimensions if target.level == "dimension" else tables.items
    rows = t[(t["segment"] == segment) & (t["value"] == value) & (t[target.level] == target.id)]
    return pd.DataFrame({"wave": rows["wave"], "actual": rows[f"{target.measure}_mean"],
                         "perception": rows["perception_mean"], "n": rows["n"]})


def evaluate_targets(targets: list[Target], tables, waves: list[str], config: AnalysisConfig
                     ) -> pd.DataFrame:
    """Met or missed in the current wave, by how much, and whether to revise the target."""
    axis = time_axis(waves)
    position = dict(zip(axis.labels, axis.positions))
    rows = []
    for target in targets:
        series = _series(tables, target).dropna(subset=["actual"])
        if "n" in series:  # suppressed cells are not evaluated (privacy)
            series = series[series["n"] >= config.min_cell]
        current = series[series["wave"] == waves[-1]]
        actual = float(current["actual"].iloc[0]) if len(current) else float("nan")
        distance = actual - target.value
        misses = (series["actual"] - target.value) < -config.target_revise_margin
        recent = misses.to_numpy()[::-1]
        streak = int(np.argmin(recent)) if not recent.all() else len(recent)
        stable = classify(series["wave"].map(position), series["perception"],
                          config).direction == FLAT
        rows.append({
            "level": target.level, "id": target.id, "column": target.column,
            "value": target.segment_value, "measure": target.measure, "target": target.value,
            "actual": actual, "distance": distance,
            "met": bool(distance >= 0) if math.isfinite(distance) else None,
            "missed_by_margin_waves": streak, "perception_stable": stable,
            "revise": bool(streak >= config.target_revise_waves and stable),
            "note": target.note})
    return pd.DataFrame(rows, columns=["level", "id", "column", "value", "measure", "target",
                                       "actual", "distance", "met", "missed_by_margin_waves",
                                       "perception_stable", "revise", "note"])
