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
w2sum, w2sumsq        Σw²·x, Σw²·x² (sampling weights: the design-based variance)
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
    """Mean, variance, SD and the standard error of the mean from sums, one row per input row.

    Unweighted: the variance is (Σx² − (Σx)²/n)/(n − 1) (ddof = 1); residues of rounding
    below 1e-10 of Σx² (a constant series of non-binary fractions) are set to exactly zero;
    ``se`` = sd / √n.

    With sampling weights (columns w, wsum, wsumsq, w2, w2sum, w2sumsq):

    * ``mean``, ``var``, ``sd`` describe the weighted population, as statsmodels' DescrStatsW
      with the weights normalised to sum to n: with W = Σw, mean m = Σwx / W and variance
      n / W · (Σwx² − (Σwx)² / W) / (n − 1);
    * ``se`` is design-based: the linearisation (Taylor) variance of the weighted mean, a
      ratio estimator, with respondents sampled with replacement (R ``survey``'s
      ``svymean`` with ``svydesign(ids = ~1, weights = ~w)``):

          var(m) = n / (n − 1) · Σ w_i² (x_i − m)² / W²,
          Σ w_i² (x_i − m)² = Σw²x² − 2m·Σw²x + m²·Σw²,

      from additive sums, with n − 1 degrees of freedom. For equal weights it is sd² / n.
      It exceeds the frequency-weight variance sd² / n by about n / n_eff (Kish's
      n_eff = W² / Σw²) when the weights are unrelated to x.

      Worked example: x = (1, 2, 4), w = (1, 1, 2): W = 4, m = 11/4, residuals
      (−7/4, −3/4, 5/4), Σw²(x − m)² = 49/16 + 9/16 + 4·25/16 = 158/16, so
      var(m) = 3/2 · 158/16 / 16 = 0.92578…, se = 0.9622.

    Where Σw²x and Σw²x² are not known (a history store written before they were kept), the
    Kish approximation var(m) = sd² / n_eff takes their place.
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
        se = np.sqrt(var / n)
        if "w" in frame.columns:
            se = design_se(frame, mean, var)
    return pd.DataFrame({"mean": mean, "var": var, "sd": np.sqrt(var), "se": se},
                        index=frame.index)


def design_se(frame: pd.DataFrame, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """The linearisation standard error of weighted means (see :func:`describe`)."""
    n = frame["n"].to_numpy(dtype=float)
    total = frame["w"].to_numpy(dtype=float)
    w2 = frame["w2"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        kish = np.sqrt(var * w2 / (total * total))
        if "w2sum" not in frame.columns:
            return kish
        s2 = frame["w2sum"].to_numpy(dtype=float)
        q2 = frame["w2sumsq"].to_numpy(dtype=float)
        ss = q2 - 2 * mean * s2 + mean * mean * w2
        # rounding residue (a constant x): exactly zero, like the variance
        ss = np.where(ss <= 1e-10 * np.maximum(np.abs(q2), 1.0), 0.0, ss)
        linear = np.sqrt(np.where(n > 1, n / (n - 1) * ss / (total * total), np.nan))
    return np.where(np.isnan(s2) | np.isnan(q2), kish, linear)
