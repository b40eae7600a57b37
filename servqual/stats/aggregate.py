"""Aggregates: the small, additive tables every statistic is computed from.

Three kinds, each keyed by wave × segment cell, each combining exactly across files,
partitions or machines by adding (docs/scale.md):

``moments``
    n, Σx, Σx² (and Σw, Σw·x, Σw·x², Σw² with sampling weights) of every measure;
    see :mod:`.moments` for the layout.
``histograms``
    counts of each distinct gap value, per item and dimension: rank tests (Wilcoxon,
    Kruskal–Wallis) and medians need the order of the values, and for answers on a 1..k
    scale the distinct values are few, so their counts are small and exact.
``crossproducts``
    n, Σx_a, Σx_b and Σx_a·x_b over respondents who answered every item of a dimension,
    per wave: what Cronbach's alpha, alpha-if-deleted and item-rest correlations need.

How respondents are grouped: each wave's respondents are cross-classified by all segment
columns at once ("cells"), aggregated once per cell, and the tables for each segment column
are sums over cells. When the cross-classification would have too many cells, each segment
column is aggregated on its own instead (same results, more passes over the data).

Answers on an integer scale take the fast path: each item's (E, P) answer pair is coded as
one small integer and counted per cell (:mod:`.coded`); E, P and gap moments and the gap
histogram follow exactly from those counts. Other answers take the general path (n, Σx, Σx²
of each score column per cell). The loops over respondents are compiled (:mod:`.kernels`).

The respondents are streamed in chunks of ``CHUNK_ROWS``: every aggregate is a sum, so each
chunk's per-cell sums are added to running totals and the tidy tables are built once at the
end. Chunks keep the temporaries small enough to be reused and to stay in cache, where
whole-array temporaries of a million respondents cost more in fresh memory than in
arithmetic; two streams of chunks run side by side, one per core.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..responses import WAVE, WEIGHT, Responses
from ..waves import sort_waves
from . import kernels
from .cells import CellRows, families, marginals
from .coded import DIMENSION_MEASURES, CodedCounter
from ..models import (ALL, CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, KEYS, SUMS, WEIGHTED_SUMS,
                      Aggregates, ImportanceCounts)
from .scores import (Block, dimension_scores, item_dimensions, membership,
                     overall_blocks, score_blocks)

MAX_CELLS = 20_000  # cross-classified cells beyond which segments are aggregated one by one
CHUNK_ROWS = 1 << 16  # respondents per chunk of the stream
# Streams run side by side, one per core (1M respondents, 2 cores: 1.0 s -> 0.8 s).
THREADS = max(1, min(2, os.cpu_count() or 1))
HISTOGRAM_CELL_KEYS = HISTOGRAM_KEYS[3:]  # what a cell's histogram rows are keyed by
MOMENT_SLOTS = len(SUMS) + len(WEIGHTED_SUMS)  # the sums kernels.float_moments adds


# --------------------------------------------------------------------------------------------
# Grouping respondents into cells


@dataclass
class Grouping:
    """Respondents grouped into cells of wave × the values of ``columns``."""

    columns: tuple[str, ...]
    code: np.ndarray  # cell of each respondent
    cells: pd.DataFrame  # one row per cell: wave and the value of each column (NaN = missing)

    @property
    def size(self) -> int:
        return len(self.cells)


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (missing → its own code, the last) and the labels, as strings. A categorical
    column (waves and segments as validated) has its codes already: factorizing it again
    took 5 ms per 1,000,000 rows, five times per file."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, labels = series.cat.codes.to_numpy(), series.cat.categories
    else:
        codes, labels = pd.factorize(series, use_na_sentinel=True)
    codes = np.where(codes < 0, len(labels), codes)
    labels = np.append(np.asarray(labels, dtype=object).astype(str), None)
    return codes.astype(np.int64), labels


def grouping(responses: Responses, columns: tuple[str, ...]) -> Grouping:
    meta = responses.meta
    parts = [_factorize(meta[WAVE])] + [_factorize(meta[c]) for c in columns]
    code = np.zeros(len(meta), dtype=np.int64)
    radix = 1
    for codes, labels in parts:
        code += codes * radix
        radix *= len(labels)
    present = np.bincount(code, minlength=radix) > 0 if len(code) else np.zeros(radix, bool)
    dense = np.cumsum(present) - 1
    ids = np.flatnonzero(present)
    cells = {}
    rest = ids.copy()
    for name, (_, labels) in zip((WAVE,) + columns, parts):
        cells[name] = labels[rest % len(labels)]
        rest //= len(labels)
    return Grouping(columns=columns, code=dense[code], cells=pd.DataFrame(cells))


def groupings(responses: Responses) -> list[Grouping]:
    """One cross-classified grouping, or one per segment column when that is too fine."""
    columns = tuple(responses.segments)
    crossed = grouping(responses, columns)
    if crossed.size <= MAX_CELLS or len(columns) <= 1:
        return [crossed]
    return [grouping(responses, (c,)) for c in columns]


def _families(group: Grouping, whole: bool = True):
    """The whole sample (when ``whole``) and each segment column of a grouping, as groups of
    its cells (:func:`.cells.families`)."""
    return families(group.cells, WAVE, group.columns, whole)


# --------------------------------------------------------------------------------------------
# Accumulators: per-cell sums added up over chunks of respondents


class FloatCounter:
    """Per cell and column of float score blocks: n, Σx, Σx² (and weighted sums)."""

    def __init__(self, cells: int, weighted: bool) -> None:
        self.cells, self.weighted = cells, weighted
        self.names = SUMS + (WEIGHTED_SUMS if weighted else [])
        self.sums: np.ndarray | None = None  # (len(MOMENT_SLOTS), cells, columns)
        self.layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, blocks: list[Block], cell: np.ndarray, weight: np.ndarray | None) -> None:
        if self.layout is None:
            self.layout = (np.concatenate([[b.level] * len(b.ids) for b in blocks]),
                           np.concatenate([[b.measure] * len(b.ids) for b in blocks]),
                           np.concatenate([np.asarray(b.ids, dtype=object) for b in blocks]))
            self.sums = np.zeros((MOMENT_SLOTS, self.cells, len(self.layout[0])))
        weights = weight if weight is not None else np.zeros(1)
        j = 0
        for block in blocks:
            kernels.float_moments(block.values, cell, weights, weight is not None, j,
                                  self.sums)
            j += len(block.ids)

    def merge(self, other: FloatCounter) -> None:
        if other.layout is None:
            return
        if self.layout is None:
            self.layout, self.sums = other.layout, other.sums
            return
        self.sums += other.sums

    def cell_rows(self) -> CellRows:
        if self.layout is None:
            return CellRows.empty(["level", "id", "measure"], self.names)
        levels, measures, ids = self.layout
        keys = pd.DataFrame({"level": levels, "id": ids, "measure": measures})
        return CellRows.dense(keys, {name: self.sums[slot]
                                     for slot, name in enumerate(self.names)})


def value_histogram(block: Block, cell: np.ndarray, cells: int) -> pd.DataFrame:
    """Per cell and column, the count of each distinct value (for rank tests)."""
    frames = []
    for j, ident in enumerate(block.ids):
        x = np.asarray(block.values[:, j], dtype=np.float64)
        ok = ~np.isnan(x)
        values, codes = _value_codes(x[ok])
        if len(values) == 0:
            continue
        counts = np.bincount(cell[ok] * len(values) + codes,
                             minlength=cells * len(values)).reshape(cells, -1)
        where, which = np.nonzero(counts)
        frames.append(pd.DataFrame({"cell": where, "level": block.level, "id": ident,
                                    "measure": block.measure, "x": values[which],
                                    "count": counts[where, which].astype(float)}))
    if not frames:
        return pd.DataFrame(columns=["cell", "level", "id", "measure", "x", "count"])
    return pd.concat(frames, ignore_index=True)


def _value_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the code of each element, linear time for values on a fine grid.

    Dimension scores of integer answers are fractions with a small denominator (the number
    of items answered), so multiplying by the least common multiple of 1..12 makes them
    integers; anything else takes a sort (np.unique).
    """
    if x.size == 0:
        return np.array([]), np.array([], dtype=np.int64)
    scale = math.lcm(*range(1, 13))
    scaled = x * scale
    rounded = np.rint(scaled)
    if np.all(np.abs(scaled - rounded) < 1e-6) and rounded.max() - rounded.min() < 10_000_000:
        offset = rounded.min()
        index = (rounded - offset).astype(np.int64)
        present = np.bincount(index) > 0
        dense = np.cumsum(present) - 1
        return (np.flatnonzero(present) + offset) / scale, dense[index]
    values, codes = np.unique(x, return_inverse=True)
    return values, codes


