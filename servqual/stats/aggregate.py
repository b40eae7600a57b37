"""Aggregates: the small, additive tables every statistic is computed from.

Three kinds, each keyed by wave × segment cell, each combining exactly across files,
partitions or machines by adding (docs/scale.md):

``moments``
    n, Σx, Σx² (and Σw, Σw·x, Σw·x², Σw² with sampling weights) of every measure;
    see :mod:`.moments` for the layout.
``histograms``
    counts of each distinct gap value, per item and dimension: rank tests (Wilcoxon,
    Kruskal–Wallis) and medians need the order of the values, and for answers on a 1..k
    scale the distinct values are few, so their counts are small and exact; and counts of
    each item's perception answers (measure ``perception``): its answer distribution.
``crossproducts``
    n, Σx_a, Σx_b and Σx_a·x_b over respondents who answered every item of a dimension,
    per wave, of expectations, perceptions and item gaps (P − E): what Cronbach's alpha,
    alpha-if-deleted and item-rest correlations need.

How respondents are grouped: each wave's respondents are cross-classified by all segment
columns at once ("cells"), aggregated once per cell, and the tables for each segment column
are sums over cells. When the cross-classification would have too many cells, each segment
column is aggregated on its own instead (same results, more passes over the data); see
:mod:`.grouping`.

Answers on an integer scale take the fast path: each item's (E, P) answer pair is coded as
one small integer and counted per cell (:mod:`.coded`); E, P and gap moments and the gap
histogram follow exactly from those counts. Other answers take the general path (n, Σx, Σx²
of each score column per cell, :mod:`.accumulators`). The loops over respondents are
compiled (:mod:`.kernels`).

The respondents are streamed in chunks of ``CHUNK_ROWS``: every aggregate is a sum, so each
chunk's per-cell sums are added to running totals and the tidy tables are built once at the
end. Chunks keep the temporaries small enough to be reused and to stay in cache, where
whole-array temporaries of a million respondents cost more in fresh memory than in
arithmetic; two streams of chunks run side by side, one per core.

When the questionnaire changed between waves, dimension trends take a second pass over the
items asked in every wave (:mod:`.questionnaire`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..models import KEYS, SUMS, WEIGHTED_SUMS, Aggregates, ImportanceCounts
from ..quarantine import SOURCE
from ..responses import RESPONDENT, WAVE, WEIGHT, Responses
from ..waves import sort_waves
from . import kernels
from .accumulators import CrossCounter, FloatCounter, HistogramCollector
from .cells import CellRows, marginals
from .coded import DIMENSION_MEASURES, CodedCounter
from .drivers import BASES, DriverCounter
from .grouping import Grouping, factorize, group_families, groupings
from .scores import Block, overall_blocks, score_blocks

CHUNK_ROWS = 1 << 16  # respondents per chunk of the stream
# Streams run side by side, one per core (1M respondents, 2 cores: 1.0 s -> 0.8 s).
THREADS = max(1, min(2, os.cpu_count() or 1))


def tidy(moments: pd.DataFrame, histograms: pd.DataFrame, sums: list[str],
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
    ``fast=False`` forces the general float path (the tests check both agree). A SERVPERF
    analysis takes the float path: the counting path counts (E, P) pairs.
    """
    if fast is not False and responses.adequate is None and not instrument.servperf:
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
                        for kind in CrossCounter.BATTERIES}
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
        self.histograms = [HistogramCollector(g.size, instrument.score) for g in groups]
        self.cross = CrossCounter(instrument, wave_labels)
        self.drivers = (DriverCounter(instrument.dimension_keys,
                                      [o.key for o in instrument.outcomes],
                                      BASES[:1] if instrument.servperf else BASES, wave_labels,
                                      centres=driver_centres(instrument))
                        if instrument.outcomes else None)
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
        if self.drivers is not None:  # key drivers (.drivers): dimension scores and outcomes
            dims = ({"perception": dim_scores.perception, "gap": dim_scores.gap} if self.coded
                    else {b.measure: b.values for b in blocks
                          if b.level == "dimension" and b.measure in BASES})
            self.drivers.add(dims, {o.key: part.meta[o.meta_column].to_numpy(dtype=float)
                                    for o in instrument.outcomes},
                             self.waves[start:stop], driver_keys(part, instrument), w)
        for kind, matrix in answers.items():
            self.cross.add(kind, matrix, start, stop, self.waves)
        self.cross.add_gaps(answers["expectation"], answers["perception"], start, stop,
                            self.waves)
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
        if self.drivers is not None:
            self.drivers.merge(other.drivers)
        if other.importance is not None:
            self.importance = other.importance if self.importance is None else (
                self.importance + other.importance)


