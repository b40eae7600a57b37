"""Outcomes (contract §6): the ratings satisfaction is meant to move.

``[outcomes.satisfaction]`` (overall satisfaction), ``[outcomes.recommend]`` (likelihood to
recommend, 0–10: the Net Promoter Score) and ``[outcomes.repurchase]`` (intention to buy again
or continue), each with its ``column``, ``scale_min`` and ``scale_max`` and optionally a
``label`` per language::

    [outcomes.recommend]
    column = "ltr"
    scale_min = 0
    scale_max = 10

An outcome is auxiliary: an answer that is not a number on its scale is left out of that
outcome's statistics (their n counts the usable answers only); it does not cost the
respondent's SERVQUAL answers. The instrument's missing codes mean "no answer" only outside an outcome's scale: a 0
is a real answer on the 0–10 recommend scale.

The older ``overall_satisfaction = "COLUMN"`` of ``[instrument]`` names the satisfaction
outcome without a scale (every number is taken, as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import unknown_key_message
from ..errors import InstrumentError
from .labels import Text, parse_text

OUTCOMES = ("satisfaction", "recommend", "repurchase")
KEYS = ("column", "scale_min", "scale_max", "label")
NPS_SCALE = (0, 10)  # the likelihood-to-recommend question of the Net Promoter Score


@dataclass(frozen=True)
class Outcome:
    """One outcome rating: its column and, when given, its scale (``None``: any number)."""

    key: str
    column: str
    scale_min: float | None = None
    scale_max: float | None = None
    label: Text = field(default_factory=dict)

    @property
    def meta_column(self) -> str:
        """The column of the validated rows that holds it (:mod:`servqual.responses`)."""
        return outcome_column(self.key)


def outcome_column(key: str) -> str:
    """The validated rows' column of an outcome (satisfaction keeps its older name)."""
    return "overall_satisfaction" if key == "satisfaction" else f"outcome:{key}"


def usable(values: np.ndarray, outcome: Outcome) -> np.ndarray:
    """The answers of an outcome as the statistics read them: NaN where the cell is not a
    number on the outcome's scale (and, on the 0–10 recommend scale, not a whole number:
    promoters are 9–10, detractors 0–6, nothing lies between)."""
    values = np.asarray(values, dtype=np.float64).copy()
    if outcome.scale_min is not None:
        with np.errstate(invalid="ignore"):
            off = ~((values >= outcome.scale_min) & (values <= outcome.scale_max))
            if outcome.key == "recommend":
                off |= values != np.round(values)
        values[off] = np.nan
    return values


def parse_outcomes(table: Any, overall_satisfaction: str, path: Path) -> tuple[Outcome, ...]:
    """The ``[outcomes.*]`` tables, in the order of :data:`OUTCOMES`; with the older
    ``overall_satisfaction`` setting as the satisfaction outcome when no table names one."""
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise InstrumentError("must be tables like [outcomes.recommend]", file=path,
                              key="outcomes")
    for key in table:
        if key not in OUTCOMES:
            raise InstrumentError(unknown_key_message(key, OUTCOMES), file=path,
                                  key=f"outcomes.{key}")
    out = []
    for key in OUTCOMES:
        if key in table:
            out.append(_parse_one(key, table[key], path))
        elif key == "satisfaction" and overall_satisfaction:
            out.append(Outcome("satisfaction", overall_satisfaction))
    satisfaction = next((o for o in out if o.key == "satisfaction"), None)
    if (satisfaction is not None and overall_satisfaction
            and satisfaction.column != overall_satisfaction):
        raise InstrumentError(
            f"names {satisfaction.column!r}, but [instrument] overall_satisfaction names "
            f"{overall_satisfaction!r}; keep one of them", file=path,
            key="outcomes.satisfaction.column")
    return tuple(out)


def _parse_one(key: str, spec: Any, path: Path) -> Outcome:
    where = f"outcomes.{key}"
    if not isinstance(spec, dict):
        raise InstrumentError("must be a table with column, scale_min and scale_max",
                              file=path, key=where)
    for name in spec:
        if name not in KEYS:
            raise InstrumentError(unknown_key_message(name, KEYS), file=path,
                                  key=f"{where}.{name}")
    column = spec.get("column")
    if not isinstance(column, str) or not column.strip():
        raise InstrumentError("must name the column of the data that holds it", file=path,
                              key=f"{where}.column")
    scale = []
    for bound in ("scale_min", "scale_max"):
        value = spec.get(bound)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InstrumentError("must be a number (the lowest and highest answer)",
                                  file=path, key=f"{where}.{bound}")
        scale.append(float(value))
    if scale[0] >= scale[1]:
        raise InstrumentError(f"scale_min {scale[0]:g} must be below scale_max {scale[1]:g}",
                              file=path, key=f"{where}.scale_min")
    if key == "recommend" and tuple(scale) != NPS_SCALE:
        raise InstrumentError(
            f"the Net Promoter Score asks likelihood to recommend on 0–10, not "
            f"{scale[0]:g}–{scale[1]:g}: promoters answer 9–10 and detractors 0–6 only on that "
            "scale", file=path, key=f"{where}.scale_max")
    label = parse_text(spec["label"], path, f"{where}.label") if "label" in spec else {}
    return Outcome(key, column, scale[0], scale[1], label)
