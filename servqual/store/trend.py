"""``servqual trend``: ad-hoc trend checks answered from the history store's trend tables.

The store classifies every series when waves are ingested (:func:`.write.rebuild_trends`,
with the functions and thresholds of ``servqual report``), so a question is two small
queries: this module imports neither pandas nor the statistics, and answers in a fraction of
a second however many respondents the waves had.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..celltext import bound_label
from ..errors import DataError, UsageError
from ..instrument import Instrument
from ..waves import sort_waves
from .integrity import guard
from .schema import (DEFAULT_WAIT, SERIES_FIELDS, TREND_FIT_FIELDS, attach, check_schema,
                     instrument_from_text)


@dataclass(frozen=True)
class Segment:
    column: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Segment:
        column, sep, value = text.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise UsageError(f"--segment {text!r} should be COLUMN=VALUE, e.g. region=East")
        return cls(column.strip(), value.strip())


LISTED = 20  # values named at most in a message


def _key(name: str) -> str:
    """How a name on the command line is compared with the store's: NFKC (full-width forms
    are plain ones), case and runs of whitespace do not matter. The comparison of
    :func:`servqual.ingest.table.match_key`, which this module does not import: it would
    load pandas."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def _unpadded(text: str) -> str:
    """Numbers without leading zeros: q5 is closest to q05 (not to q15)."""
    return re.sub(r"(?<!\d)0+(?=\d)", "", text)


def _unknown(what: str, name: str, known: list[str], names: dict[str, str]) -> UsageError:
    """A usage error for a name the store does not know: ``what`` it is not, the valid
    names as ``known`` lists them (at most :data:`LISTED`), and the closest of ``names``
    (every accepted spelling, compared by :func:`_key`, → its key) if one is close."""
    listed = ", ".join(bound_label(k) for k in known[:LISTED]) or "none"
    if len(known) > LISTED:
        listed += f" … and {len(known) - LISTED} more"
    wanted = _key(name)
    close = [n for n in names if _unpadded(n) == _unpadded(wanted)][:1] \
        or difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    hint = f"; did you mean {names[close[0]]!r}?" if close else ""
    return UsageError(f"{what}; the history store knows: {listed}{hint}")


def trend(store: str | Path, *, dimension: str | None = None, item: str | None = None,
          segment: Segment | None = None, wait: float = DEFAULT_WAIT) -> dict:
    """Gap and perception per wave with their trends, for one item, one dimension or every
    dimension, in the whole sample or one segment value. A JSON-ready dict."""
    path = Path(store)
    con = duckdb.connect()
    try:
        with guard(path):
            attach(con, path, write=False, wait=wait)
            check_schema(con, path, write=False)
            return _trend(con, path, dimension, item, segment)
    finally:
        con.close()


def _trend(con, path: Path, dimension, item, segment) -> dict:
    rows = con.execute("SELECT wave, instrument FROM store.waves").fetchall()
    if not rows:
        raise DataError("the history store holds no waves yet; add some with "
                        "servqual ingest FILE...", file=path)
    instruments = dict(rows)
    waves = sort_waves(instruments)
    instrument = instrument_from_text(instruments[waves[-1]], f"{path} (wave {waves[-1]})")
    series = _selected(instrument, dimension, item)
    seg, value = "", ""
    if segment is not None:
        seg, value = _segment_value(con, instrument, segment)
    keys = [(level, ident) for level, ident in series]
    con.execute("CREATE TEMP TABLE wanted (level VARCHAR, id VARCHAR)").fetchall()
    con.executemany("INSERT INTO wanted VALUES (?, ?)", [list(k) for k in keys]).fetchall()
    by_wave = con.execute(
        f"SELECT level, id, wave, {', '.join(SERIES_FIELDS)}, suppressed "
        "FROM store.trend_series JOIN wanted USING (level, id) "
        "WHERE segment = ? AND value = ?", [seg, value]).fetchall()
    fits = con.execute(
        f"SELECT level, id, measure, {', '.join(TREND_FIT_FIELDS)} "
        "FROM store.trend_fits JOIN wanted USING (level, id) "
        "WHERE segment = ? AND value = ?", [seg, value]).fetchall()
    order = {w: n for n, w in enumerate(waves)}
    points: dict[tuple, list[dict]] = {k: [] for k in keys}
    for level, ident, wave, *numbers, suppressed in by_wave:
        point = {"wave": wave, **dict(zip(SERIES_FIELDS, numbers)), "suppressed": suppressed}
        points[(level, ident)].append(_clean(point))
    fitted: dict[tuple, dict] = {}
    for level, ident, measure, *numbers in fits:
        fitted[(level, ident, measure)] = _clean(dict(zip(TREND_FIT_FIELDS, numbers)))
    out = []
    for level, ident in keys:
        per_wave = sorted(points[(level, ident)], key=lambda p: order.get(p["wave"], len(order)))
        dim = ident if level == "dimension" else instrument.dimension_of_item[ident]
        label = (instrument.dimension(ident).label if level == "dimension"
                 else next(i.text for i in instrument.items if i.id == ident))
        out.append({"level": level, "id": ident, "dimension": dim, "label": dict(label),
                    "by_wave": per_wave,
                    "gap_trend": fitted.get((level, ident, "gap"), _no_trend()),
                    "perception_trend": fitted.get((level, ident, "perception"), _no_trend())})
    return {"store": str(path), "instrument": instrument.name, "waves": waves,
            "method": "servperf" if instrument.servperf else "servqual",
            "segment": None if segment is None else {
                "column": seg, "value": value, "column_label": instrument.column_text(seg),
                "value_label": instrument.value_text(seg, value)},
            "thresholds": {k: getattr(instrument.analysis, k) for k in
                           ("significance", "trend_min_waves", "trend_min_change", "min_cell")},
            "series": out}


