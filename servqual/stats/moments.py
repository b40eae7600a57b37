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

from ..models import SUMS, WEIGHTED_SUMS


def combine(moments: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add sufficient statistics over the keys not in ``by`` (exact: sums add)."""
    sums = [c for c in SUMS + WEIGHTED_SUMS if c in moments.columns]
    return moments.groupby(by, sort=False, observed=True)[sums].sum().reset_index()


def describe(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, variance and SD from sums, one row per input row (ddof = 1).

    Unweighted: the variance is (Σx² − (Σx)²/n)/(n − 1); residues of rounding below 1e-10
    of Σx² (a constant series of non-binary fractions) are set to exactly zero.

    With sampling weights (columns w, wsum, wsumsq), as statsmodels' DescrStatsW with the
    weights normalised to sum to n: with W = Σw and f = n / W, mean = Σwx / W and
    SS = f · (Σwx² − (Σwx)² / W), variance SS / (n − 1), so the standard error sd / √n is
    DescrStatsW's ``std_mean`` and t-based intervals use n − 1 degrees of freedom.
    """
    n = frame["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if "w" in frame.columns:
            total = frame["w"].to_numpy(dtype=float)
            s = frame["wsum"].to_numpy(dtype=float)
            q = frame["wsumsq"].to_numpy(dtype=float)
            mean = s / total
            scale = n / total
            ss = scale * (q - s * s / total)
            q = scale * q
        else:
            s = frame["sum"].to_numpy(dtype=float)
            q = frame["sumsq"].to_numpy(dtype=float)
            mean = s / n
            ss = q - s * s / n
        ss = np.where(np.abs(ss) <= 1e-10 * np.maximum(np.abs(q), 1.0), 0.0, ss)
        var = np.where(n > 1, ss / (n - 1), np.nan)
    return pd.DataFrame({"mean": mean, "var": var, "sd": np.sqrt(var)}, index=frame.index)
