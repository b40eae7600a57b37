"""The fast path for answers on an integer scale: count codes instead of summing floats.

An answer ``x`` on a ``low..high`` scale is the code ``x − low + 1`` (0 = missing), one byte.
Everything at item and dimension level then comes from integer arithmetic and ``bincount``:

* an item's (E, P) answer pair is one code, so per cell the counts of each pair give the item
  moments and the gap histogram exactly (:class:`ItemCounter`);
* a respondent's dimension score is ``Σ codes / count`` over the paired items: a fraction with
  a small denominator. Multiplied by ``L = lcm(1..k)`` (k = the largest dimension's item
  count) it is an integer, so per cell ``bincount`` of those integers is the exact histogram
  of the dimension scores, from which the moments follow (:class:`DimensionCounter`).

Both counters accumulate over chunks of respondents (:mod:`.aggregate` streams the data),
and their totals equal the float path exactly (tests/test_aggregate.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..instrument import Instrument
from .scores import DimensionScores

MAX_HISTOGRAM = 20_000_000  # cells x distinct values beyond which the float path is used
DIMENSION_MEASURES = ("expectation", "perception", "gap", "servperf")


@dataclass
class Coded:
    """Expectation and perception answers as uint8 codes (0 = missing)."""

    expectation: np.ndarray
    perception: np.ndarray
    low: int  # the scale's minimum: answer = code + low − 1
    levels: int  # codes 0..levels−1

    @property
    def offset(self) -> int:
        return self.low - 1


def answer_codes(values: np.ndarray, low: int, high: int) -> np.ndarray | None:
    """Answers as uint8 codes 1..K (0 = missing), or None unless all are integers in range."""
    if high - low + 1 > 250:
        return None
    shifted = values - np.asarray(low - 1, dtype=values.dtype)
    np.nan_to_num(shifted, copy=False, nan=0.0)
    if shifted.size and (shifted.min() < 0 or shifted.max() > high - low + 1):
        return None
    codes = shifted.astype(np.uint8)
    return codes if np.array_equal(codes, shifted) else None


def encode(expectation: np.ndarray, perception: np.ndarray, instrument: Instrument
           ) -> Coded | None:
    """Codes of both batteries, or None when the answers are not integers on the scale."""
    low, high = instrument.scale_min, instrument.scale_max
    ec = answer_codes(expectation, low, high)
    if ec is None:
        return None
    pc = answer_codes(perception, low, high)
    if pc is None:
        return None
    return Coded(ec, pc, low, high - low + 2)


def grid(member: np.ndarray) -> int:
    """L = lcm(1..k) for the largest dimension: every dimension score × L is an integer."""
    return math.lcm(*range(1, int(member.sum(axis=0).max()) + 1))


@dataclass
class DimensionCodes:
    """Per respondent and dimension: integer code sums and counts (respondents x dimensions)."""

    count: np.ndarray  # paired items answered
    sum_e: np.ndarray  # Σ expectation codes over paired items
    sum_p: np.ndarray  # Σ perception codes over paired items
    count_exp: np.ndarray  # expectation items answered
    count_perf: np.ndarray  # perception items answered (SERVPERF)
    sum_perf: np.ndarray  # Σ perception codes over them
    enough: np.ndarray  # enough paired items for a dimension score
    enough_perf: np.ndarray  # enough perception items for a SERVPERF score


def dimension_codes(coded: Coded, member: np.ndarray, min_share: float) -> DimensionCodes:
    """Code sums and counts per dimension.

    Columns are added one by one (each item's codes are contiguous): for these shapes this is
    as fast as a matrix product, and it keeps BLAS and its threads out of the loop, which
    oversubscribe the cores as soon as anything else runs.
    """
    ec, pc = coded.expectation, coded.perception
    pair = (ec > 0) & (pc > 0)
    columns = [np.flatnonzero(member[:, d]) for d in range(member.shape[1])]

    def per_dimension(values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(values), len(columns)), dtype=np.int64, order="F")
        for d, cols in enumerate(columns):
            total = out[:, d]
            for j in cols:
                total += values[:, j]
        return out

    count, count_perf = per_dimension(pair), per_dimension(pc > 0)
    needed = min_share * member.sum(axis=0) - 1e-9
    return DimensionCodes(
        count=count, sum_e=per_dimension(ec * pair), sum_p=per_dimension(pc * pair),
        count_exp=per_dimension(ec > 0), count_perf=count_perf, sum_perf=per_dimension(pc),
        enough=(count >= needed) & (count > 0),
        enough_perf=(count_perf >= needed) & (count_perf > 0))


def dimension_floats(codes: DimensionCodes, coded: Coded) -> DimensionScores:
    """The per-respondent dimension scores as floats (for the weighted overall scores)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        e = codes.sum_e / codes.count + coded.offset
        p = codes.sum_p / codes.count + coded.offset
        g = (codes.sum_p - codes.sum_e) / codes.count
        perf = codes.sum_perf / codes.count_perf + coded.offset
    return DimensionScores(expectation=np.where(codes.enough, e, np.nan),
                           perception=np.where(codes.enough, p, np.nan),
                           gap=np.where(codes.enough, g, np.nan),
                           servperf=np.where(codes.enough_perf, perf, np.nan))


def histogram_sums(counts: np.ndarray, x: np.ndarray, wcounts: np.ndarray | None = None,
                   w2counts: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Moments from counts of each value (rows x values): n, Σx, Σx² (and weighted sums)."""
    out = {"n": counts.sum(axis=-1), "sum": counts @ x, "sumsq": counts @ (x * x)}
    if wcounts is not None:
        out.update({"w": wcounts.sum(axis=-1), "wsum": wcounts @ x,
                    "wsumsq": wcounts @ (x * x), "w2": w2counts.sum(axis=-1)})
    return out


def _bincount(index: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(index, weights=weights, minlength=size)[:size]


class _Counts:
    """Count arrays (and weight sums) accumulated over chunks."""

    def __init__(self, shape: tuple[int, ...], weighted: bool) -> None:
        self.counts = np.zeros(shape)
        self.w = np.zeros(shape) if weighted else None
        self.w2 = np.zeros(shape) if weighted else None

    def merge(self, other: _Counts) -> None:
        self.counts += other.counts
        if self.w is not None:
            self.w += other.w
            self.w2 += other.w2

    def add(self, at, index: np.ndarray, weight: np.ndarray | None, size: int,
            shape: tuple[int, ...]) -> None:
        self.counts[at] += _bincount(index, size).reshape(shape)
        if self.w is not None:
            self.w[at] += _bincount(index, size, weight).reshape(shape)
            self.w2[at] += _bincount(index, size, weight * weight).reshape(shape)


class ItemCounter:
    """Per cell and item: counts of each (E, P) answer pair, over chunks of respondents."""

    def __init__(self, cells: int, items: int, levels: int, weighted: bool) -> None:
        self.cells, self.items, self.levels = cells, items, levels
        self.totals = _Counts((cells, items, levels * levels), weighted)

    def merge(self, other: ItemCounter) -> None:
        self.totals.merge(other.totals)

    def add(self, coded: Coded, cell: np.ndarray, weight: np.ndarray | None) -> None:
        size = self.levels * self.levels
        base = cell * size
        for j in range(self.items):
            index = base + (coded.expectation[:, j].astype(np.int64) * self.levels
                            + coded.perception[:, j])
            self.totals.add((slice(None), j), index, weight, self.cells * size,
                            (self.cells, size))

    def frames(self, item_ids, offset: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Item moments (E, P, gap over answered pairs) and gap histograms, per cell."""
        levels, cells, k = self.levels, self.cells, self.items
        answer = np.arange(levels, dtype=float) + offset
        e_code, p_code = np.divmod(np.arange(levels * levels), levels)
        paired = (e_code > 0) & (p_code > 0)
        ev, pv = answer[e_code[paired]], answer[p_code[paired]]

        def flat(arr):
            return None if arr is None else arr[:, :, paired].reshape(cells * k, -1)

        t = self.totals
        c, wc, w2 = flat(t.counts), flat(t.w), flat(t.w2)
        frames = []
        for measure, x in (("expectation", ev), ("perception", pv), ("gap", pv - ev)):
            frame = pd.DataFrame({"cell": np.repeat(np.arange(cells), k), "level": "item",
                                  "id": np.tile(np.asarray(item_ids, dtype=object), cells),
                                  "measure": measure})
            for name, arr in histogram_sums(c, x, wc, w2).items():
                frame[name] = arr
            frames.append(frame)
        gaps, which = np.unique(pv - ev, return_inverse=True)
        by_gap = np.zeros((cells * k, len(gaps)))
        np.add.at(by_gap.T, which, c.T)
        rows, cols = np.nonzero(by_gap)
        histogram = pd.DataFrame({
            "cell": rows // k, "level": "item",
            "id": np.asarray(item_ids, dtype=object)[rows % k], "measure": "gap",
            "x": gaps[cols], "count": by_gap[rows, cols]})
        return pd.concat(frames, ignore_index=True), histogram


class DimensionCounter:
    """Per cell and dimension: counts of each dimension score (scaled by L to an integer),
    for expectation, perception, gap and SERVPERF, over chunks of respondents."""

    def __init__(self, cells: int, keys, levels: int, grid_size: int, weighted: bool) -> None:
        self.cells, self.keys, self.grid = cells, tuple(keys), grid_size
        self.k_max = levels - 1
        self.span = 2 * self.k_max * grid_size + 1  # gap numerators × L/count: ±k_max·L
        self.totals = {m: _Counts((cells, len(self.keys), self.span), weighted)
                       for m in DIMENSION_MEASURES} if self.feasible else {}

    @property
    def feasible(self) -> bool:
        return self.cells * self.span <= MAX_HISTOGRAM

    def merge(self, other: DimensionCounter) -> None:
        for measure, totals in self.totals.items():
            totals.merge(other.totals[measure])

    def _low(self, measure: str) -> int:
        return -self.k_max * self.grid if measure == "gap" else 0

    def add(self, codes: DimensionCodes, cell: np.ndarray, weight: np.ndarray | None) -> None:
        L, span = self.grid, self.span
        factor = np.where(codes.count > 0, L // np.maximum(codes.count, 1), 0)
        factor_perf = np.where(codes.count_perf > 0, L // np.maximum(codes.count_perf, 1), 0)
        scaled = {"expectation": (codes.sum_e * factor, codes.enough),
                  "perception": (codes.sum_p * factor, codes.enough),
                  "gap": ((codes.sum_p - codes.sum_e) * factor, codes.enough),
                  "servperf": (codes.sum_perf * factor_perf, codes.enough_perf)}
        size = self.cells * span
        base = cell * span
        for measure, (value, ok) in scaled.items():
            # respondents without a score go to one extra bin, dropped by _bincount
            index = np.where(ok, base[:, None] + (value - self._low(measure)), size)
            for j in range(len(self.keys)):
                self.totals[measure].add((slice(None), j), np.ascontiguousarray(index[:, j]),
                                         weight, size, (self.cells, span))

    def frames(self, offset: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Dimension moments and gap histograms, per cell."""
        cells, d = self.cells, len(self.keys)
        moment_frames, histograms = [], []
        for measure, totals in self.totals.items():
            x = (np.arange(self.span) + self._low(measure)) / self.grid + (
                0 if measure == "gap" else offset)
            flat = [None if a is None else a.reshape(cells * d, -1)
                    for a in (totals.counts, totals.w, totals.w2)]
            frame = pd.DataFrame({"cell": np.repeat(np.arange(cells), d), "level": "dimension",
                                  "id": np.tile(np.asarray(self.keys, dtype=object), cells),
                                  "measure": measure})
            for name, arr in histogram_sums(flat[0], x, flat[1], flat[2]).items():
                frame[name] = arr
            moment_frames.append(frame)
            if measure == "gap":
                rows, cols = np.nonzero(flat[0])
                histograms.append(pd.DataFrame({
                    "cell": rows // d, "level": "dimension",
                    "id": np.asarray(self.keys, dtype=object)[rows % d], "measure": "gap",
                    "x": x[cols], "count": flat[0][rows, cols]}))
        return pd.concat(moment_frames, ignore_index=True), pd.concat(histograms,
                                                                       ignore_index=True)
