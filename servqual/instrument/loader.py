"""The instrument file read and checked: TOML into an :class:`~servqual.instrument.Instrument`.

``load_instrument(path)`` reads the TOML file into typed, immutable objects and checks it
thoroughly, because everything downstream trusts it: each problem is an
:class:`~servqual.errors.InstrumentError` (exit 65) naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import AnalysisConfig, table_to_dataclass, unknown_key_message
from ..errors import InstrumentError
from ..files import read_toml
from .answer_tables import parse_answer_codes, parse_answer_labels
from .labels import parse_report, parse_segment_labels, parse_text
from .outcomes import parse_behaviour, parse_matrix, parse_outcomes
from .model import (CLASS_KEYS, VALUE_SEGMENT, CustomerClasses, Dimension, Instrument,
                    Item, LongLayout, Settings)

DEFAULT_INSTRUMENT = Path("surveys/instrument.toml")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ITEM_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SETTINGS_KEYS = {f for f in Settings.__dataclass_fields__}


def load_instrument(path: str | Path, wave_label: str | None = None) -> Instrument:
    """Read and check an instrument file; ``wave_label`` (``--wave``) names the wave of files
    without a wave column.

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read (exit 66).
    InstrumentError
        The file is not valid TOML or does not describe a usable instrument (exit 65).
    """
    path = Path(path)
    doc = read_toml(path, "instrument")
    instrument = parse_instrument(doc, path)
    if wave_label is None:
        return instrument
    from ..waves import check_wave_label

    return dataclasses.replace(instrument, wave_label=check_wave_label(wave_label))


def parse_instrument(doc: dict[str, Any], path: str | Path = "<instrument>") -> Instrument:
    """Build an :class:`Instrument` from an already-parsed TOML document."""
    path = Path(path)
    tables = ("instrument", "dimensions", "items", "analysis", "customer_classes",
              "answer_labels", "answer_codes", "segments", "report", "outcomes", "loyalty_matrix",
              "behaviour")
    for top in doc:
        if top not in tables:
            raise InstrumentError(unknown_key_message(top, tables), file=path, key=top)
    for required in ("instrument", "dimensions", "items"):
        if required not in doc:
            raise InstrumentError("required table is missing", file=path, key=required)

    table = doc["instrument"]
    names: dict[str, str] = {}
    if isinstance(table, dict) and isinstance(table.get("name"), dict):  # { en, zh-CN }
        names = parse_text(table["name"], path, "instrument.name")
        table = {**table, "name": names.get("en") or next(iter(names.values()))}
    settings: Settings = table_to_dataclass(Settings, table, file=path, key="instrument")
    _check_settings(settings, path)
    analysis = table_to_dataclass(AnalysisConfig, doc.get("analysis", {}), file=path, key="analysis")
    long = None
    if settings.layout == "long":
        if not settings.long:
            raise InstrumentError('layout = "long" needs an [instrument.long] table naming the '
                                  "item, expectation and perception columns",
                                  file=path, key="instrument.long")
        long = table_to_dataclass(LongLayout, settings.long, file=path, key="instrument.long")
        if long.adequate and not long.expectation:
            raise InstrumentError("an adequate-service column needs the expectation (the "
                                  "desired level): the zone of tolerance lies between them",
                                  file=path, key="instrument.long.adequate")
        if not settings.respondent_id:
            raise InstrumentError('layout = "long" needs respondent_id: it tells which rows '
                                  "belong to one respondent", file=path,
                                  key="instrument.respondent_id")
        if settings.duplicates != "quarantine":
            raise InstrumentError('duplicates = "keep_first" / "keep_last" keeps one row of a '
                                  'respondent given twice, in the wide layout; a long layout '
                                  "quarantines copies that disagree", file=path,
                                  key="instrument.duplicates")
    elif settings.long:
        raise InstrumentError('[instrument.long] is only used with layout = "long"',
                              file=path, key="instrument.long")

    dimensions = _parse_dimensions(doc["dimensions"], path)
    items = _parse_items(doc["items"], path, {d.key for d in dimensions}, long is not None)
    labels = parse_answer_labels(doc.get("answer_labels", {}), settings, path)
    recoded = parse_answer_codes(doc.get("answer_codes", {}), settings, path)
    if recoded and labels:
        raise InstrumentError("[answer_codes] recodes numbers, [answer_labels] and "
                              "answer_pattern read texts: a file writes one or the other; "
                              "keep the one that fits it", file=path, key="answer_codes")
    for n, item in enumerate(items):
        if item.codes and item.codes not in recoded.named:
            raise InstrumentError(
                f"names the answer codes {item.codes!r}, which [answer_codes] does not "
                f"define ({', '.join(sorted(recoded.named)) or 'no named set'})", file=path,
                key=f"items[{n}].codes")
        if item.labels and item.labels not in labels.named:
            raise InstrumentError(
                f"names the answer labels {item.labels!r}, which [answer_labels] does not "
                f"define ({', '.join(sorted(labels.named)) or 'no named set'})", file=path,
                key=f"items[{n}].labels")

    for d in dimensions:
        if not any(i.dimension == d.key for i in items):
            raise InstrumentError("dimension has no items", file=path, key=f"dimensions.{d.key}")

    if long is not None:
        codes = Counter(i.long_code for i in items)
        for n, item in enumerate(items):
            if codes[item.long_code] > 1:
                raise InstrumentError(f"two items have the code {item.long_code!r} in the item "
                                      "column", file=path, key=f"items[{n}].code")
    outcomes = parse_outcomes(doc.get("outcomes"), settings.overall_satisfaction, path)
    if outcomes and outcomes[0].key == "satisfaction":  # derived importance reads it there
        settings = dataclasses.replace(settings, overall_satisfaction=outcomes[0].column)
    classes = _parse_classes(doc.get("customer_classes"), settings, path)
    derived = [VALUE_SEGMENT] if classes is not None and classes.derived else []
    if analysis.benchmark_segment and analysis.benchmark_segment not in (
            list(settings.segments) + derived):
        raise InstrumentError(f"{analysis.benchmark_segment!r} is not one of the segments "
                              f"({', '.join(settings.segments) or 'none'})", file=path,
                              key="analysis.benchmark_segment")
    instrument = Instrument(settings=settings, dimensions=dimensions, items=items,
                            analysis=analysis, path=path, long=long, customer_classes=classes,
                            answer_labels=labels, answer_codes=recoded,
                            segment_labels=parse_segment_labels(
                                doc.get("segments"), list(settings.segments) + derived, path),
                            report=parse_report(doc.get("report"), path), names=names,
                            outcomes=outcomes,
                            loyalty_matrix=parse_matrix(doc.get("loyalty_matrix"), outcomes, path),
                            behaviour=parse_behaviour(doc.get("behaviour"), outcomes,
                                                      settings.respondent_id, path))
    _check_columns_unique(instrument, path)
    return instrument


def _check_settings(s: Settings, path: Path) -> None:
    def fail(key: str, message: str) -> None:
        raise InstrumentError(message, file=path, key=f"instrument.{key}")

    if not s.name.strip():
        fail("name", "must not be empty")
    if s.scale_min >= s.scale_max:
        fail("scale_min", f"scale_min ({s.scale_min}) must be less than scale_max ({s.scale_max})")
    for code in s.missing_numbers:
        if s.scale_min <= code <= s.scale_max:
            fail("missing_codes", f"missing code {code:g} lies inside the answer scale "
                 f"{s.scale_min}..{s.scale_max}; valid answers would be discarded")
    if s.header_rows < 1:
        fail("header_rows", "must be at least 1 (the row that names the columns)")
    if not 1 <= s.names_row <= s.header_rows:
        fail("names_row", f"must be one of the header rows, 1 to header_rows = {s.header_rows}, "
             f"got {s.names_row}")
    if s.skip_rows < 0:
        fail("skip_rows", f"must be 0 or more title rows above the header, got {s.skip_rows}")
    if s.duplicates not in ("quarantine", "keep_first", "keep_last"):
        fail("duplicates", 'must be "quarantine" (the default: copies that disagree are all '
             'quarantined), "keep_first" or "keep_last", got ' + repr(s.duplicates))
    if s.layout not in ("wide", "long"):
        fail("layout", f'must be "wide" or "long", got {s.layout!r}')
    if len(set(s.segments)) != len(s.segments):
        fail("segments", "lists a column twice")
    if any(not seg.strip() for seg in s.segments):
        fail("segments", "contains an empty column name")


_parse_label = parse_text  # a label: one string, or { en = "…", zh-CN = "…" }


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
    # The 100 points a respondent shares out go to every dimension: a dimension without its
    # column would weigh 0 in the weighted score, and the others be rescaled without it.
    lacking = [d.key for d in out if not d.importance]
    if any(d.importance for d in out) and lacking:
        raise InstrumentError(
            f"importance is given for {len(out) - len(lacking)} of {len(out)} dimensions: the "
            "weighted score shares 100 points among all of them; give the importance column "
            "of every dimension, or of none", file=path,
            key=f"dimensions.{lacking[0]}.importance")
    return tuple(out)


_ITEM_KEYS = ("id", "dimension", "expectation", "perception", "adequate", "reverse", "text", "code",
              "labels", "codes", "importance")


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
        required = ("id", "dimension") if long else ("id", "dimension", "perception")
        for k in required:
            if k not in spec:
                raise InstrumentError("required key is missing", file=path, key=f"{where}.{k}")
        spec = dict(spec)
        for k in ("expectation", "perception", "adequate", "importance"):
            if isinstance(spec.get(k), dict):
                spec[k] = column_by_position(spec[k], path, f"{where}.{k}")
        for k in ("id", "dimension", "expectation", "perception", "adequate", "code", "labels",
                  "codes", "importance"):
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
        for k in ("expectation", "perception", "adequate", "importance"):
            if not long and k in spec and not spec[k].strip():
                raise InstrumentError("must name a column", file=path, key=f"{where}.{k}")
        if long and spec.get("importance"):
            raise InstrumentError("an importance rating per item is read from its own column "
                                  "of a wide file; a long file has one row per item",
                                  file=path, key=f"{where}.importance")
        if spec.get("adequate") and not spec.get("expectation"):
            raise InstrumentError("an adequate-service column needs the item's expectation "
                                  "(the desired level): the zone of tolerance lies between them",
                                  file=path, key=f"{where}.adequate")
        out.append(Item(
            id=item_id, dimension=spec["dimension"], expectation=spec.get("expectation", ""),
            perception=spec.get("perception", ""), adequate=spec.get("adequate", ""),
            reverse=reverse, text=_parse_label(spec.get("text", item_id), path, f"{where}.text"),
            code=spec.get("code", ""), labels=spec.get("labels", ""),
            codes=spec.get("codes", ""), importance=spec.get("importance", ""),
        ))
    return tuple(out)


POSITION_PREFIX = "#"  # a column given by position is named "#12" in messages and quarantines


def column_by_position(spec: dict, path: Path, key: str) -> str:
    """``{ position = 12 }`` (1-based) or ``{ letter = "L" }`` (a spreadsheet's column
    letters) as the column's name in servqual, ``"#12"``: where a header repeats names (问卷星
    matrices give the expectation and perception blocks the same row labels), the position
    tells the columns apart. :func:`servqual.validation.columns.resolve_columns` finds it."""
    if set(spec) == {"position"} and isinstance(spec["position"], int) and not isinstance(
            spec["position"], bool) and spec["position"] >= 1:
        return f"{POSITION_PREFIX}{spec['position']}"
    if set(spec) == {"letter"} and isinstance(spec["letter"], str) and re.fullmatch(
            r"[A-Za-z]{1,3}", spec["letter"].strip()):
        number = 0
        for char in spec["letter"].strip().upper():
            number = number * 26 + ord(char) - ord("A") + 1
        return f"{POSITION_PREFIX}{number}"
    raise InstrumentError('must be a column name, { position = N } (1 for the first column) or '
                          '{ letter = "L" }', file=path, key=key)


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
