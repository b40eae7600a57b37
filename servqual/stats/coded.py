"""The fast path for answers on an integer scale: count codes instead of summing floats.

An answer ``x`` on a ``low..high`` scale is the code ``x − low + 1`` (0 = missing).
Everything at item and dimension level then comes from counting (:class:`CodedCounter`):

* an item's (E, P) answer pair is one code, so per cell the counts of each pair give the item
  moments, the gap histogram and the perception answers' distribution exactly;
* a respondent's dimension score is ``Σ codes / count`` over the paired items: a fraction
  with a small numerator and denominator, so per cell the counts of each (count, numerator)
  are the exact histogram of the dimension scores, from which the moments follow.

The counts accumulate over chunks of respondents (:mod:`.aggregate` streams the data) in one
compiled pass per chunk (:func:`.kernels.coded_pairs`), and their totals equal the float
path exactly (tests/test_aggregate.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import Instrument
from . import kernels
from .cells import CellRows
from .scores import DimensionScores, item_dimensions, membership

MAX_HISTOGRAM = 20_000_000  # cells x distinct values beyond which the float path is used
MAX_LEVELS = 250  # scale points beyond which answers are summed as floats, not counted
DIMENSION_MEASURES = ("expectation", "perception", "gap", "servperf")


def histogram_sums(counts: np.ndarray, x: np.ndarray, wcounts: np.ndarray | None = None,
                   w2counts: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Moments from counts of each value (rows x values): n, Σx, Σx² (and weighted sums)."""
    out = {"n": counts.sum(axis=-1), "sum": counts @ x, "sumsq": counts @ (x * x)}
    if wcounts is not None:
        out.update({"w": wcounts.sum(axis=-1), "wsum": wcounts @ x,
                    "wsumsq": wcounts @ (x * x), "w2": w2counts.sum(axis=-1),
                    "w2sum": w2counts @ x, "w2sumsq": w2counts @ (x * x)})
    return out




def _slots(top: int, k: int) -> np.ndarray:
    """Where the dimension scores of each item count c = 1..k start among the counted values:
    a gap numerator lies in −c·(top − 1)..c·(top − 1), 2·c·(top − 1) + 1 values (the other
    measures need fewer). The last entry is the number of values."""
    widths = [0] + [2 * c * (top - 1) + 1 for c in range(1, k + 1)]
    return np.cumsum(widths).astype(np.int64)


def _dimension_values(instrument: Instrument) -> np.ndarray:
    top = instrument.scale_max - instrument.scale_min + 1
    return _slots(top, int(membership(instrument).sum(axis=0).max()))


class _Counts:
    """Count arrays (and weight sums) accumulated over chunks. Unweighted, the weight sums
    are one-element placeholders (the kernels take arrays of fixed rank)."""

    def __init__(self, shape: tuple[int, ...], weighted: bool) -> None:
        self.weighted = weighted
        self.counts = np.zeros(shape)
        spare = shape if weighted else (1,) * len(shape)
        self.w, self.w2 = np.zeros(spare), np.zeros(spare)

    def merge(self, other: _Counts) -> None:
        self.counts += other.counts
        if self.weighted:
            self.w += other.w
            self.w2 += other.w2

    def flat(self, index, rows: int) -> list[np.ndarray | None]:
        """counts, w, w2 at ``index`` as (rows x values) (w, w2 None when unweighted)."""
        return [a[index].reshape(rows, -1) if a is self.counts or self.weighted else None
                for a in (self.counts, self.w, self.w2)]


