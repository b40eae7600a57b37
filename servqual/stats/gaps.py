"""Gap scores: perception − expectation per item and dimension, with their uncertainty.

All figures here come from the sufficient statistics of :mod:`.moments`, so they are the
same whether computed from a file, the history store or a distributed group-by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .moments import describe
from .probability import t_ppf, t_sf
from .ranktests import medians_from_histograms, wilcoxon_pratt_groups

CELL = ["wave", "segment", "value"]


GAP_MEASURES = ("expectation", "perception", "gap")


def wide(moments: pd.DataFrame, level: str, measures=GAP_MEASURES) -> pd.DataFrame:
    """One row per cell and id of ``level``, with ``<measure>_<sum>`` columns."""
    sub = moments[(moments["level"] == level) & moments["measure"].isin(measures)]
    sums = [c for c in sub.columns if c not in ("wave", "segment", "value", "level", "id",
                                                "measure")]
    table = sub.pivot_table(index=CELL + ["id"], columns="measure", values=sums,
                            aggfunc="first", observed=True, sort=False)
    table.columns = [f"{measure}_{stat}" for stat, measure in table.columns]
    return table.reset_index()


def paired_t(mean: np.ndarray, sd: np.ndarray, n: np.ndarray, se: np.ndarray | None = None
             ) -> dict[str, np.ndarray]:
    """One-sample t-test of the gap against 0 (equivalently the paired t-test of P vs E).

    ``se``: the standard error of the mean when it is not ``sd / √n`` (the design-based
    standard error of a weighted mean, :func:`.moments.describe`).

    Notes
    -----
    ``t = mean / se`` (``se = sd / √n`` by default) with ``n − 1`` degrees of freedom, the two-sided p-value and the
    95 % confidence interval ``mean ± t(0.975, n − 1) · sd / √n``; ``dz = mean / sd`` (Cohen's
    effect size for paired data). With zero variance and a non-zero mean, ``t`` is infinite and
    ``p = 0``, as in :func:`scipy.stats.ttest_rel`; with n < 2 nothing is computable.
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = n - 1
        se = sd / np.sqrt(n) if se is None else np.array(se, dtype=float)
        t = mean / se
        crit = t_ppf(0.975, df)
        low, high = mean - crit * se, mean + crit * se
        p = 2 * t_sf(np.abs(t), df)
        dz = mean / sd
    undefined = (n < 2) | np.isnan(sd)
    zero_var = ~undefined & (sd == 0)
    t = np.where(zero_var & (mean == 0), np.nan, t)
    p = np.where(zero_var & (mean == 0), np.nan, p)
    low = np.where(zero_var, mean, low)
    high = np.where(zero_var, mean, high)
    dz = np.where(zero_var, np.nan, dz)
    for arr in (t, p, low, high, dz, se):
        arr[undefined] = np.nan
    return {"gap_se": se, "gap_ci95_low": low, "gap_ci95_high": high, "t": t,
            "df": np.where(undefined, np.nan, df), "p_value": p, "dz": dz}