class HistogramCollector:
    """Value histograms of float gap blocks, chunk by chunk (the general path)."""

    def __init__(self, cells: int) -> None:
        self.cells = cells
        self.parts: list[pd.DataFrame] = []

    def add(self, blocks: list[Block], cell: np.ndarray) -> None:
        for block in blocks:
            if block.measure == "gap" and block.level in ("item", "dimension"):
                self.parts.append(value_histogram(block, cell, self.cells))

    def cell_rows(self) -> CellRows:
        if not self.parts:
            return CellRows.empty(HISTOGRAM_CELL_KEYS, ["count"])
        return CellRows.from_frame(pd.concat(self.parts, ignore_index=True),
                                   HISTOGRAM_CELL_KEYS, ["count"])


class CrossCounter:
    """Per wave, battery and dimension: n, Σx and Σxxᵀ of respondents who answered every item
    of the dimension in that battery (listwise, as SPSS RELIABILITY does)."""

    KINDS = ("expectation", "perception")

    def __init__(self, instrument: Instrument, wave_labels: np.ndarray) -> None:
        self.instrument, self.labels = instrument, wave_labels
        self.keys = instrument.dimension_keys
        self.columns = {d: [j for j, item in enumerate(instrument.items) if item.dimension == d]
                        for d in self.keys}
        self.item_dim = item_dimensions(instrument)
        self.position = np.array([self.columns[item.dimension].index(j)
                                  for j, item in enumerate(instrument.items)], dtype=np.int64)
        size = max((len(c) for c in self.columns.values()), default=0)
        shape = (len(wave_labels), len(self.KINDS), len(self.keys))
        self.n = np.zeros(shape)
        self.sums = np.zeros(shape + (size,))
        self.cross = np.zeros(shape + (size, size))  # upper triangle (a ≤ b) filled

    def add(self, kind: str, answers: np.ndarray, first: int, last: int, waves: np.ndarray
            ) -> None:
        """Add respondents first..last−1 of one battery's answers (NaN = missing; the matrix
        as :func:`.kernels.column_major`) and the wave of every respondent."""
        kernels.cross_products(answers, first, last, waves, self.item_dim, self.position,
                               self.KINDS.index(kind), self.n, self.sums, self.cross)

    def merge(self, other: CrossCounter) -> None:
        self.n += other.n
        self.sums += other.sums
        self.cross += other.cross

    def frame(self) -> pd.DataFrame:
        frames = []
        for kind, dim, w in sorted(itertools.product(range(len(self.KINDS)), self.keys,
                                                     range(len(self.labels))),
                                   key=lambda key: (self.KINDS[key[0]], key[1], key[2])):
            d = self.keys.index(dim)
            n = self.n[w, kind, d]
            if not n:
                continue
            cols = self.columns[dim]
            ids = np.asarray([self.instrument.items[j].id for j in cols], dtype=object)
            sums = self.sums[w, kind, d, :len(cols)]
            upper = np.triu(self.cross[w, kind, d, :len(cols), :len(cols)])
            cross = upper + np.triu(upper, 1).T
            a, b = np.meshgrid(np.arange(len(ids)), np.arange(len(ids)), indexing="ij")
            frames.append(pd.DataFrame({
                "wave": self.labels[w], "kind": self.KINDS[kind], "id": dim,
                "a": ids[a.ravel()], "b": ids[b.ravel()], "n": float(n),
                "sum_a": sums[a.ravel()], "sum_b": sums[b.ravel()], "sum_ab": cross.ravel()}))
        if not frames:
            return pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS)
        return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------


