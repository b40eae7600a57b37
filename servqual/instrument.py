"""The instrument file: which column holds what (contract §3).

``load_instrument(path)`` reads the TOML file into typed, immutable objects and checks it
thoroughly, because everything downstream trusts it: each problem is an
:class:`~servqual.errors.InstrumentError` (exit 65) naming the file and the key.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .config import AnalysisConfig, table_to_dataclass, unknown_key_message
from .errors import InstrumentError
from .files import read_toml

DEFAULT_INSTRUMENT = Path("surveys/instrument.toml")
LANGUAGES = ("en", "zh-CN")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ITEM_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def localise(texts: dict[str, str], lang: str, fallback: str) -> str:
    """The text in ``lang``, else English, else ``fallback``."""
    return texts.get(lang) or texts.get("en") or fallback


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
    expectation: str = ""  # column of the expectation (desired service) answer
    perception: str = ""  # column of the perception answer
    adequate: str = ""  # column of the adequate (minimum) service answer, optional
    reverse: bool = False  # negatively worded: scored as scale_min + scale_max - x
    text: dict[str, str] = field(default_factory=dict)
    code: str = ""  # long layout: the value in the item column that names this item (default: id)

    def text_for(self, lang: str) -> str:
        return localise(self.text, lang, self.id)

    @property
    def long_code(self) -> str:
        return self.code or self.id


@dataclass(frozen=True)
class LongLayout:
    """Columns of a long file: one row per respondent x item."""

    item: str
    expectation: str
    perception: str
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
    missing_codes: list[float] = field(default_factory=list)
    respondent_id: str = ""
    wave: str = ""
    sampling_weight: str = ""
    segments: list[str] = field(default_factory=list)
    header_rows: int = 1
    encoding: str = "auto"
    sheet: str = ""
    layout: str = "wide"
    overall_satisfaction: str = ""
    quarantine_straightlining: bool = False
    long: dict = field(default_factory=dict)


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

    def required_columns(self) -> list[tuple[str, str]]:
        """Every column the data must have, as (column, instrument key) pairs, in order."""
        s = self.settings
        cols: list[tuple[str, str]] = []
        if s.respondent_id:
            cols.append((s.respondent_id, "instrument.respondent_id"))
        if s.sampling_weight:
            cols.append((s.sampling_weight, "instrument.sampling_weight"))
        if s.overall_satisfaction:
            cols.append((s.overall_satisfaction, "instrument.overall_satisfaction"))
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
                for role in ("expectation", "perception", "adequate"):
                    column = getattr(item, role)
                    if column:
                        cols.append((column, f"items[{n}].{role}"))
        return cols


_SETTINGS_KEYS = {f for f in Settings.__dataclass_fields__}


def load_instrument(path: str | Path) -> Instrument:
    """Read and check an instrument file.

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read (exit 66).
    InstrumentError
        The file is not valid TOML or does not describe a usable instrument (exit 65).
    """
    path = Path(path)
    doc = read_toml(path, "instrument")
    return parse_instrument(doc, path)


def parse_instrument(doc: dict[str, Any], path: str | Path = "<instrument>") -> Instrument:
    """Build an :class:`Instrument` from an already-parsed TOML document."""
    path = Path(path)
    tables = ("instrument", "dimensions", "items", "analysis", "customer_classes")
    for top in doc:
        if top not in tables:
            raise InstrumentError(unknown_key_message(top, tables), file=path, key=top)
    for required in ("instrument", "dimensions", "items"):
        if required not in doc:
            raise InstrumentError("required table is missing", file=path, key=required)

    settings: Settings = table_to_dataclass(Settings, doc["instrument"], file=path, key="instrument")
    _check_settings(settings, path)
    analysis = table_to_dataclass(AnalysisConfig, doc.get("analysis", {}), file=path, key="analysis")
    long = None
    if settings.layout == "long":
        if not settings.long:
            raise InstrumentError('layout = "long" needs an [instrument.long] table naming the '
                                  "item, expectation and perception columns",
                                  file=path, key="instrument.long")
        long = table_to_dataclass(LongLayout, settings.long, file=path, key="instrument.long")
        if not settings.respondent_id:
            raise InstrumentError('layout = "long" needs respondent_id: it tells which rows '
                                  "belong to one respondent", file=path,
                                  key="instrument.respondent_id")
    elif settings.long:
        raise InstrumentError('[instrument.long] is only used with layout = "long"',
                              file=path, key="instrument.long")

    dimensions = _parse_dimensions(doc["dimensions"], path)
    items = _parse_items(doc["items"], path, {d.key for d in dimensions}, long is not None)

    for d in dimensions:
        if not any(i.dimension == d.key for i in items):
            raise InstrumentError("dimension has no items", file=path, key=f"dimensions.{d.key}")

    if long is not None:
        codes = Counter(i.long_code for i in items)
        for n, item in enumerate(items):
            if codes[item.long_code] > 1:
                raise InstrumentError(f"two items have the code {item.long_code!r} in the item "
                                      "column", file=path, key=f"items[{n}].code")
    classes = _parse_classes(doc.get("customer_classes"), settings, path)
    derived = [VALUE_SEGMENT] if classes is not None and classes.derived else []
    if analysis.benchmark_segment and analysis.benchmark_segment not in (
            list(settings.segments) + derived):
        raise InstrumentError(f"{analysis.benchmark_segment!r} is not one of the segments "
                              f"({', '.join(settings.segments) or 'none'})", file=path,
                              key="analysis.benchmark_segment")
    instrument = Instrument(settings=settings, dimensions=dimensions, items=items,
                            analysis=analysis, path=path, long=long, customer_classes=classes)
    _check_columns_unique(instrument, path)
    return instrument


def _check_settings(s: Settings, path: Path) -> None:
    def fail(key: str, message: str) -> None:
        raise InstrumentError(message, file=path, key=f"instrument.{key}")

    if not s.name.strip():
        fail("name", "must not be empty")
    if s.scale_min >= s.scale_max:
        fail("scale_min", f"scale_min ({s.scale_min}) must be less than scale_max ({s.scale_max})")
    for code in s.missing_codes:
        if s.scale_min <= code <= s.scale_max:
            fail("missing_codes", f"missing code {code:g} lies inside the answer scale "
                 f"{s.scale_min}..{s.scale_max}; valid answers would be discarded")
    if s.header_rows < 1:
        fail("header_rows", "must be at least 1 (the row that names the columns)")
    if s.layout not in ("wide", "long"):
        fail("layout", f'must be "wide" or "long", got {s.layout!r}')
    if len(set(s.segments)) != len(s.segments):
        fail("segments", "lists a column twice")
    if any(not seg.strip() for seg in s.segments):
        fail("segments", "contains an empty column name")


def _parse_label(value: Any, path: Path, key: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"en": value}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        for lang in value:
            if lang not in LANGUAGES:
                raise InstrumentError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}",
                                      file=path, key=f"{key}.{lang}")
        return dict(value)
    raise InstrumentError('must be a string or a table like { en = "…", zh-CN = "…" }',
                          file=path, key=key)


def _parse_dimensions(table: Any, path: Path) -> tuple[Dimension, ...]:
    if not isinstance(table, dict) or not table:
        raise InstrumentError("must define at least one dimension", file=path, key="dimensions")
    out = []
    for key, spec in table.items():
        where = f"dimensions.{key}"
        if not _KEY_RE.match(key):
            raise InstrumentError("dimension keys must be identifiers (letters, digits, _)",
                                  file=path, key=where)
        if not isinstance(spec, dict):
            raise InstrumentError("must be a table", file=path, key=where)
        for k in spec:
            if k not in ("label", "importance"):
                raise InstrumentError(unknown_key_message(k, ["label", "importance"]),
                                      file=path, key=f"{where}.{k}")
        label = _parse_label(spec.get("label", key), path, f"{where}.label")
        importance = spec.get("importance", "")
        if not isinstance(importance, str):
            raise InstrumentError("must be a column name", file=path, key=f"{where}.importance")
        out.append(Dimension(key=key, label=label, importance=importance))
    return tuple(out)


_ITEM_KEYS = ("id", "dimension", "expectation", "perception", "adequate", "reverse", "text", "code")


def _parse_items(array: Any, path: Path, dimension_keys: set[str], long: bool) -> tuple[Item, ...]:
    if not isinstance(array, list) or not array:
        raise InstrumentError("must list at least one [[items]] entry", file=path, key="items")
    seen: set[str] = set()
    out = []
    for n, spec in enumerate(array):
        where = f"items[{n}]"
        if not isinstance(spec, dict):
            raise InstrumentError("must be a table", file=path, key=where)
        for k in spec:
            if k not in _ITEM_KEYS:
                raise InstrumentError(unknown_key_message(k, _ITEM_KEYS), file=path,
                                      key=f"{where}.{k}")
        required = ("id", "dimension") if long else ("id", "dimension", "expectation", "perception")
        for k in required:
            if k not in spec:
                raise InstrumentError("required key is missing", file=path, key=f"{where}.{k}")
        for k in ("id", "dimension", "expectation", "perception", "adequate", "code"):
            if k in spec and not isinstance(spec[k], str):
                raise InstrumentError(f"must be a string, got {spec[k]!r}", file=path,
                                      key=f"{where}.{k}")
        item_id = spec["id"]
        if not _ITEM_ID_RE.match(item_id):
            raise InstrumentError("item ids may use letters, digits, '_', '-' and '.'",
                                  file=path, key=f"{where}.id")
        if item_id in seen:
            raise InstrumentError(f"duplicate item id {item_id!r}", file=path, key=f"{where}.id")
        seen.add(item_id)
        if spec["dimension"] not in dimension_keys:
            raise InstrumentError(
                f"unknown dimension {spec['dimension']!r}; defined: {', '.join(sorted(dimension_keys))}",
                file=path, key=f"{where}.dimension")
        reverse = spec.get("reverse", False)
        if not isinstance(reverse, bool):
            raise InstrumentError("must be true or false", file=path, key=f"{where}.reverse")
        for k in ("expectation", "perception"):
            if not long and not spec[k].strip():
                raise InstrumentError("must name a column", file=path, key=f"{where}.{k}")
        out.append(Item(
            id=item_id, dimension=spec["dimension"], expectation=spec.get("expectation", ""),
            perception=spec.get("perception", ""), adequate=spec.get("adequate", ""),
            reverse=reverse, text=_parse_label(spec.get("text", item_id), path, f"{where}.text"),
            code=spec.get("code", ""),
        ))
    return tuple(out)


def _parse_classes(table: Any, settings: Settings, path: Path) -> CustomerClasses | None:
    if table is None:
        return None
    where = "customer_classes"
    if not isinstance(table, dict):
        raise InstrumentError("must be a table", file=path, key=where)
    scores = [k for k in ("current_value", "potential_value") if k in table]
    if scores:
        if len(scores) != 2:
            missing = ({"current_value", "potential_value"} - set(scores)).pop()
            raise InstrumentError("both value-score columns are needed", file=path,
                                  key=f"{where}.{missing}")
        for key in table:
            if key not in ("current_value", "potential_value"):
                raise InstrumentError("value scores and a class column exclude each other; "
                                      "use one or the other", file=path, key=f"{where}.{key}")
        for key in scores:
            if not isinstance(table[key], str) or not table[key].strip():
                raise InstrumentError("must name a column", file=path, key=f"{where}.{key}")
        if VALUE_SEGMENT in settings.segments:
            raise InstrumentError(f"{VALUE_SEGMENT!r} is derived from the value scores; "
                                  "a segment column may not have that name", file=path,
                                  key="instrument.segments")
        keys = ("value", "sub_value", "potential_value", "low_value")
        return CustomerClasses(column=VALUE_SEGMENT, values={k: k for k in keys},
                               current_value=table["current_value"],
                               potential_value=table["potential_value"])
    column = table.get("column")
    if not isinstance(column, str) or not column:
        raise InstrumentError("required key is missing", file=path, key=f"{where}.column")
    if column not in settings.segments:
        raise InstrumentError(f"{column!r} must be one of the segments "
                              f"({', '.join(settings.segments) or 'none'})", file=path,
                              key=f"{where}.column")
    values: dict[str, str] = {}
    for key, labels in table.items():
        if key == "column":
            continue
        if key not in CLASS_KEYS:
            raise InstrumentError(unknown_key_message(key, CLASS_KEYS), file=path,
                                  key=f"{where}.{key}")
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise InstrumentError("must be a list of segment values", file=path,
                                  key=f"{where}.{key}")
        for label in labels:
            if label in values:
                raise InstrumentError(f"{label!r} is listed under two classes", file=path,
                                      key=f"{where}.{key}")
            values[label] = key
    if not values:
        raise InstrumentError("lists no class", file=path, key=where)
    return CustomerClasses(column=column, values=values)


def _check_columns_unique(instrument: Instrument, path: Path) -> None:
    s = instrument.settings
    roles = instrument.required_columns()
    if s.wave:
        roles.append((s.wave, "instrument.wave"))
    first_use: dict[str, str] = {}
    for column, key in roles:
        if column in first_use:
            raise InstrumentError(f"column {column!r} is used twice (already by {first_use[column]})",
                                  file=path, key=key)
        first_use[column] = key