def _dimension_key(instrument: Instrument, name: str) -> str:
    """The dimension a --dimension names: its key or its label in any language."""
    wanted = _key(name)
    by_key = {_key(d.key): d.key for d in instrument.dimensions}
    if wanted in by_key:
        return by_key[wanted]
    by_label = {}
    for d in instrument.dimensions:
        for label in d.label.values():
            by_label.setdefault(_key(label), set()).add(d.key)
    found = by_label.get(wanted, set())
    if len(found) == 1:
        return found.pop()
    if found:
        raise UsageError(f"--dimension {name!r} is the label of several dimensions ("
                         f"{', '.join(sorted(found))}); give its key")
    known = [f"{d.key} ({d.label.get('en') or d.key})" for d in instrument.dimensions]
    names = {**{k: next(iter(v)) for k, v in by_label.items() if len(v) == 1}, **by_key}
    raise _unknown(f"--dimension {name!r} is not a dimension of the store's instrument", name,
                   known, names)


def _item_id(instrument: Instrument, name: str) -> str:
    """The item an --item names: its id, in any case."""
    by_id = {_key(i.id): i.id for i in instrument.items}
    if _key(name) in by_id:
        return by_id[_key(name)]
    known = [f"{i.id} ({bound_label(i.text.get('en') or i.dimension)})" for i in instrument.items]
    raise _unknown(f"--item {name!r} is not an item of the store's instrument", name, known,
                   by_id)


def _selected(instrument: Instrument, dimension: str | None, item: str | None
              ) -> list[tuple[str, str]]:
    if dimension is not None:
        dimension = _dimension_key(instrument, dimension)
    if item is not None:
        item = _item_id(instrument, item)
        if dimension is not None and instrument.dimension_of_item[item] != dimension:
            raise UsageError(f"--item {item} belongs to dimension "
                             f"{instrument.dimension_of_item[item]!r}, not {dimension!r}; "
                             "give one of the two, or matching ones")
        return [("item", item)]
    if dimension is not None:
        return [("dimension", dimension)]
    return [("dimension", d) for d in instrument.dimension_keys]


def _segment_value(con, instrument: Instrument, segment: Segment) -> tuple[str, str]:
    """The stored segment column and value a --segment COLUMN=VALUE names: the column as
    :func:`_key` compares names, the value exactly or, if that is unambiguous, so too."""
    stored = [r[0] for r in con.execute(
        "SELECT DISTINCT segment FROM store.trend_series WHERE segment <> ''").fetchall()]
    order = {c: n for n, c in enumerate(instrument.analysis_segments)}
    stored.sort(key=lambda c: (order.get(c, len(order)), c))
    columns = {_key(c): c for c in stored}
    column = columns.get(_key(segment.column))
    if column is None:
        raise _unknown(f"--segment {segment.column!r} is not a segment column of the store",
                       segment.column, stored, columns)
    values = [r[0] for r in con.execute(
        "SELECT DISTINCT value FROM store.trend_series WHERE segment = ? ORDER BY value",
        [column]).fetchall()]
    if segment.value in values:
        return column, segment.value
    alike = [v for v in values if _key(v) == _key(segment.value)]
    if len(alike) == 1:
        return column, alike[0]
    raise _unknown(f"--segment {column}={segment.value}: the store has no {column} "
                   f"{segment.value!r}", segment.value, values, {_key(v): v for v in values})


def _no_trend() -> dict:
    """No fit stored (every wave suppressed, say): nothing to classify."""
    return {"direction": "insufficient_waves", "waves": 0,
            **{k: None for k in TREND_FIT_FIELDS if k not in ("direction", "waves")}}


def _clean(d: dict) -> dict:
    """JSON-safe numbers: NaN and infinities become None."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
