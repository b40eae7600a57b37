"""What a reader sees in place of raw names (contract §8): segment columns and their values,
and the report's organisation, service and fieldwork period, each in the report's languages.

``[segments.COLUMN]`` gives a column's ``label`` and its ``values``' labels; ``[report]``
the ``organisation``, ``service`` and ``fieldwork`` period. Each text is a string (the same
in every language) or a table like ``{ en = "East", zh-CN = "华东" }``; a language left out
falls back to English, then to the name in the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import unknown_key_message
from ..errors import InstrumentError

LANGUAGES = ("en", "zh-CN")
Text = dict[str, str]


def localise(texts: Text, lang: str, fallback: str) -> str:
    """The text in ``lang``, else English, else ``fallback``."""
    return texts.get(lang) or texts.get("en") or fallback


def parse_text(value: Any, path: Path, key: str) -> Text:
    """A text in the report's languages: a string (every language) or ``{ en, zh-CN }``."""
    if isinstance(value, str):
        return {lang: value for lang in LANGUAGES}
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        for lang in value:
            if lang not in LANGUAGES:
                raise InstrumentError(f"unknown language {lang!r}; use one of "
                                      f"{', '.join(LANGUAGES)}", file=path, key=f"{key}.{lang}")
        return dict(value)
    raise InstrumentError('must be a string or a table like { en = "…", zh-CN = "…" }',
                          file=path, key=key)


@dataclass(frozen=True)
class SegmentLabels:
    """A segment column's name and its values' names, per language."""

    label: Text = field(default_factory=dict)
    values: dict[str, Text] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportInfo:
    """Who and what the report is about (``[report]``): shown in its header and title."""

    organisation: Text = field(default_factory=dict)
    service: Text = field(default_factory=dict)
    fieldwork: Text = field(default_factory=dict)

    def merged(self, **texts: str | None) -> ReportInfo:
        """With the texts given on the command line (the same in every language) in place
        of the file's."""
        given = {k: {lang: v for lang in LANGUAGES} for k, v in texts.items() if v}
        return ReportInfo(**{k: given.get(k, getattr(self, k))
                             for k in ("organisation", "service", "fieldwork")})


def parse_segment_labels(table: Any, columns: list[str], path: Path
                         ) -> dict[str, SegmentLabels]:
    """``[segments.COLUMN]`` tables, each for one of ``columns`` (the segments)."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InstrumentError("must be tables like [segments.region]", file=path,
                              key="segments")
    out = {}
    for column, spec in table.items():
        where = f"segments.{column}"
        if column not in columns:
            raise InstrumentError(unknown_key_message(column, columns) if columns else
                                  "the instrument has no segment columns to label",
                                  file=path, key=where)
        if not isinstance(spec, dict):
            raise InstrumentError("must be a table with label and values", file=path, key=where)
        for key in spec:
            if key not in ("label", "values"):
                raise InstrumentError(unknown_key_message(key, ["label", "values"]),
                                      file=path, key=f"{where}.{key}")
        values = spec.get("values", {})
        if not isinstance(values, dict):
            raise InstrumentError('must be a table like { East = { zh-CN = "华东" } }',
                                  file=path, key=f"{where}.values")
        out[column] = SegmentLabels(
            label=parse_text(spec["label"], path, f"{where}.label") if "label" in spec else {},
            values={str(v): parse_text(t, path, f"{where}.values.{v}")
                    for v, t in values.items()})
    return out


def parse_report(table: Any, path: Path) -> ReportInfo:
    """The ``[report]`` table."""
    if table is None:
        return ReportInfo()
    keys = ("organisation", "service", "fieldwork")
    if not isinstance(table, dict):
        raise InstrumentError("must be a table", file=path, key="report")
    for key in table:
        if key not in keys:
            raise InstrumentError(unknown_key_message(key, keys), file=path, key=f"report.{key}")
    return ReportInfo(**{k: parse_text(table[k], path, f"report.{k}")
                         for k in keys if k in table})


def segment_value_warnings(instrument, cells) -> list[str]:
    """Warnings on the run's segment values: values of one column that differ only in case,
    width or spaces (each a segment of its own), and each value the instrument names
    (``[segments.X]`` value labels, ``[customer_classes]`` values) that no respondent of
    the run holds, with the closest value that some do: a typo (``Eats`` for ``East``,
    ``核芯`` for ``核心``) silently left a value unlabelled in the Chinese report, or a class
    without its strategy. ``cells``: a table of the run's ``segment`` and ``value`` pairs
    (the dimension table of every wave)."""
    import difflib

    from ..ingest.table import match_key  # how column names are matched: case, width, spaces

    seen: dict[str, set[str]] = {}
    for column, value in zip(cells["segment"], cells["value"]):
        seen.setdefault(str(column), set()).add(str(value))

    def unheld(column: str, value: str) -> str:
        close = difflib.get_close_matches(value, sorted(seen.get(column, ())), n=1, cutoff=0.5)
        return (f"{value!r} of {column}, which no respondent holds"
                + (f" (did you mean {close[0]!r}?)" if close else ""))

    out = []
    for column, values in seen.items():  # East, east and ＥＡＳＴ: three segments of one
        by_key: dict[str, list[str]] = {}
        for value in sorted(values):
            by_key.setdefault(match_key(value), []).append(value)
        out += [f"warning: the {column} values {', '.join(repr(v) for v in same)} differ only "
                "in case, width or spaces: each is a segment of its own; write them alike"
                for same in by_key.values() if len(same) > 1]
    out += [f"warning: [segments.{column}] labels the value {unheld(column, value)}"
           for column, labels in instrument.segment_labels.items()
           for value in labels.values if value not in seen.get(column, set())]
    classes = instrument.customer_classes
    if classes is not None and not classes.derived:
        out += [f"warning: [customer_classes] {key} names the value {unheld(classes.column, v)}"
                for v, key in classes.values.items() if v not in seen.get(classes.column, set())]
    return out