def _aggregate(responses: Responses, instrument: Instrument, *, coded: bool,
               chunk_rows: int) -> Aggregates:
    groups = groupings(responses)
    waves, wave_labels = factorize(responses.meta[WAVE])
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
        sums_to = group_families(group, whole=not moments)
        per_cell, hist_cells = [stream.floats[g].cell_rows()], [stream.histograms[g].cell_rows()]
        if coded:
            counted_moments, counted_histograms = stream.counted[g].cell_rows()
            per_cell.append(counted_moments)
            hist_cells.append(counted_histograms)
        moments.append(marginals(CellRows.concat(per_cell), sums_to))
        hists.append(marginals(CellRows.concat(hist_cells), sums_to))
    cross = stream.cross.frame()
    if stream.drivers is not None:
        cross = pd.concat([cross, stream.drivers.frame()], ignore_index=True)
    return tidy(pd.concat(moments, ignore_index=True), pd.concat(hists, ignore_index=True),
                 moment_sums, cross, stream.importance)


def driver_centres(instrument: Instrument) -> dict[str, float]:
    """The middle of each scale the key drivers read (a perception, an outcome): the
    centres :class:`.drivers.DriverCounter` subtracts. Gaps are centred on zero."""
    middle = (instrument.scale_min + instrument.scale_max) / 2
    return {"perception": middle, "gap": 0.0} | {
        o.key: (o.scale_min + o.scale_max) / 2 if o.scale_min is not None else middle
        for o in instrument.outcomes}


def driver_keys(part: Responses, instrument: Instrument) -> np.ndarray:
    """Each respondent's bootstrap key: the duplicate rule's hash of its wave and id
    (:func:`servqual.validation.duplicates.key_hashes`, the same in any table); without
    respondent ids, the source file and row stand in for the id."""
    from ..validation.duplicates import key_hashes

    meta = part.meta
    if not instrument.settings.respondent_id and SOURCE in meta:
        ids = meta[SOURCE].astype(str).str.cat(meta[RESPONDENT].astype(str), sep="\x1f")
        meta = pd.DataFrame({WAVE: meta[WAVE], RESPONDENT: ids})
    return key_hashes(meta)


def _ranks(column: pd.Series, rank: dict, other: float = np.nan) -> np.ndarray:
    """Each value's rank (``other`` for a value without one), looked up once per distinct
    value: the histograms hold hundreds of thousands of rows of a few dozen labels."""
    codes, uniques = pd.factorize(column)
    lookup = np.array([rank.get(u, other) for u in uniques] + [other], dtype=float)
    return lookup[codes]  # code -1 (missing) takes the last slot


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
        keys = {"wave": lambda c: _ranks(c, waves), "segment": lambda c: _ranks(c, segments),
                "level": lambda c: _ranks(c, levels), "id": lambda c: _ranks(c, ids, len(ids)),
                "a": lambda c: _ranks(c, ids), "b": lambda c: _ranks(c, ids)}
        sortable = pd.DataFrame({c: keys[c](frame[c]) if c in keys else frame[c]
                                 for c in columns})
        index = sortable.sort_values(columns, kind="stable").index
        return frame.loc[index].reset_index(drop=True)

    cross = aggregates.crossproducts
    if len(cross) and waves:  # key-driver replicates describe the latest wave only
        latest = max(waves, key=waves.get)
        cross = cross[~(cross["kind"].astype(str).str.startswith("driver:")
                        & (cross["id"] != "0") & (cross["wave"] != latest))]
    return Aggregates(
        moments=order(aggregates.moments, ["wave", "segment", "value", "level", "id",
                                           "measure"]),
        histograms=order(aggregates.histograms, ["wave", "segment", "value", "level", "id",
                                                 "measure", "x"]),
        crossproducts=order(cross, ["wave", "kind", "id", "a", "b"]),
        importance=aggregates.importance)