def item_presence(moments: pd.DataFrame) -> pd.DataFrame:
    """Waves × items: answered pairs in the whole sample (0 where the item was not asked)."""
    rows = moments[(moments["segment"] == ALL) & (moments["level"] == "item")
                   & (moments["measure"] == "gap")]
    return rows.pivot_table(index="wave", columns="id", values="n", aggfunc="sum",
                            fill_value=0)


def questionnaire_common(moments: pd.DataFrame, instrument: Instrument) -> np.ndarray | None:
    """Membership of the items asked in every wave, when the questionnaire changed.

    None when every item has answers in every wave (or there is one wave). A dimension with
    no item common to all waves keeps no common score.
    """
    presence = item_presence(moments).reindex(columns=list(instrument.item_ids), fill_value=0)
    asked = (presence > 0).to_numpy()
    changed = asked.any(axis=0) & ~asked.all(axis=0)  # asked in some waves, not in others
    if len(presence) < 2 or not changed.any():
        return None
    asked_always = asked.all(axis=0)
    member = membership(instrument)
    return member * asked_always[:, None]


def common_items(responses: Responses, instrument: Instrument, member: np.ndarray
                 ) -> Aggregates:
    """Dimension scores from the items asked in every wave only (level ``dimension_common``,
    ``member`` from :func:`questionnaire_common` over all waves): what dimension trends use
    when the questionnaire changed between waves. A second pass over the respondents, as the
    items asked in every wave are known only once every wave has been aggregated."""
    meta = responses.meta
    weight = meta[WEIGHT].to_numpy(dtype=float) if WEIGHT in meta else None
    dims = dimension_scores(responses, instrument, member=member)
    keys = instrument.dimension_keys
    blocks = [Block("dimension_common", m, keys, getattr(dims, m))
              for m in ("expectation", "perception", "gap")]
    moments, histograms = [], []
    for group in groupings(responses):
        sums_to = _families(group, whole=not moments)
        counter = FloatCounter(group.size, weight is not None)
        counter.add(blocks, group.code, weight)
        moments.append(marginals(counter.cell_rows(), sums_to))
        histogram = value_histogram(blocks[2], group.code, group.size)
        histograms.append(marginals(CellRows.from_frame(histogram, HISTOGRAM_CELL_KEYS,
                                                        ["count"]), sums_to))
    sums = SUMS + (WEIGHTED_SUMS if weight is not None else [])
    return _tidy(pd.concat(moments, ignore_index=True), pd.concat(histograms, ignore_index=True),
                 sums, pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS), None)


