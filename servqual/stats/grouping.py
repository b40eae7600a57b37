"""Grouping respondents into cells: wave × the values of the segment columns.

Each wave's respondents are cross-classified by all segment columns at once ("cells"), so
that the accumulators of :mod:`.accumulators` add up once per cell and the tables for each
segment column are sums over cells (:func:`.cells.marginals`). When the cross-classification
would have too many cells (:data:`MAX_CELLS`), each segment column is grouped on its own
instead (same results, more passes over the data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..responses import WAVE, Responses
from .cells import families

MAX_CELLS = 20_000  # cross-classified cells beyond which segments are aggregated one by one


@dataclass
class Grouping:
    """Respondents grouped into cells of wave × the values of ``columns``."""

    columns: tuple[str, ...]
    code: np.ndarray  # cell of each respondent
    cells: pd.DataFrame  # one row per cell: wave and the value of each column (NaN = missing)

    @property
    def size(self) -> int:
        return len(self.cells)


def factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
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
    parts = [factorize(meta[WAVE])] + [factorize(meta[c]) for c in columns]
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


def group_families(group: Grouping, whole: bool = True):
    """The whole sample (when ``whole``) and each segment column of a grouping, as groups of
    its cells (:func:`.cells.families`)."""
    return families(group.cells, WAVE, group.columns, whole)


def row_groups(frame: pd.DataFrame, columns: list[str]):
    """The rows of ``frame`` grouped by ``columns``, in order of first appearance: (the key,
    as a tuple, and the row positions), as ``frame.groupby(columns, sort=False)`` gives them,
    without building a frame per group (tables of statistics loop over hundreds of small
    groups, where pandas' per-group cost exceeds the arithmetic)."""
    if not len(frame):
        return
    keys = pd.MultiIndex.from_arrays([frame[c].to_numpy() for c in columns])
    codes, uniques = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    for g, key in enumerate(uniques):
        yield key, order[bounds[g]:bounds[g + 1]]
