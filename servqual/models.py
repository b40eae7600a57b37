"""What the stages hand each other: the reason codes, the row accounting, the aggregates.

Plain containers shared by validation, the engines, the statistics, the history store and
the results (light: importing them loads no data library); the rules that fill them live in
the modules named after them
(:mod:`servqual.validation`, :mod:`servqual.stats.aggregate`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads with the statistics, not with the command line
    import pandas as pd


# The direction of a trend (servqual.stats.trends decides it; strategy texts are written per
# direction).
RISING, FLAT, FALLING, INSUFFICIENT = "rising", "flat", "falling", "insufficient_waves"
DIRECTIONS = (RISING, FLAT, FALLING, INSUFFICIENT)

# The evidence a weak point can carry, in the order the report shows it
# (:mod:`servqual.findings.weak_points` says what each means; strategy texts exist for each).
EVIDENCE = ("negative_gap", "low_perception", "below_adequate", "falling_trend",
            "target_missed", "complaints", "below_peers", "key_driver")


class Reason(enum.IntEnum):
    """Why a row is quarantined, in the order the checks apply: a row gets the first that
    holds. The names are the codes of the quarantine files and the JSON (stable); their
    meaning is documented in the README and explained in the report."""

    unparseable = 1            # the record could not be split into the header's columns
    missing_wave = 2           # the instrument's wave column is blank in this row
    missing_respondent_id = 3  # the instrument's respondent id column is blank in this row
    unknown_item = 4           # long layout: the item column names no item of the instrument
    non_numeric = 5            # an answer (or weight) is text that is not a number
    out_of_scale = 6           # an answer lies outside scale_min..scale_max
    invalid_weight = 7         # the sampling weight is missing, negative or zero
    all_missing = 8            # not a single item answered
    duplicate_conflict = 9     # one respondent id twice in a wave with different answers: all
    duplicate_respondent = 10  # a later exact copy of an earlier row (same id, same answers)
    straightlining = 11        # one answer throughout (when the instrument asks to quarantine)


REASONS = tuple(r.name for r in Reason)


@dataclass
class DataQuality:
    """Row accounting of a run (the JSON ``data_quality`` object); see
    :mod:`servqual.validation.accounting` for the rule it keeps.

    ``rows_*`` count input rows; ``respondents_valid`` counts the respondents analysed (the
    same as ``rows_valid`` for wide files; fewer for long files, with a row per item).
    """

    rows_read: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    answers_missing: int = 0
    straightlining: int = 0
    respondents_valid: int = 0
    files: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "answers_missing": self.answers_missing,
            "straightlining": self.straightlining,
            "respondents_valid": self.respondents_valid,
            "files": list(self.files),
        }


@dataclass
class ImportanceCounts:
    """What happened to the importance allocations (reported in data quality)."""

    respondents: int = 0
    used: int = 0
    rescaled: int = 0
    all_zero: int = 0
    missing_or_invalid: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def __add__(self, other: ImportanceCounts) -> ImportanceCounts:
        return ImportanceCounts(**{k: v + getattr(other, k) for k, v in self.as_dict().items()})


# The layout of the aggregates' tables (the keys of a row, then its sums).
KEYS = ["wave", "segment", "value", "level", "id", "measure"]
SUMS = ["n", "sum", "sumsq"]
WEIGHTED_SUMS = ["w", "wsum", "wsumsq", "w2", "w2sum", "w2sumsq"]
ALL = ""  # segment and value of the whole-sample cell
HISTOGRAM_KEYS = ["wave", "segment", "value", "level", "id", "measure", "x"]
CROSS_KEYS = ["wave", "kind", "id", "a", "b"]
# n: respondents; w: their Σ sampling weights (n without weights; only the key drivers weigh
# their sums, the reliability sums are unweighted)
CROSS_SUMS = ["n", "w", "sum_a", "sum_b", "sum_ab"]


@dataclass
class Aggregates:
    """The small additive tables every statistic is computed from
    (:mod:`servqual.stats.aggregate` defines them): ``moments`` (n, Σx, Σx² per wave ×
    segment cell × measure), ``histograms`` (counts of each gap value), ``crossproducts``
    (for reliability) and the importance allocation counts. Aggregates of disjoint sets of
    respondents add up to the aggregates of their union (:meth:`concat`)."""

    moments: pd.DataFrame
    histograms: pd.DataFrame
    crossproducts: pd.DataFrame
    importance: ImportanceCounts | None = None

    @classmethod
    def concat(cls, parts: list[Aggregates]) -> Aggregates:
        """The aggregates of the union of disjoint sets of respondents: every sum added."""
        import pandas as pd

        def cat(name: str, keys: list[str]) -> pd.DataFrame:
            frames = [getattr(p, name) for p in parts if len(getattr(p, name))]
            if not frames:
                return getattr(parts[0], name)
            if len(frames) == 1:
                return frames[0]
            out = pd.concat(frames, ignore_index=True)
            sums = [c for c in out.columns if c not in keys]
            return out.groupby(keys, sort=False, dropna=False)[sums].sum().reset_index()

        importance = [p.importance for p in parts if p.importance is not None]
        total = sum(importance[1:], importance[0]) if importance else None
        return cls(moments=cat("moments", KEYS), histograms=cat("histograms", HISTOGRAM_KEYS),
                   crossproducts=cat("crossproducts", CROSS_KEYS), importance=total)


@dataclass
class Unit:
    """One unit of ``--split-by`` (a value of a segment column): its respondents' aggregates,
    row accounting and quarantined rows."""

    value: str
    aggregates: Aggregates | None
    quality: DataQuality
    quarantine: pd.DataFrame
    waves: list[str] = field(default_factory=list)


@dataclass
class Collected:
    """What an engine makes of the survey files: the aggregates of their valid respondents,
    the row accounting, every quarantined row, and the units of ``--split-by``.

    ``columns`` holds each file's own column names (its quarantine file uses them);
    ``quarantine_waves`` the wave label of each quarantined row (None: it has none), which
    the history store files the rows under.
    """

    aggregates: Aggregates | None
    quality: DataQuality
    waves: list[str]
    quarantine: pd.DataFrame
    columns: dict[str, list[str]] = field(default_factory=dict)
    units: list[Unit] = field(default_factory=list)
