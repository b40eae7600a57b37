"""The instrument as typed, immutable objects: which column holds what (contract §3).

An :class:`Instrument` holds its :class:`Settings` (the ``[instrument]`` table), its
dimensions and items in order, the analysis options and, when given, the columns of a long
file and the customer classes; its properties are the views the pipeline reads (the
columns the data must have, the segments of the analysis). The objects are built and
checked from the TOML file by :mod:`servqual.instrument.loader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..config import AnalysisConfig
from .answers import AnswerCodes, AnswerLabels
from .labels import LANGUAGES, ReportInfo, SegmentLabels, localise
from .outcomes import Outcome

__all__ = ["LANGUAGES", "localise"]  # and the classes below


@dataclass(frozen=True)
class Dimension:
    key: str
    label: dict[str, str]
    importance: str = ""  # column holding this dimension's share of 100 importance points

    def label_for(self, lang: str) -> str:
        return localise(self.label, lang, self.key)


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    expectation: str = ""  # column of the expectation (desired service); "": SERVPERF item
    perception: str = ""  # column of the perception answer
    adequate: str = ""  # column of the adequate (minimum) service answer, optional
    reverse: bool = False  # negatively worded: scored as scale_min + scale_max - x
    text: dict[str, str] = field(default_factory=dict)
    code: str = ""  # long layout: the value in the item column that names this item (default: id)
    labels: str = ""  # the named set of [answer_labels] its answers are read with ("": default)
    codes: str = ""  # the named set of [answer_codes] its answers are recoded with
    importance: str = ""  # column of the item's importance rating (importance-performance)

    def text_for(self, lang: str) -> str:
        return localise(self.text, lang, self.id)

    @property
    def long_code(self) -> str:
        return self.code or self.id


@dataclass(frozen=True)
class LongLayout:
    """Columns of a long file: one row per respondent x item."""

    item: str
    perception: str
    expectation: str = ""  # "": perceptions only (SERVPERF)
    adequate: str = ""


CLASS_KEYS = ("core", "important", "regular", "value", "sub_value", "potential_value",
              "low_value")


VALUE_SEGMENT = "value_segment"  # the segment derived from current and potential value scores


@dataclass(frozen=True)
class CustomerClasses:
    """Which segment holds the customer class, and which values mean which class.

    Classes of the practice (domain.md §3): core / important / regular (核心 / 重要 / 常规),
    or the value segments value / sub_value / potential_value / low_value. Either a segment
    column lists its values per class, or two score columns (current value 当前价值 and
    potential value 潜在价值) are split at their medians into the derived segment
    ``value_segment`` whose values are the class keys.
    """

    column: str
    values: dict[str, str]  # segment value → class key
    current_value: str = ""  # column of current-value scores
    potential_value: str = ""  # column of potential-value scores

    @property
    def derived(self) -> bool:
        return bool(self.current_value)

    def class_of(self, value: str) -> str | None:
        return self.values.get(str(value))


@dataclass(frozen=True)
class Settings:
    """The ``[instrument]`` table."""

    name: str
    scale_min: int
    scale_max: int
    missing_codes: list[float | str] = field(default_factory=list)  # numbers or texts
    respondent_id: str = ""
    wave: str = ""
    sampling_weight: str = ""
    segments: list[str] = field(default_factory=list)
    header_rows: int = 1
    names_row: int = 1  # which header row names the columns (Qualtrics Legacy: 2)
    skip_rows: int = 0  # title rows above the header
    encoding: str = "auto"
    sheet: str = ""
    layout: str = "wide"
    overall_satisfaction: str = ""
    quarantine_straightlining: bool = False
    long: dict = field(default_factory=dict)
    answer_pattern: str = ""  # a regex whose first group reads an answer text as its score
    duplicates: str = "quarantine"  # or "keep_first" / "keep_last" (validation.duplicates)

    @property
    def missing_numbers(self) -> list[float]:
        """The missing codes that are numbers (texts are answer labels)."""
        return [float(c) for c in self.missing_codes if not isinstance(c, str)]


@dataclass(frozen=True)
class Instrument:
    """A survey instrument: its settings, dimensions (in order) and items (in order)."""

    settings: Settings
    dimensions: tuple[Dimension, ...]
    items: tuple[Item, ...]
    analysis: AnalysisConfig
    path: Path | None = None
    long: LongLayout | None = None
    customer_classes: CustomerClasses | None = None
    answer_labels: AnswerLabels = field(default_factory=AnswerLabels)
    answer_codes: AnswerCodes = field(default_factory=AnswerCodes)
    wave_label: str = ""  # --wave: the wave of files without a wave column (not in the file)
    segment_labels: dict[str, SegmentLabels] = field(default_factory=dict)  # [segments.X]
    report: ReportInfo = field(default_factory=ReportInfo)  # [report]
    names: dict[str, str] = field(default_factory=dict)  # name = { en = "…", zh-CN = "…" }
    outcomes: tuple[Outcome, ...] = ()  # [outcomes.*]: satisfaction, recommend, repurchase
    loyalty_matrix: tuple[str, str] | None = None  # (satisfaction, loyalty) outcome keys
    behaviour: tuple[str, str] | None = None  # [behaviour]: the CRM extract's id, wave columns
    # The CRM extract of this run (servqual.behaviour.Extract, --behaviour); not part of the
    # instrument's identity.
    extract: Any = field(default=None, compare=False, repr=False)

    def outcome(self, key: str) -> Outcome | None:
        """The outcome ``key`` (:data:`.outcomes.OUTCOMES`), None when not measured."""
        return next((o for o in self.outcomes if o.key == key), None)

    @property
    def survey_outcomes(self) -> tuple[Outcome, ...]:
        """The outcomes read from the survey files (not from the CRM extract)."""
        return tuple(o for o in self.outcomes if not o.from_behaviour)

    def name_for(self, lang: str) -> str:
        """The instrument's name in ``lang`` (``name`` may be a text per language)."""
        return localise(self.names, lang, self.settings.name)

    def column_label(self, column: str, lang: str) -> str:
        """A segment column as readers see it: its label in ``lang``, else its name."""
        labels = self.segment_labels.get(column)
        return localise(labels.label, lang, column) if labels is not None else column

    def column_text(self, column: str) -> dict[str, str]:
        """:meth:`column_label` in every language."""
        return {lang: self.column_label(column, lang) for lang in LANGUAGES}

    def value_text(self, column: str, value: str) -> dict[str, str]:
        """:meth:`value_label` in every language, the value itself where it has none."""
        return {lang: self.value_label(column, value, lang) or str(value) for lang in LANGUAGES}

    def value_label(self, column: str, value: str, lang: str) -> str | None:
        """A segment value's label in ``lang``; None when it has none in that language (the
        value is then shown as the data writes it, not in another language)."""
        labels = self.segment_labels.get(column)
        texts = labels.values.get(str(value)) if labels is not None else None
        return texts.get(lang) if texts else None

    # Convenience views -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def scale_min(self) -> int:
        return self.settings.scale_min

    @property
    def scale_max(self) -> int:
        return self.settings.scale_max

    @property
    def segments(self) -> list[str]:
        return self.settings.segments

    @property
    def analysis_segments(self) -> list[str]:
        """The segment columns of the analysis: the instrument's, and the derived value
        segment when value scores are given."""
        derived = self.customer_classes is not None and self.customer_classes.derived
        return list(self.settings.segments) + ([VALUE_SEGMENT] if derived else [])

    @cached_property
    def dimension_keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    @cached_property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @cached_property
    def dimension_of_item(self) -> dict[str, str]:
        return {i.id: i.dimension for i in self.items}

    @cached_property
    def column_positions(self) -> dict[str, int]:
        """The answer columns given by position (``{ position = 12 }``, named ``"#12"``):
        name → 0-based position in the file."""
        out = {}
        for item in self.items:
            for column in (item.expectation, item.perception, item.adequate, item.importance):
                if column.startswith("#") and column[1:].isdigit():
                    out[column] = int(column[1:]) - 1
        return out

    def dimension(self, key: str) -> Dimension:
        for d in self.dimensions:
            if d.key == key:
                return d
        raise KeyError(key)

    def items_of(self, dimension: str) -> list[Item]:
        return [i for i in self.items if i.dimension == dimension]

    @property
    def has_adequate(self) -> bool:
        return any(i.adequate for i in self.items) or bool(self.long and self.long.adequate)

    @property
    def has_importance(self) -> bool:
        return any(d.importance for d in self.dimensions)

    @property
    def has_item_importance(self) -> bool:
        """Whether items carry their own importance rating column (``importance = "I01"``)."""
        return any(i.importance for i in self.items)

    @cached_property
    def servperf(self) -> bool:
        """Whether the analysis is SERVPERF (Cronin & Taylor 1992): some item has no
        expectation, so the scores are perceptions and there is no dimension gap (an item
        with both columns keeps its own gap)."""
        if self.long is not None:
            return not self.long.expectation
        return any(not i.expectation for i in self.items)

    @property
    def score(self) -> str:
        """The measure the findings judge: ``"gap"`` (SERVQUAL) or ``"perception"``."""
        return "perception" if self.servperf else "gap"

    def required_columns(self) -> list[tuple[str, str]]:
        """Every column the data must have, as (column, instrument key) pairs, in order."""
        s = self.settings
        cols: list[tuple[str, str]] = []
        if s.respondent_id:
            cols.append((s.respondent_id, "instrument.respondent_id"))
        if s.sampling_weight:
            cols.append((s.sampling_weight, "instrument.sampling_weight"))
        cols += [(o.column, "instrument.overall_satisfaction" if o.scale_min is None
                  else f"outcomes.{o.key}.column") for o in self.survey_outcomes]
        cols += [(c, f"instrument.segments[{n}]") for n, c in enumerate(s.segments)]
        cols += [(d.importance, f"dimensions.{d.key}.importance")
                 for d in self.dimensions if d.importance]
        if self.customer_classes is not None and self.customer_classes.derived:
            cols += [(self.customer_classes.current_value, "customer_classes.current_value"),
                     (self.customer_classes.potential_value, "customer_classes.potential_value")]
        if self.long is not None:
            cols += [(getattr(self.long, k), f"instrument.long.{k}")
                     for k in ("item", "expectation", "perception", "adequate")
                     if getattr(self.long, k)]
        else:
            for n, item in enumerate(self.items):
                for role in ("expectation", "perception", "adequate", "importance"):
                    column = getattr(item, role)
                    if column:
                        cols.append((column, f"items[{n}].{role}"))
        return cols


