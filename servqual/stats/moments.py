"""Sufficient statistics: n, Σx and Σx² per wave × segment cell × measure.

Everything that only needs means and variances (gap tables, CIs, t-tests, trends, segment
comparisons, wave-over-wave tests) is derived from this one small table. It combines exactly
across partitions (add the sums), so the history store keeps it per wave and a distributed
engine can compute it with a group-by (docs/scale.md).

The table is tidy, one row per cell and measure:

==========  ===============================================================================
wave        wave label
segment     segment column ("" for the whole sample)
value       segment value ("" for the whole sample)
level       "item", "dimension" or "overall"
id          item id, dimension key or overall measure name
measure     "expectation", "perception", "gap", ...
n           respondents with a score
sum, sumsq  Σx and Σx²
w, wsum, wsumsq, w2   Σw, Σw·x, Σw·x², Σw² (sampling weights; absent when unweighted)
==========  ===============================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..responses import WAVE, WEIGHT, Responses
from .scores import Block

KEYS = ["wave", "segment", "value", "level", "id", "measure"]
SUMS = ["n", "sum", "sumsq"]
WEIGHTED_SUMS = ["w", "wsum", "wsumsq", "w2"]
ALL = ""  # segment and value of the whole-sample cell


def _families(responses: Responses) -> list[tuple[str, pd.Series]]:
    """The ways respondents are grouped: the whole sample, then each segment column."""
    out: list[tuple[str, pd.Series]] = [(ALL, pd.Series(ALL, index=responses.meta.index))]
    for seg in responses.segments:
        out.append((seg, responses.meta[seg]))
    return out


def compute_moments(responses: Responses, blocks: list[Block]) -> pd.DataFrame:
    """Sufficient statistics of every block, for every wave and segment cell.

    Grouping is a sparse indicator matrix product, so the cost is one pass over the scores
    per segment family, with no Python loop over respondents.
    """
    frames = []
    waves = responses.meta[WAVE].astype("string").to_numpy(dtype=object)
    weight = responses.meta[WEIGHT].to_numpy(dtype=float) if WEIGHT in responses.meta else None
    for segment, labels in _families(responses):
        values = labels.astype("string")
        keep = values.notna().to_numpy()
        key = pd.MultiIndex.from_arrays([waves[keep], values[keep].to_numpy(dtype=object)])
        codes, cells = pd.factorize(key)
        rows = np.flatnonzero(keep)
        indicator = sp.csr_matrix((np.ones(len(rows)), (codes, rows)),
                                  shape=(len(cells), len(responses)))
        wave_of, value_of = cells.get_level_values(0), cells.get_level_values(1)
        for block in blocks:
            frames.append(_block_moments(block, indicator, weight, segment, wave_of, value_of))
    if not frames:
        return pd.DataFrame(columns=KEYS + SUMS)
    out = pd.concat(frames, ignore_index=True)
    return out[out["n"] > 0].reset_index(drop=True)


def _block_moments(block: Block, indicator, weight, segment, wave_of, value_of) -> pd.DataFrame:
    x = block.values
    present = ~np.isnan(x)
    xz = np.where(present, x, 0.0)
    stats = {
        "n": indicator @ present.astype(np.float64),
        "sum": indicator @ xz,
        "sumsq": indicator @ (xz * xz),
    }
    if weight is not None:
        wp = np.where(present, weight[:, None], 0.0)
        stats.update({"w": indicator @ wp, "wsum": indicator @ (wp * xz),
                      "wsumsq": indicator @ (wp * xz * xz), "w2": indicator @ (wp * wp)})
    cells, k = stats["n"].shape
    frame = pd.DataFrame({
        "wave": np.repeat(np.asarray(wave_of, dtype=object), k),
        "segment": segment,
        "value": np.repeat(np.asarray(value_of, dtype=object), k),
        "level": block.level,
        "id": np.tile(np.asarray(block.ids, dtype=object), cells),
        "measure": block.measure,
    })
    for name, arr in stats.items():
        frame[name] = np.asarray(arr).reshape(-1)
    frame["n"] = frame["n"].round().astype(np.int64)
    return frame


def combine(moments: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add sufficient statistics over the keys not in ``by`` (exact: sums add)."""
    sums = [c for c in SUMS + WEIGHTED_SUMS if c in moments.columns]
    return moments.groupby(by, sort=False, observed=True)[sums].sum().reset_index()


def describe(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, variance and SD from sums, one row per input row (ddof = 1).

    The variance is computed as (Σx² − (Σx)²/n)/(n − 1); residues of rounding below
    1e-10 of Σx² (a constant series of non-binary fractions) are set to exactly zero.
    """
    n = frame["n"].to_numpy(dtype=float)
    s = frame["sum"].to_numpy(dtype=float)
    q = frame["sumsq"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        ss = q - s * s / n
        ss = np.where(np.abs(ss) <= 1e-10 * np.maximum(np.abs(q), 1.0), 0.0, ss)
        var = np.where(n > 1, ss / (n - 1), np.nan)
    return pd.DataFrame({"mean": mean, "var": var, "sd": np.sqrt(var)}, index=frame.index)