def gap_table(moments: pd.DataFrame, level: str, histograms: pd.DataFrame | None = None,
              score: str = "gap") -> pd.DataFrame:
    """Gap statistics of every cell and id at ``level`` ("item" or "dimension").

    Columns: wave, segment, value, id, n, expectation_mean, perception_mean, gap_mean,
    expectation_sd, perception_sd, gap_sd, gap_se, gap_ci95_low, gap_ci95_high, t, df,
    p_value, dz, perception_se, perception_ci95_low, perception_ci95_high; with
    ``histograms``: gap_median, wilcoxon_z, wilcoxon_p (unweighted: the histograms count
    respondents). With sampling weights the means and SDs are weighted, the standard errors
    and with them the CIs and t-test are design-based (the linearisation variance of
    :func:`.moments.describe`), ``gap_mean_unweighted`` keeps the plain mean and
    ``n_effective`` is Kish's effective sample size (Σw)² / Σw².

    ``score`` is the measure the analysis judges: ``"gap"``, or ``"perception"`` in a
    SERVPERF analysis, where ``n`` counts the perceptions, the gap columns hold an item's
    own gap (over ``gap_n`` respondents who answered both) or NaN, and there is no rank test
    of the gap.
    """
    w = wide(moments, level)
    out = w[CELL + ["id"]].copy()
    out["n"] = w[f"{score}_n"].fillna(0).astype(np.int64)
    se = {}
    for measure in GAP_MEASURES:
        prefix = f"{measure}_"
        columns = [c for c in w.columns if c.startswith(prefix)]
        if not columns:
            out[f"{measure}_mean"] = out[f"{measure}_sd"] = np.nan
            se[measure] = np.full(len(w), np.nan)
            continue
        d = describe(w[columns].rename(columns=lambda c: c[len(prefix):]))
        out[f"{measure}_mean"] = d["mean"].to_numpy()
        out[f"{measure}_sd"] = d["sd"].to_numpy()
        se[measure] = d["se"].to_numpy()
    gap_n = w["gap_n"].fillna(0).to_numpy() if "gap_n" in w else np.zeros(len(w))
    if score != "gap":
        out["gap_n"] = gap_n.astype(np.int64)
    if f"{score}_w" in w.columns:
        with np.errstate(invalid="ignore", divide="ignore"):
            if score == "gap":
                out["gap_mean_unweighted"] = w["gap_sum"] / w["gap_n"]
            out["n_effective"] = w[f"{score}_w"] ** 2 / w[f"{score}_w2"]
    for name, arr in paired_t(out["gap_mean"].to_numpy(), out["gap_sd"].to_numpy(),
                              gap_n, se["gap"]).items():
        out[name] = arr
    perception = paired_t(out["perception_mean"].to_numpy(), out["perception_sd"].to_numpy(),
                          w["perception_n"].fillna(0).to_numpy() if "perception_n" in w
                          else np.zeros(len(w)), se["perception"])
    out["perception_se"] = perception["gap_se"]
    out["perception_ci95_low"] = perception["gap_ci95_low"]
    out["perception_ci95_high"] = perception["gap_ci95_high"]
    if histograms is not None and score == "gap":
        out = out.merge(rank_statistics(histograms, level), on=CELL + ["id"], how="left")
    elif histograms is not None:
        out["gap_median"] = out["wilcoxon_z"] = out["wilcoxon_p"] = np.nan
    return out


def rank_statistics(histograms: pd.DataFrame, level: str) -> pd.DataFrame:
    """Median gap and the Wilcoxon signed-rank test (Pratt) of each cell's gap histogram."""
    sub = histograms[(histograms["level"] == level) & (histograms["measure"] == "gap")]
    keys = sub[CELL + ["id"]]
    group = keys.groupby(CELL + ["id"], sort=False, dropna=False).ngroup().to_numpy()
    out = keys.drop_duplicates().reset_index(drop=True)
    x, c = sub["x"].to_numpy(dtype=float), sub["count"].to_numpy(dtype=float)
    _, out["wilcoxon_z"], out["wilcoxon_p"] = wilcoxon_pratt_groups(group, x, c, len(out))
    out.insert(len(CELL) + 1, "gap_median", medians_from_histograms(group, x, c, len(out)))
    return out


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Adjust one family of p-values for multiple comparisons.

    Notes
    -----
    With ``m`` p-values sorted ascending, ``p(1) ≤ … ≤ p(m)``:

    * Holm (1979): ``p̃(i) = max_{j ≤ i} min(1, (m − j + 1) · p(j))``;
    * Benjamini–Hochberg (1995), ``fdr_bh``: ``p̃(i) = min_{j ≥ i} min(1, m · p(j) / j)``;
    * Bonferroni: ``min(1, m · p)``.

    NaN p-values (untestable) stay NaN and do not count in ``m``.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0 or method == "none":
        return np.where(ok, p, np.nan)
    values = p[ok]
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * ranked))
    elif method == "fdr_bh":
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / i)[::-1])[::-1]
    elif method == "bonferroni":
        adjusted = np.minimum(1.0, m * ranked)
    else:
        raise ValueError(f"unknown p-value adjustment {method!r}")
    back = np.empty(m)
    back[order] = adjusted
    out[ok] = back
    return out


def adjust_p(p: pd.Series, groups: list[pd.Series], method: str) -> pd.Series:
    """p-values adjusted within each tested family (one family per group)."""
    codes = pd.MultiIndex.from_arrays([g.astype(str).to_numpy() for g in groups]).factorize()[0] \
        if groups else np.zeros(len(p), dtype=int)
    values = p.to_numpy(dtype=float)
    out = np.full(len(p), np.nan)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for idx in np.split(order, bounds):
        out[idx] = adjust_pvalues(values[idx], method)
    return pd.Series(out, index=p.index)
