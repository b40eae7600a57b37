"""Accumulators: per-cell sums of a chunk of respondents, added up over chunks.

Each accumulator counts per cell of a :class:`.grouping.Grouping` and merges with another
of its kind by adding, so chunks, streams and parts combine exactly (:mod:`.aggregate`):

:class:`FloatCounter`
    n, Σx, Σx² (and weighted sums) of float score blocks (the general path; the counting
    path for integer answers is :mod:`.coded`).
:class:`HistogramCollector`
    counts of each distinct gap value, per item and dimension, and of each item's
    perception answers (:func:`value_histogram`).
:class:`CrossCounter`
    n, Σx and Σxxᵀ per wave and dimension over respondents who answered all its items, for
    expectations, perceptions and item gaps.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..models import CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, SUMS, WEIGHTED_SUMS
from . import kernels
from .cells import CellRows
from .scores import Block, item_dimensions

HISTOGRAM_CELL_KEYS = HISTOGRAM_KEYS[3:]  # what a cell's histogram rows are keyed by
MOMENT_SLOTS = len(SUMS) + len(WEIGHTED_SUMS)  # the sums kernels.float_moments adds


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
    """Value histograms of the float blocks of the analysis' score (the gap; perception in
    a SERVPERF analysis) per item and dimension, and of the items' perceptions (their answer
    distribution), chunk by chunk (the general path)."""

    def __init__(self, cells: int, measure: str = "gap") -> None:
        self.cells, self.measure = cells, measure
        self.parts: list[pd.DataFrame] = []

    def add(self, blocks: list[Block], cell: np.ndarray) -> None:
        for block in blocks:
            if (block.measure == self.measure and block.level in ("item", "dimension")) or (
                    block.measure == "perception" and block.level == "item"):
                self.parts.append(value_histogram(block, cell, self.cells))

    def cell_rows(self) -> CellRows:
        if not self.parts:
            return CellRows.empty(HISTOGRAM_CELL_KEYS, ["count"])
        return CellRows.from_frame(pd.concat(self.parts, ignore_index=True),
                                   HISTOGRAM_CELL_KEYS, ["count"])


class CrossCounter:
    """Per wave, battery and dimension: n, Σx and Σxxᵀ of respondents who answered every item
    of the dimension in that battery (listwise, as SPSS RELIABILITY does). The battery
    ``gap`` holds the item gaps P − E of respondents who answered both batteries of every
    item of the dimension: the reliability of the gap scores needs their cross-products,
    which those of E and of P alone cannot give."""

    KINDS = ("expectation", "perception", "gap")
    BATTERIES = KINDS[:2]  # the kinds read from answers; "gap" is their difference

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

    def add_gaps(self, expectation: np.ndarray, perception: np.ndarray, first: int, last: int,
                 waves: np.ndarray) -> None:
        """Add the item gaps P − E of respondents first..last−1 (NaN where either is missing);
        the matrices as for :meth:`add`. The gaps of a chunk only are formed (in the answers'
        float type, exact for answers on a scale)."""
        gaps = np.asfortranarray(perception[first:last] - expectation[first:last])
        self.add("gap", gaps, 0, last - first, waves[first:last])

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
                "a": ids[a.ravel()], "b": ids[b.ravel()], "n": float(n), "w": float(n),
                "sum_a": sums[a.ravel()], "sum_b": sums[b.ravel()], "sum_ab": cross.ravel()}))
        if not frames:
            return pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS)
        return pd.concat(frames, ignore_index=True)