def _tidy(moments: pd.DataFrame, histograms: pd.DataFrame, sums: list[str],
          crossproducts: pd.DataFrame, importance: ImportanceCounts | None) -> Aggregates:
    """The aggregates with the empty cells left out and whole counts as integers."""
    moments["n"] = moments["n"].round().astype(np.int64)
    moments = moments[moments["n"] > 0].reset_index(drop=True)
    histograms = histograms[histograms["count"] > 0].reset_index(drop=True)
    return Aggregates(moments=moments[KEYS + sums], histograms=histograms,
                      crossproducts=crossproducts, importance=importance)


class _NotCoded(Exception):
    """A chunk's answers are not integers on the scale: use the general path for all."""


def aggregate(responses: Responses, instrument: Instrument, *, fast: bool | None = None,
              chunk_rows: int = CHUNK_ROWS) -> Aggregates:
    """All aggregates of a set of validated responses, streamed in chunks of respondents.

    Answers that are all integers on the scale take the counting path (:mod:`.coded`);
    ``fast=False`` forces the general float path (the tests check both agree).
    """
    if fast is not False and responses.adequate is None:
        try:
            return _aggregate(responses, instrument, coded=True, chunk_rows=chunk_rows)
        except _NotCoded:
            pass
    return _aggregate(responses, instrument, coded=False, chunk_rows=chunk_rows)


class _Stream:
    """The accumulators of one pass over (some of) the chunks; streams merge by adding."""

    def __init__(self, responses: Responses, instrument: Instrument, groups: list[Grouping],
                 waves: np.ndarray, wave_labels: np.ndarray, coded: bool) -> None:
        self.responses, self.instrument, self.groups = responses, instrument, groups
        self.waves, self.coded = waves, coded
        self.answers = {kind: kernels.column_major(getattr(responses, kind))
                        for kind in CrossCounter.KINDS}
        meta = responses.meta
        self.weight = meta[WEIGHT].to_numpy(dtype=float) if WEIGHT in meta else None
        weighted = self.weight is not None
        self.floats = [FloatCounter(g.size, weighted) for g in groups]
        if coded and not all(CodedCounter.feasible(g.size, instrument) for g in groups):
            raise _NotCoded
        # Too many distinct dimension scores to count in some grouping: dimension floats.
        self.dims_counted = coded and all(CodedCounter.counts_dimensions(g.size, instrument)
                                          for g in groups)
        self.counted = [CodedCounter(g.size, instrument, weighted, self.dims_counted)
                        for g in groups] if coded else []
        self.histograms = [HistogramCollector(g.size) for g in groups]
        self.cross = CrossCounter(instrument, wave_labels)
        self.importance: ImportanceCounts | None = None

    def add_chunk(self, start: int, stop: int) -> None:
        part = self.responses.rows(start, stop)
        instrument = self.instrument
        w = None if self.weight is None else self.weight[start:stop]
        answers = self.answers
        if self.coded:
            for counter, group in zip(self.counted, self.groups):
                dim_scores = counter.add(answers["expectation"], answers["perception"], start,
                                         stop, group.code, self.weight)
                if dim_scores is None:
                    raise _NotCoded
            blocks, importance = overall_blocks(dim_scores, part, instrument)
            if not self.dims_counted:
                blocks += [Block("dimension", m, instrument.dimension_keys,
                                 getattr(dim_scores, m)) for m in DIMENSION_MEASURES]
        else:
            scores = score_blocks(part, instrument)
            blocks, importance = scores.blocks, scores.importance
        for kind, matrix in answers.items():
            self.cross.add(kind, matrix, start, stop, self.waves)
        if importance is not None:
            self.importance = importance if self.importance is None else (
                self.importance + importance)
        for floats, histograms, group in zip(self.floats, self.histograms, self.groups):
            cell = group.code[start:stop]
            floats.add(blocks, cell, w)
            histograms.add(blocks, cell)

    def merge(self, other: _Stream) -> None:
        """Add another stream's totals to this one's (all accumulators are sums)."""
        for mine, theirs in zip(self.floats, other.floats):
            mine.merge(theirs)
        for mine, theirs in zip(self.counted, other.counted):
            mine.merge(theirs)
        for mine, theirs in zip(self.histograms, other.histograms):
            mine.parts += theirs.parts
        self.cross.merge(other.cross)
        if other.importance is not None:
            self.importance = other.importance if self.importance is None else (
                self.importance + other.importance)


