"""Segments: statistics per segment value, flags for small bases, tests between values.

A segment cell with fewer than ``min_cell`` respondents is suppressed (its figures are
withheld from every output, so an individual cannot be singled out); one with fewer than
``small_base`` is flagged, to be read with care. A segment value (a group) with fewer than
``min_cell`` respondents in a wave is not named in that wave's outputs either: its name may
itself identify someone (a small shop, a one-person branch). The outputs count such groups
instead (:func:`withheld_groups`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..models import ALL
from .grouping import row_groups
from .probability import f_sf
from .ranktests import kruskal

SUPPRESSED_COLUMNS = (
    "expectation_mean", "perception_mean", "gap_mean", "expectation_sd", "perception_sd",
    "gap_sd", "gap_se", "gap_ci95_low", "gap_ci95_high", "t", "df", "p_value", "p_adjusted",
    "dz", "gap_median", "wilcoxon_z", "wilcoxon_p", "gap_mean_unweighted", "n_effective")


def segment_rows(table: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """The segment cells of a gap table, with ``small_base`` and ``suppressed`` flags.

    ``table`` comes from :func:`.gaps.gap_table`; its whole-sample rows are dropped and the
    ``segment`` column is renamed ``column`` (the contract's name).
    """
    rows = table[table["segment"] != ALL].copy()
    rows["small_base"] = rows["n"] < config.small_base
    rows["suppressed"] = rows["n"] < config.min_cell
    hidden = [c for c in SUPPRESSED_COLUMNS if c in rows.columns]
    rows.loc[rows["suppressed"], hidden] = np.nan
    return rows.rename(columns={"segment": "column"}).reset_index(drop=True)


def group_sizes(moments: pd.DataFrame) -> pd.DataFrame:
    """Respondents per wave and segment value: columns ``wave``, ``column``, ``value``, ``n``
    (from the ``respondents`` count of the aggregates, one row per group present)."""
    rows = moments[(moments["level"] == "overall") & (moments["id"] == "respondents")
                   & (moments["segment"] != ALL)]
    return (rows[["wave", "segment", "value", "n"]].rename(columns={"segment": "column"})
            .reset_index(drop=True))


def published_groups(sizes: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """The groups (wave, column, value) with at least ``min_cell`` respondents: those that
    may be named in that wave's outputs."""
    return sizes.loc[sizes["n"] >= config.min_cell, ["wave", "column", "value"]]


def withheld_groups(sizes: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Per segment column and wave, the groups not named because they have fewer than
    ``min_cell`` respondents: how many (``values``) and their respondents (``n``)."""
    small = sizes[(sizes["n"] > 0) & (sizes["n"] < config.min_cell)]
    out = small.groupby(["column", "wave"], sort=False).agg(values=("value", "size"),
                                                           n=("n", "sum")).reset_index()
    return out[["column", "wave", "values", "n"]]


def welch_anova(n: np.ndarray, mean: np.ndarray, var: np.ndarray,
                se: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """Welch's one-way ANOVA for unequal variances, from group sizes, means and variances.

    Returns ``(F, p, df1, df2)``. ``se``: the standard errors of the group means when they are
    not √(s²/n) (the design-based standard errors of weighted means). Groups with fewer than
    two members or no variance are left out (their weight n/s² is undefined).

    Notes
    -----
    With w_i = n_i / s_i² (= 1 / se_i²), W = Σw_i, m = Σ w_i x̄_i / W and λ = Σ (1 − w_i/W)² / (n_i − 1):
    F = [Σ w_i (x̄_i − m)² / (k − 1)] / [1 + 2(k − 2) λ / (k² − 1)],
    df1 = k − 1, df2 = (k² − 1) / (3λ)   (Welch 1951).
    """
    n, mean, var = (np.asarray(a, dtype=float) for a in (n, mean, var))
    with np.errstate(invalid="ignore", divide="ignore"):
        se2 = var / n if se is None else np.asarray(se, dtype=float) ** 2
    ok = (n >= 2) & (se2 > 0) & np.isfinite(se2)
    n, mean, se2 = n[ok], mean[ok], se2[ok]
    k = len(n)
    if k < 2:
        return np.nan, np.nan, np.nan, np.nan
    w = 1 / se2
    total = w.sum()
    grand = (w * mean).sum() / total
    lam = ((1 - w / total) ** 2 / (n - 1)).sum()
    f = ((w * (mean - grand) ** 2).sum() / (k - 1)) / (1 + 2 * (k - 2) * lam / (k * k - 1))
    df1, df2 = k - 1, (k * k - 1) / (3 * lam)
    return float(f), float(f_sf(f, df1, df2)), float(df1), float(df2)


def between_tests(table: pd.DataFrame, histograms: pd.DataFrame, level: str,
                  measure: str = "gap") -> pd.DataFrame:
    """Per wave, segment column and id: do the segment values differ? (Kruskal–Wallis on the
    histograms of ``measure``, the gap or a SERVPERF analysis' perception, unweighted; and
    Welch's ANOVA on its moments, with sampling weights on the design-based standard errors
    of the weighted means.)"""
    sub = table[table["segment"] != ALL]
    hist = histograms[(histograms["level"] == level) & (histograms["measure"] == measure)
                      & (histograms["segment"] != ALL)]
    hist_groups = dict(row_groups(hist, ["wave", "segment", "id"]))
    h_value = hist["value"].to_numpy()
    h_x, h_count = hist["x"].to_numpy(), hist["count"].to_numpy()
    n, mean = sub["n"].to_numpy(float), sub[f"{measure}_mean"].to_numpy(float)
    sd, se = sub[f"{measure}_sd"].to_numpy(float), sub[f"{measure}_se"].to_numpy(float)
    rows = []
    for (wave, segment, ident), at in row_groups(sub, ["wave", "segment", "id"]):
        f, f_p, df1, df2 = welch_anova(n[at], mean[at], sd[at] ** 2, se[at])
        h_at = hist_groups.get((wave, segment, ident))
        h, h_p, h_df = np.nan, np.nan, 0
        if h_at is not None:
            values = pd.factorize(h_value[h_at])[0]  # the segment values, in order
            groups = [(h_x[h_at[values == v]], h_count[h_at[values == v]])
                      for v in range(values.max() + 1)]
            h, h_p, h_df = kruskal(groups)
        rows.append({"wave": wave, "column": segment, "id": ident, "groups": len(at),
                     "kruskal_h": h, "kruskal_df": h_df, "kruskal_p": h_p,
                     "welch_f": f, "welch_df1": df1, "welch_df2": df2, "welch_p": f_p})
    return pd.DataFrame(rows, columns=["wave", "column", "id", "groups", "kruskal_h",
                                       "kruskal_df", "kruskal_p", "welch_f", "welch_df1",
                                       "welch_df2", "welch_p"])