class CodedCounter:
    """Per cell: counts of each item's (E, P) answer pair, and of each dimension score
    (× L) for expectation, perception, gap and SERVPERF, over chunks of respondents."""

    def __init__(self, cells: int, instrument: Instrument, weighted: bool,
                 dimensions: bool = True) -> None:
        member = membership(instrument)
        self.cells, self.weighted = cells, weighted
        self.item_ids, self.keys = instrument.item_ids, instrument.dimension_keys
        self.low = instrument.scale_min
        self.top = instrument.scale_max - instrument.scale_min + 1  # the highest code
        self.levels = self.top + 1  # codes 0..top
        self.item_dim = item_dimensions(instrument)
        self.needed = instrument.analysis.min_item_share * member.sum(axis=0) - 1e-9
        self.slots = _dimension_values(instrument)
        self.span = int(self.slots[-1])
        self.dims_counted = dimensions and cells * self.span <= MAX_HISTOGRAM
        k, d = len(self.item_ids), len(self.keys)
        self.pairs = _Counts((cells, k, self.levels ** 2), weighted)
        self.dims = _Counts((len(DIMENSION_MEASURES), cells, d,
                             self.span if self.dims_counted else 0), weighted)
        self.scores = np.empty((len(DIMENSION_MEASURES), 0, d))

    @staticmethod
    def feasible(cells: int, instrument: Instrument) -> bool:
        """Whether counting answer pairs fits (few enough scale points and cells)."""
        levels = instrument.scale_max - instrument.scale_min + 2
        return (levels <= MAX_LEVELS + 1
                and cells * len(instrument.items) * levels ** 2 <= MAX_HISTOGRAM)

    @staticmethod
    def counts_dimensions(cells: int, instrument: Instrument) -> bool:
        """Whether counting each distinct dimension score fits."""
        return cells * int(_dimension_values(instrument)[-1]) <= MAX_HISTOGRAM

    def merge(self, other: CodedCounter) -> None:
        self.pairs.merge(other.pairs)
        self.dims.merge(other.dims)

    def add(self, expectation: np.ndarray, perception: np.ndarray, first: int, last: int,
            cell: np.ndarray, weight: np.ndarray | None) -> DimensionScores | None:
        """Count respondents first..last−1 (``cell`` and ``weight`` of every respondent, the
        matrices as :func:`.kernels.column_major`); their dimension scores, or None when an
        answer is not an integer on the scale (the counts are then incomplete).

        The scores are views of a buffer the next call overwrites (fresh memory for every
        chunk costs more than the counting)."""
        rows = last - first
        if self.scores.shape[1] < rows:
            self.scores = np.empty((len(DIMENSION_MEASURES), rows, len(self.keys)))
        scores = self.scores[:, :rows]
        weighted = weight is not None
        counted = kernels.coded_pairs(
            expectation, perception, first, last, float(self.low), self.top, cell,
            weight if weighted else np.zeros(1), weighted, self.item_dim, self.needed,
            self.slots, self.pairs.counts, self.pairs.w, self.pairs.w2,
            self.dims.counts, self.dims.w, self.dims.w2, scores)
        return DimensionScores(*scores) if counted else None

    def cell_rows(self) -> tuple[CellRows, CellRows]:
        """Item and dimension moments (E, P, gap, SERVPERF) and gap histograms, per cell."""
        items, item_histograms = self._item_rows()
        if not self.dims_counted:
            return items, item_histograms
        dims, dim_histograms = self._dimension_rows()
        return CellRows.concat([items, dims]), CellRows.concat([item_histograms, dim_histograms])

    def _item_rows(self) -> tuple[CellRows, CellRows]:
        levels, cells, k = self.levels, self.cells, len(self.item_ids)
        answer = np.arange(levels, dtype=float) + self.low - 1
        e_code, p_code = np.divmod(np.arange(levels * levels), levels)
        paired = (e_code > 0) & (p_code > 0)
        ev, pv = answer[e_code[paired]], answer[p_code[paired]]
        c, wc, w2 = self.pairs.flat((slice(None), slice(None), paired), cells * k)
        ids = np.asarray(self.item_ids, dtype=object)
        measures = ("expectation", "perception", "gap")
        sums = [histogram_sums(c, x, wc, w2) for x in (ev, pv, pv - ev)]
        keys = pd.DataFrame({"level": "item", "id": np.tile(ids, len(measures)),
                             "measure": np.repeat(measures, k)})
        moments = CellRows.dense(keys, {name: np.concatenate(
            [s[name].reshape(cells, k) for s in sums], axis=1) for name in sums[0]})
        gaps, which = np.unique(pv - ev, return_inverse=True)
        by_gap = np.zeros((cells * k, len(gaps)))
        np.add.at(by_gap.T, which, c.T)
        answers, which = np.unique(pv, return_inverse=True)  # the answer distribution
        by_answer = np.zeros((cells * k, len(answers)))
        np.add.at(by_answer.T, which, c.T)
        return moments, CellRows.concat([_histogram("item", ids, gaps, by_gap, cells),
                                         _histogram("item", ids, answers, by_answer, cells,
                                                    "perception")])

    def _dimension_rows(self) -> tuple[CellRows, CellRows]:
        cells, d = self.cells, len(self.keys)
        keys = np.asarray(self.keys, dtype=object)
        # the count c and numerator offset of each counted value (see kernels.coded_pairs)
        count = np.repeat(np.arange(1, len(self.slots)), np.diff(self.slots))
        step = np.arange(self.span) - self.slots[count - 1]
        moments, histograms = [], []
        for m, measure in enumerate(DIMENSION_MEASURES):
            if measure == "gap":
                x = (step - count * (self.top - 1)) / count
            else:
                x = (step + count) / count + (self.low - 1)
            counts, w, w2 = self.dims.flat(m, cells * d)
            sums = histogram_sums(counts, x, w, w2)
            moments.append(CellRows.dense(
                pd.DataFrame({"level": "dimension", "id": keys, "measure": measure}),
                {name: arr.reshape(cells, d) for name, arr in sums.items()}))
            if measure == "gap":  # equal scores (1/2 and 2/4) counted together
                values, which = np.unique(x, return_inverse=True)
                by_value = np.zeros((cells * d, len(values)))
                np.add.at(by_value.T, which, counts.T)
                histograms.append(_histogram("dimension", keys, values, by_value, cells))
        return CellRows.concat(moments), CellRows.concat(histograms)


def _histogram(level: str, ids: np.ndarray, values: np.ndarray, counts: np.ndarray,
               cells: int, measure: str = "gap") -> CellRows:
    """Histograms from counts of (cell × id) rows and ``values`` columns (zeros left out)."""
    rows, cols = np.nonzero(counts)
    k = len(ids)
    keys = pd.DataFrame({"level": level, "id": np.repeat(ids, len(values)), "measure": measure,
                         "x": np.tile(values, k)})
    return CellRows.sparse(rows // k, (rows % k) * len(values) + cols, keys,
                           {"count": counts[rows, cols]})