def _aggregate(responses: Responses, instrument: Instrument, *, coded: bool,
               chunk_rows: int) -> Aggregates:
    groups = groupings(responses)
    waves, wave_labels = _factorize(responses.meta[WAVE])
    starts = list(range(0, len(responses), chunk_rows))
    workers = min(THREADS, len(starts)) or 1
    streams = [_Stream(responses, instrument, groups, waves, wave_labels, coded)
               for _ in range(workers)]

    def run(worker: int) -> None:
        for start in starts[worker::workers]:
            streams[worker].add_chunk(start, min(start + chunk_rows, len(responses)))

    if workers == 1:
        run(0)
    else:  # numpy releases the GIL in most of the chunk work: one stream per core
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))
    stream = streams[0]
    for other in streams[1:]:
        stream.merge(other)

    weight = stream.weight
    moment_sums = SUMS + (WEIGHTED_SUMS if weight is not None else [])
    moments, hists = [], []
    for g, group in enumerate(groups):
        # A later grouping (one per segment column) would repeat the whole-sample family.
        sums_to = _families(group, whole=not moments)
        per_cell, hist_cells = [stream.floats[g].cell_rows()], [stream.histograms[g].cell_rows()]
        if coded:
            counted_moments, counted_histograms = stream.counted[g].cell_rows()
            per_cell.append(counted_moments)
            hist_cells.append(counted_histograms)
        moments.append(marginals(CellRows.concat(per_cell), sums_to))
        hists.append(marginals(CellRows.concat(hist_cells), sums_to))
    return _tidy(pd.concat(moments, ignore_index=True), pd.concat(hists, ignore_index=True),
                 moment_sums, stream.cross.frame(), stream.importance)


def canonical(aggregates: Aggregates, instrument: Instrument) -> Aggregates:
    """The aggregate tables in one fixed order: waves chronologically, the whole sample then
    the segments in the instrument's order and their values alphabetically, items and
    dimensions in the instrument's order.

    Engines add up parts in no fixed order (DuckDB returns rows in any order), and a few
    results list rows in the order of the aggregates (``segment_tests``, ``benchmark``): this
    keeps them the same whatever the engine, run to run.
    """
    waves = {w: n for n, w in enumerate(sort_waves(aggregates.moments["wave"].unique()))}
    segments = {"": 0, **{c: n + 1 for n, c in enumerate(instrument.segments)}}
    ids = {k: n for n, k in enumerate(instrument.dimension_keys + instrument.item_ids)}
    levels = {"item": 0, "dimension": 1, "overall": 2}

    def order(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        if frame.empty:
            return frame.reset_index(drop=True)
        keys = {"wave": lambda c: c.map(waves), "segment": lambda c: c.map(segments),
                "level": lambda c: c.map(levels), "id": lambda c: c.map(ids).fillna(len(ids)),
                "a": lambda c: c.map(ids), "b": lambda c: c.map(ids)}
        sortable = pd.DataFrame({c: keys[c](frame[c]) if c in keys else frame[c]
                                 for c in columns})
        index = sortable.sort_values(columns, kind="stable").index
        return frame.loc[index].reset_index(drop=True)

    return Aggregates(
        moments=order(aggregates.moments, ["wave", "segment", "value", "level", "id",
                                           "measure"]),
        histograms=order(aggregates.histograms, ["wave", "segment", "value", "level", "id",
                                                 "measure", "x"]),
        crossproducts=order(aggregates.crossproducts, ["wave", "kind", "id", "a", "b"]),
        importance=aggregates.importance)


# --------------------------------------------------------------------------------------------
# One call
