"""``servqual trend``: ad-hoc trend checks answered from the history store's trend tables.

The store classifies every series when waves are ingested (:func:`.history.rebuild_trends`,
with the functions and thresholds of ``servqual report``), so a question is two small
queries: this module imports neither pandas nor the statistics, and answers in a fraction of
a second however many respondents the waves had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import DataError, UsageError
from ..instrument import Instrument
from ..waves import sort_waves
from .schema import (DEFAULT_WAIT, SERIES_FIELDS, TREND_FIT_FIELDS, attach, check_schema,
                     guard, instrument_from_text)


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


def _known(kind: str, name: str, known) -> DataError:
    listed = ", ".join(known) if known else "none"
    return DataError(f"unknown {kind} {name!r}; the store knows: {listed}")


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
        if segment.column not in instrument.segments:
            raise _known("segment column", segment.column, instrument.segments)
        values = [r[0] for r in con.execute(
            "SELECT DISTINCT value FROM store.trend_series WHERE segment = ? ORDER BY value",
            [segment.column]).fetchall()]
        if segment.value not in values:
            raise _known(f"value of segment {segment.column!r}", segment.value, values)
        seg, value = segment.column, segment.value
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
            "segment": None if segment is None else {"column": seg, "value": value},
            "thresholds": {k: getattr(instrument.analysis, k) for k in
                           ("significance", "trend_min_waves", "trend_min_change", "min_cell")},
            "series": out}


def _selected(instrument: Instrument, dimension: str | None, item: str | None
              ) -> list[tuple[str, str]]:
    if dimension is not None and dimension not in instrument.dimension_keys:
        raise _known("dimension", dimension, instrument.dimension_keys)
    if item is not None:
        if item not in instrument.item_ids:
            raise _known("item", item, instrument.item_ids)
        if dimension is not None and instrument.dimension_of_item[item] != dimension:
            raise DataError(f"item {item!r} belongs to dimension "
                            f"{instrument.dimension_of_item[item]!r}, not {dimension!r}")
        return [("item", item)]
    if dimension is not None:
        return [("dimension", dimension)]
    return [("dimension", d) for d in instrument.dimension_keys]


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
