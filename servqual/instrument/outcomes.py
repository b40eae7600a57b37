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

Loyalty shows in behaviour too: ``[outcomes.repeat_purchases]`` (purchases in a period) and
``[outcomes.purchase_share]`` (share of the customer's purchases, in %) come from a CRM
extract (``source = "behaviour"``, their default), joined to the respondents by id
(:mod:`servqual.behaviour`): ``column`` names the extract's column, and ``[behaviour]`` the
extract's id column (and, optionally, its wave column)::

    [behaviour]
    id = "customer_id"
    wave = "quarter"

    [outcomes.repeat_purchases]
    column = "orders_12m"
    scale_min = 0
    scale_max = 200
    high_from = 3

``high_from`` (optional) is the lowest answer that counts as *high* — satisfied, or loyal —
in the satisfaction–loyalty matrix (:mod:`servqual.stats.matrix`). By default the top two
answers of the scale (6–7 on 1–7, 4–5 on 1–5) and, for recommend, the promoters' 9–10. The
matrix crosses satisfaction with the loyalty outcome that ``[loyalty_matrix] loyalty`` names
(``repurchase`` or ``recommend``, or loyalty in behaviour, ``repeat_purchases`` or
``purchase_share``, which need ``high_from``; by default repurchase when measured, else
recommend)::

    [loyalty_matrix]
    loyalty = "recommend"
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import unknown_key_message
from ..errors import InstrumentError
from .labels import Text, parse_text

OUTCOMES = ("satisfaction", "recommend", "repurchase", "repeat_purchases", "purchase_share")
BEHAVIOUR = ("repeat_purchases", "purchase_share")  # from a CRM extract unless source says
SOURCES = ("survey", "behaviour")
KEYS = ("column", "scale_min", "scale_max", "label", "high_from", "source")
# What the matrix may read as loyalty, by preference (behaviour only when named).
LOYALTY = ("repurchase", "recommend", *BEHAVIOUR)
NPS_SCALE = (0, 10)  # the likelihood-to-recommend question of the Net Promoter Score


@dataclass(frozen=True)
class Outcome:
    """One outcome rating: its column and, when given, its scale (``None``: any number)."""

    key: str
    column: str
    scale_min: float | None = None
    scale_max: float | None = None
    label: Text = field(default_factory=dict)
    high_from: float | None = None  # as given; :attr:`high` is the one in use
    source: str = "survey"  # or "behaviour": a column of the CRM extract (servqual.behaviour)

    @property
    def high(self) -> float | None:
        """The lowest answer counted high in the satisfaction–loyalty matrix: ``high_from``,
        else 9 for recommend (promoters) and the top two answers of other rating scales; None
        for an outcome without a scale (the older ``overall_satisfaction``), and for a
        behaviour (a count or a share has no "top two answers"), without ``high_from``."""
        if self.high_from is not None:
            return self.high_from
        if self.key == "recommend":
            return 9.0
        if self.key in BEHAVIOUR:
            return None
        return None if self.scale_max is None else self.scale_max - 1

    @property
    def from_behaviour(self) -> bool:
        """Read from the CRM extract, not from the survey files."""
        return self.source == "behaviour"

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
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value)):
            raise InstrumentError("must be a finite number (the lowest and highest answer)",
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
    high = spec.get("high_from")
    if high is not None and (isinstance(high, bool) or not isinstance(high, (int, float))
                             or not scale[0] < high <= scale[1]):
        raise InstrumentError(
            f"must be a number above scale_min and at most scale_max ({scale[0]:g}–"
            f"{scale[1]:g}): the lowest answer that counts as high", file=path,
            key=f"{where}.high_from")
    source = spec.get("source", "behaviour" if key in BEHAVIOUR else "survey")
    if source not in SOURCES:
        raise InstrumentError(f"must be one of {', '.join(map(repr, SOURCES))}: the survey "
                              "files, or the CRM extract given with --behaviour", file=path,
                              key=f"{where}.source")
    return Outcome(key, column, scale[0], scale[1], label,
                   None if high is None else float(high), source)


def parse_matrix(table: Any, outcomes: tuple[Outcome, ...], path: Path
                 ) -> tuple[str, str] | None:
    """The satisfaction–loyalty matrix's two outcomes ``(satisfaction, loyalty)`` from the
    optional ``[loyalty_matrix]`` table, or None when the instrument cannot have one (no
    satisfaction with a high threshold, or no loyalty outcome)."""
    table = {} if table is None else table
    where = "loyalty_matrix"
    if not isinstance(table, dict):
        raise InstrumentError('must be a table like [loyalty_matrix] loyalty = "repurchase"',
                              file=path, key=where)
    for name in table:
        if name != "loyalty":
            raise InstrumentError(unknown_key_message(name, ("loyalty",)), file=path,
                                  key=f"{where}.{name}")
    measured = {o.key: o for o in outcomes}
    chosen = table.get("loyalty")
    if chosen is not None:
        if chosen not in LOYALTY:
            raise InstrumentError(f"must be one of {', '.join(LOYALTY)}", file=path,
                                  key=f"{where}.loyalty")
        if chosen not in measured:
            raise InstrumentError(f"names {chosen!r}, which no [outcomes.{chosen}] measures",
                                  file=path, key=f"{where}.loyalty")
        if measured[chosen].high is None:
            raise InstrumentError(
                f"names {chosen!r}: give [outcomes.{chosen}] high_from, the lowest value that "
                "counts as loyal (a count or a share has no top answers)", file=path,
                key=f"outcomes.{chosen}.high_from")
        satisfaction = measured.get("satisfaction")
        if satisfaction is None or satisfaction.high is None:
            raise InstrumentError(
                "the matrix needs [outcomes.satisfaction] with scale_min and scale_max (or "
                "high_from): which answers count as satisfied", file=path, key=where)
    else:
        chosen = next((k for k in LOYALTY if k in measured and measured[k].high is not None),
                      None)
        satisfaction = measured.get("satisfaction")
        if chosen is None or satisfaction is None or satisfaction.high is None:
            return None
    return "satisfaction", chosen


def parse_behaviour(table: Any, outcomes: tuple[Outcome, ...], respondent_id: str,
                    path: Path) -> tuple[str, str] | None:
    """The ``[behaviour]`` table: ``(id, wave)``, the CRM extract's id column and its wave
    column ("" when the extract holds one record per customer for every wave); None when no
    outcome comes from the extract. The join needs the survey's ``respondent_id``."""
    used = [o for o in outcomes if o.from_behaviour]
    if table is None:
        if used:
            raise InstrumentError(
                f"[outcomes.{used[0].key}] comes from a CRM extract (source = \"behaviour\"): "
                "add [behaviour] with id = the extract's column of respondent ids", file=path,
                key="behaviour")
        return None
    if not isinstance(table, dict):
        raise InstrumentError('must be a table like [behaviour] id = "customer_id"', file=path,
                              key="behaviour")
    for name in table:
        if name not in ("id", "wave"):
            raise InstrumentError(unknown_key_message(name, ("id", "wave")), file=path,
                                  key=f"behaviour.{name}")
    for name in ("id", "wave"):
        value = table.get(name, "")
        if not isinstance(value, str) or (name == "id" and not value.strip()):
            raise InstrumentError("must name a column of the CRM extract", file=path,
                                  key=f"behaviour.{name}")
    if not used:
        raise InstrumentError(
            "no outcome comes from the CRM extract: add [outcomes.repeat_purchases] or "
            "[outcomes.purchase_share] (or source = \"behaviour\" on an outcome), or remove "
            "[behaviour]", file=path, key="behaviour")
    if not respondent_id:
        raise InstrumentError(
            "the CRM extract is joined to the respondents by id: set [instrument] "
            "respondent_id", file=path, key="behaviour.id")
    return table["id"].strip(), table.get("wave", "").strip()
