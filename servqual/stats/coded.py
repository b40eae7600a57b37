"""The fast path for answers on an integer scale: count codes instead of summing floats.

An answer ``x`` on a ``low..high`` scale is the code ``x − low + 1`` (0 = missing), one byte.
Everything at item and dimension level then comes from integer arithmetic and ``bincount``:

* an item's (E, P) answer pair is one code, so per cell the counts of each pair give the item
  moments and the gap histogram exactly (:func:`item_counts`);
* a respondent's dimension score is ``Σ codes / count`` over the paired items: a fraction with
  a small denominator. Multiplied by ``L = lcm(1..k)`` (k = the largest dimension's item
  count) it is an integer, so per cell ``bincount`` of those integers is the exact histogram
  of the dimension scores, from which the moments follow (:func:`dimension_counts`).

This is about five times faster than the float path on a million respondents, and exactly
equal to it (tests/test_aggregate.py compares the two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..instrument import Instrument
from .scores import DimensionScores, membership

MAX_HISTOGRAM = 20_000_000  # cells x distinct values beyond which the float path is used


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
    grid: int  # L: score × L is an integer


def dimension_codes(coded: Coded, instrument: Instrument) -> DimensionCodes:
    member = membership(instrument)
    m32 = member.astype(np.float32)
    ec, pc = coded.expectation, coded.perception
    pair = (ec > 0) & (pc > 0)
    # float32 matrix products of small integers are exact (row sums stay far below 2**24).
    count = (pair.astype(np.float32) @ m32).astype(np.int64)
    sum_e = ((ec * pair).astype(np.float32) @ m32).astype(np.int64)
    sum_p = ((pc * pair).astype(np.float32) @ m32).astype(np.int64)
    count_exp = ((ec > 0).astype(np.float32) @ m32).astype(np.int64)
    count_perf = ((pc > 0).astype(np.float32) @ m32).astype(np.int64)
    sum_perf = (pc.astype(np.float32) @ m32).astype(np.int64)
    needed = instrument.analysis.min_item_share * member.sum(axis=0) - 1e-9
    grid = math.lcm(*range(1, int(member.sum(axis=0).max()) + 1))
    return DimensionCodes(count, sum_e, sum_p, count_exp, count_perf, sum_perf,
                          (count >= needed) & (count > 0), (count_perf >= needed) & (count_perf > 0),
                          grid)


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


def _histogram_sums(counts: np.ndarray, x: np.ndarray, wcounts: np.ndarray | None,
                    w2counts: np.ndarray | None) -> dict[str, np.ndarray]:
    """Moments per cell from counts of each value (cells x values)."""
    out = {"n": counts.sum(axis=1), "sum": counts @ x, "sumsq": counts @ (x * x)}
    if wcounts is not None:
        out.update({"w": wcounts.sum(axis=1), "wsum": wcounts @ x, "wsumsq": wcounts @ (x * x),
                    "w2": w2counts.sum(axis=1)})
    return out


def dimension_counts(codes: DimensionCodes, coded: Coded, instrument: Instrument,
                     cell: np.ndarray, cells: int, weight: np.ndarray | None
                     ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Per cell: moments of the dimension measures, and the dimension gap histograms.

    Returns None when the histograms would be too large (then the float path is used).
    """
    L = codes.grid
    k_max = coded.levels - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(codes.count > 0, L // np.maximum(codes.count, 1), 0)
        factor_perf = np.where(codes.count_perf > 0, L // np.maximum(codes.count_perf, 1), 0)
    # (measure, numerator × L / count, lowest numerator value, mask, value offset)
    measures = [
        ("expectation", codes.sum_e * factor, codes.enough, coded.offset),
        ("perception", codes.sum_p * factor, codes.enough, coded.offset),
        ("gap", (codes.sum_p - codes.sum_e) * factor, codes.enough, 0),
        ("servperf", codes.sum_perf * factor_perf, codes.enough_perf, coded.offset),
    ]
    span = 2 * k_max * L + 1  # gap numerators × L/count lie within ±k_max·L
    if cells * span > MAX_HISTOGRAM:
        return None
    keys = instrument.dimension_keys
    moment_frames, histograms = [], []
    base = cell * span
    dump = cells * span  # respondents without a score go to one extra bin, dropped after
    for measure, scaled, ok, offset in measures:
        low = -k_max * L if measure == "gap" else 0
        x = (np.arange(span) + low) / L + offset
        # One contiguous index column per dimension: bincount is fastest on contiguous data.
        index = np.where(ok, base[:, None] + (scaled - low), dump).T.copy()
        sums = {}
        for j, key in enumerate(keys):
            counts = np.bincount(index[j], minlength=dump + 1)[:dump].reshape(cells, span)
            wc = w2 = None
            if weight is not None:
                wc = np.bincount(index[j], weights=weight, minlength=dump + 1
                                 )[:dump].reshape(cells, span)
                w2 = np.bincount(index[j], weights=weight * weight, minlength=dump + 1
                                 )[:dump].reshape(cells, span)
            for name, arr in _histogram_sums(counts, x, wc, w2).items():
                sums.setdefault(name, np.zeros((cells, len(keys))))[:, j] = arr
            if measure == "gap":
                c, v = np.nonzero(counts)
                histograms.append(pd.DataFrame({
                    "cell": c, "level": "dimension", "id": key, "measure": "gap",
                    "x": x[v], "count": counts[c, v].astype(float)}))
        frame = pd.DataFrame({"cell": np.repeat(np.arange(cells), len(keys)),
                              "level": "dimension",
                              "id": np.tile(np.asarray(keys, dtype=object), cells),
                              "measure": measure})
        for name, arr in sums.items():
            frame[name] = arr.reshape(-1)
        moment_frames.append(frame)
    return pd.concat(moment_frames, ignore_index=True), pd.concat(histograms, ignore_index=True)


def item_counts(coded: Coded, instrument: Instrument, cell: np.ndarray, cells: int,
                weight: np.ndarray | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cell and item: moments of E, P and gap over answered pairs, and the gap histogram.

    Each item's (E, P) pair is one code; the per-cell counts of each pair give everything.
    """
    levels = coded.levels
    size = levels * levels
    k = len(instrument.items)
    base = cell * size
    counts = np.empty((cells, k, size))
    wcounts = np.empty((cells, k, size)) if weight is not None else None
    w2counts = np.empty((cells, k, size)) if weight is not None else None
    for j in range(k):
        index = base + (coded.expectation[:, j].astype(np.int64) * levels
                        + coded.perception[:, j])
        counts[:, j] = np.bincount(index, minlength=cells * size).reshape(cells, size)
        if weight is not None:
            wcounts[:, j] = np.bincount(index, weights=weight, minlength=cells * size
                                        ).reshape(cells, size)
            w2counts[:, j] = np.bincount(index, weights=weight * weight,
                                         minlength=cells * size).reshape(cells, size)
    answer = np.arange(levels, dtype=float) + coded.offset
    e_code, p_code = np.divmod(np.arange(size), levels)
    paired = (e_code > 0) & (p_code > 0)
    ev, pv = answer[e_code[paired]], answer[p_code[paired]]

    def flat(arr):
        return None if arr is None else arr[:, :, paired].reshape(cells * k, -1)

    c, wc, w2 = flat(counts), flat(wcounts), flat(w2counts)
    frames = []
    for measure, x in (("expectation", ev), ("perception", pv), ("gap", pv - ev)):
        sums = _histogram_sums(c, x, wc, w2)
        frame = pd.DataFrame({"cell": np.repeat(np.arange(cells), k), "level": "item",
                              "id": np.tile(np.asarray(instrument.item_ids, dtype=object), cells),
                              "measure": measure})
        for name, arr in sums.items():
            frame[name] = arr
        frames.append(frame)

    gaps, which = np.unique(pv - ev, return_inverse=True)
    by_gap = np.zeros((cells * k, len(gaps)))
    np.add.at(by_gap.T, which, c.T)
    rows, cols = np.nonzero(by_gap)
    histogram = pd.DataFrame({
        "cell": rows // k, "level": "item",
        "id": np.asarray(instrument.item_ids, dtype=object)[rows % k], "measure": "gap",
        "x": gaps[cols], "count": by_gap[rows, cols]})
    return pd.concat(frames, ignore_index=True), histogram
