"""Analysis thresholds: one typed object, documented defaults, read from TOML.

The thresholds live in the ``[analysis]`` table of the instrument file. Every field has a
default that follows common practice; the report's method appendix prints the values a run
actually used, so a reader can see what "significant" or "small base" meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import InstrumentError

P_ADJUST_METHODS = ("holm", "fdr_bh", "bonferroni", "none")


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds and choices of the analysis.

    Attributes
    ----------
    significance
        Significance level for every test (gap ≠ 0, trends, segment differences).
    p_adjust
        Multiple-comparison adjustment across a tested family (all items, or all dimensions):
        ``holm`` (default), ``fdr_bh`` (Benjamini–Hochberg), ``bonferroni`` or ``none``.
    min_item_share
        A respondent's dimension score is the mean of their answered items in the dimension,
        computed only when at least this share of the dimension's items is answered.
    alpha_min
        Cronbach's alpha below this value is flagged as weak internal consistency.
    small_base
        Segment cells with fewer respondents are flagged "small base" (read with care).
    min_cell
        Segment cells with fewer respondents are suppressed from every output so that
        individuals cannot be singled out.
    importance_tolerance
        Importance allocations whose total is within this many points of 100 are accepted
        as they are; others are rescaled to 100 and counted. All-zero ones are excluded.
    trend_min_waves
        Fewer waves than this give the direction ``insufficient_waves``.
    trend_min_change
        Minimum change across the trend window (in scale points of the gap) for a direction
        to be ``rising`` or ``falling``; smaller, even if significant, is ``flat``.
    alert_min_change
        Wave-over-wave alert: the latest wave's drop against the one before must be
        significant and at least this many scale points.
    nps_min_change
        The Net Promoter Score's practical size, in NPS points (−100 … 100): a wave-over-wave
        change of the NPS is an alert (or a rise), and its trend rising or falling, only
        when significant and at least this large. Default 5 points.
    alarm_fdr
        Level of the two-level Benjamini–Hochberg procedure that decides the alarms a report
        shows — wave-over-wave alerts, and rising / falling trend directions — over the
        dimensions, items and segment cells (items and segment cells examined under their
        dimension; :mod:`servqual.stats.multiplicity`). When nothing changed, the chance of
        any false alert (or any false trend direction) in a report is at most this.
    peer_min_difference
        Benchmarking: a unit is ``below_peers`` when significantly below the average of the
        others by at least this many scale points.
    benchmark_segment
        Segment column whose values are the units to benchmark (a region, a branch); empty
        for none. ``--benchmark`` on the command line overrides it.
    target_revise_margin, target_revise_waves
        Suggest revising a target that was missed by more than this margin in each of the
        last this-many waves while perception stayed flat.
    complaint_min_change
        Minimum change across the window, in complaints per 1,000 respondents, for a
        complaint-rate trend to be rising or falling.
    priority_falling_factor
        A weak point's priority score is multiplied by this when its trend is falling
        (at least 1: a falling trend never lowers the priority).
    priority_evidence_bonus
        A weak point's priority score is multiplied by 1 + this for each piece of evidence
        beyond the first.
    weak_min_shortfall
        A shortfall is *material* — a weak point by its size — when the gap (perception −
        expectation) of a dimension, item or unit is at least this many scale points below
        zero and significantly below zero after adjustment. Default 0.5: half a scale point is
        the size a customer notices (the "half a standard deviation" minimal important
        difference of rating scales, Norman, Sloan & Wyrwich 2003, with the SD of about one
        point that SERVQUAL gaps of whole dimensions show), and expectations exceed
        perceptions by a few tenths in nearly every SERVQUAL study, so a smaller gap is the
        usual state rather than a failure, however large the sample that makes it
        significant.
    servperf_standard
        In a SERVPERF analysis (perceptions only), the perception level a dimension or item
        must not fall materially below: a perception at least ``weak_min_shortfall`` below it
        and significantly below it after adjustment is a weak point (``low_perception``).
        Default (none): the midpoint of the answer scale, where customers on balance neither
        agree nor disagree that the service is good; a company sets its own standard here or
        as targets.
    """

    significance: float = 0.05
    p_adjust: str = "holm"
    min_item_share: float = 0.5
    alpha_min: float = 0.7
    small_base: int = 30
    min_cell: int = 10
    importance_tolerance: float = 1.0
    trend_min_waves: int = 4
    trend_min_change: float = 0.10
    alert_min_change: float = 0.10
    nps_min_change: float = 5.0
    alarm_fdr: float = 0.05
    peer_min_difference: float = 0.10
    benchmark_segment: str = ""
    target_revise_margin: float = 0.30
    target_revise_waves: int = 3
    complaint_min_change: float = 0.5
    priority_falling_factor: float = 1.5
    priority_evidence_bonus: float = 0.25
    weak_min_shortfall: float = 0.5
    servperf_standard: float | None = None

    def __post_init__(self) -> None:
        checks = [
            (0 < self.significance < 1, "significance", "must be between 0 and 1"),
            (self.p_adjust in P_ADJUST_METHODS, "p_adjust",
             f"must be one of {', '.join(P_ADJUST_METHODS)}"),
            (0 < self.min_item_share <= 1, "min_item_share", "must be in (0, 1]"),
            (-1 <= self.alpha_min <= 1, "alpha_min", "must be between -1 and 1"),
            (self.small_base >= 0, "small_base", "must be ≥ 0"),
            (self.min_cell >= 1, "min_cell", "must be ≥ 1"),
            (self.importance_tolerance >= 0, "importance_tolerance", "must be ≥ 0"),
            (self.trend_min_waves >= 3, "trend_min_waves", "must be ≥ 3"),
            (self.trend_min_change >= 0, "trend_min_change", "must be ≥ 0"),
            (self.alert_min_change >= 0, "alert_min_change", "must be ≥ 0"),
            (self.nps_min_change >= 0, "nps_min_change", "must be ≥ 0"),
            (0 < self.alarm_fdr < 1, "alarm_fdr", "must be between 0 and 1"),
            (self.peer_min_difference >= 0, "peer_min_difference", "must be ≥ 0"),
            (self.target_revise_margin >= 0, "target_revise_margin", "must be ≥ 0"),
            (self.target_revise_waves >= 1, "target_revise_waves", "must be ≥ 1"),
            (self.complaint_min_change >= 0, "complaint_min_change", "must be ≥ 0"),
            (self.priority_falling_factor >= 1, "priority_falling_factor", "must be ≥ 1"),
            (self.priority_evidence_bonus >= 0, "priority_evidence_bonus", "must be ≥ 0"),
            (self.weak_min_shortfall >= 0, "weak_min_shortfall", "must be ≥ 0"),
        ]
        for ok, key, message in checks:
            if not ok:
                raise InstrumentError(f"{message} (got {getattr(self, key)!r})",
                                      key=f"analysis.{key}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> AnalysisConfig:
        return dataclasses.replace(self, **changes)


def table_to_dataclass(cls: type, table: Any, *, file: str | Path, key: str,
                       renames: dict[str, str] | None = None) -> Any:
    """Build a flat dataclass from a TOML table, with errors that name the file and key.

    Unknown keys are errors (with a suggestion), so a typo never silently falls back to a
    default; values are checked against the field's annotated type.
    """
    if not isinstance(table, dict):
        raise InstrumentError(f"must be a table, got {type(table).__name__}", file=file, key=key)
    renames = renames or {}
    known = {renames.get(f.name, f.name): f for f in fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        if name not in known:
            raise InstrumentError(unknown_key_message(name, known), file=file, key=f"{key}.{name}")
        f = known[name]
        kwargs[f.name] = check_type(value, hints[f.name], file=file, key=f"{key}.{name}")
    try:
        return cls(**kwargs)
    except InstrumentError as err:
        err.file = str(file)
        raise
    except TypeError as err:  # a required field is missing
        missing = [renames.get(f.name, f.name) for f in fields(cls)
                   if f.name not in kwargs and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        where = f"{key}.{missing[0]}" if missing else key
        raise InstrumentError("required key is missing", file=file, key=where) from err


def unknown_key_message(name: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return f"unknown key{hint}"


def check_type(value: Any, hint: Any, *, file: str | Path, key: str) -> Any:
    """Check a TOML value against a simple annotation (str, int, float, bool, lists, unions)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return check_type(value, option, file=file, key=key)
            except InstrumentError:
                continue
        raise InstrumentError(f"has the wrong type ({type(value).__name__})", file=file, key=key)
    if hint is type(None):
        if value is None:
            return value
    elif origin in (list, tuple):
        if isinstance(value, list):
            (inner, *_) = typing.get_args(hint) or (Any,)
            items = [check_type(v, inner, file=file, key=f"{key}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
    elif origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
    elif hint is Any:
        return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # TOML allows nan and inf: no setting means them
                raise InstrumentError(f"must be a finite number, got {value!r}", file=file,
                                      key=key)
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is bool or hint is str:
        if isinstance(value, hint):
            return value
    else:
        raise TypeError(f"unsupported annotation {hint!r}")
    expected = getattr(hint, "__name__", str(hint))
    raise InstrumentError(f"must be {expected}, got {value!r}", file=file, key=key)
