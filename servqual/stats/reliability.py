"""Internal consistency: Cronbach's alpha, alpha-if-item-deleted, item-rest correlations.

Computed from the cross-product aggregates (:mod:`.aggregate`): respondents who answered
every item of the dimension in a battery (listwise, as SPSS RELIABILITY does; R's
``psych::alpha`` agrees on complete data).

Notes
-----
With C the k×k item covariance matrix (ddof = 1),

    α = k / (k − 1) · (1 − tr(C) / ΣC)                       (Cronbach 1951)

alpha-if-deleted is α of C without item i; the item-rest correlation is the correlation of
item i with the sum of the other items: ``(r_i − C_ii) / √(C_ii · (ΣC − 2 r_i + C_ii))`` with
``r_i`` the i-th row sum of C (psych's ``r.drop``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .grouping import row_groups

REASON_ONE_ITEM = "one_item"
REASON_TOO_FEW = "too_few_respondents"
REASON_NO_VARIANCE = "no_variance"
REASON_NEGATIVE = "negative_alpha"  # items probably not all scored in the same direction


def covariance(n: float, sums: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Covariance matrix (ddof = 1) from n, Σx (k) and Σxxᵀ (k×k)."""
    return (cross - np.outer(sums, sums) / n) / (n - 1)


def alpha_from_cov(cov: np.ndarray) -> float:
    k = cov.shape[0]
    total = cov.sum()
    if k < 2 or total <= 0:
        return np.nan
    return float(k / (k - 1) * (1 - np.trace(cov) / total))


def item_statistics(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-if-deleted and item-rest correlation of each item."""
    k = cov.shape[0]
    deleted = np.full(k, np.nan)
    item_rest = np.full(k, np.nan)
    if k < 2:
        return deleted, item_rest
    total = cov.sum()
    rows = cov.sum(axis=1)
    diag = np.diag(cov)
    for i in range(k):
        keep = np.arange(k) != i
        deleted[i] = alpha_from_cov(cov[np.ix_(keep, keep)]) if k > 2 else np.nan
        rest_var = total - 2 * rows[i] + diag[i]
        denominator = np.sqrt(diag[i] * rest_var) if diag[i] > 0 and rest_var > 0 else np.nan
        item_rest[i] = (rows[i] - diag[i]) / denominator
    return deleted, item_rest


def reliability(crossproducts: pd.DataFrame, item_order: dict[str, int], alpha_min: float
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alpha per wave, dimension and battery; and per item alpha-if-deleted, item-rest r.

    Returns
    -------
    (scales, items)
        ``scales``: wave, dimension, kind, n, k, alpha, alpha_flag (None, "low",
        "negative_alpha", or why alpha is undefined: "one_item", "too_few_respondents",
        "no_variance"). ``items``: wave, dimension, kind, item, alpha_if_deleted,
        item_rest_r, item_mean, item_sd.
    """
    scales, items = [], []
    # Read as numpy arrays once: pandas operations per group cost more than the arithmetic.
    columns = {c: crossproducts[c].to_numpy() for c in ("a", "b", "n", "sum_ab", "sum_a")}
    for (wave, kind, dim), at in row_groups(crossproducts, ["wave", "kind", "id"]):
        a_ids, b_ids = columns["a"][at], columns["b"][at]
        ids = sorted(set(a_ids), key=item_order.__getitem__)
        index = {item: i for i, item in enumerate(ids)}
        k = len(ids)
        n = float(columns["n"][at[0]])
        cross = np.zeros((k, k))
        sums = np.zeros(k)
        a = np.fromiter((index[x] for x in a_ids), dtype=np.int64, count=len(at))
        b = np.fromiter((index[x] for x in b_ids), dtype=np.int64, count=len(at))
        cross[a, b] = columns["sum_ab"][at]
        sums[a] = columns["sum_a"][at]
        alpha, flag = np.nan, None
        deleted = item_rest = np.full(k, np.nan)
        cov = None
        if k < 2:
            flag = REASON_ONE_ITEM
        elif n < 3:
            flag = REASON_TOO_FEW
        else:
            cov = covariance(n, sums, cross)
            if cov.sum() <= 0 or np.trace(cov) <= 0:
                flag = REASON_NO_VARIANCE
            else:
                alpha = alpha_from_cov(cov)
                deleted, item_rest = item_statistics(cov)
                flag = REASON_NEGATIVE if alpha < 0 else ("low" if alpha < alpha_min else None)
        scales.append({"wave": wave, "dimension": dim, "kind": kind, "n": int(n), "k": k,
                       "alpha": alpha, "alpha_flag": flag})
        for i, item in enumerate(ids):
            var = cov[i, i] if cov is not None else np.nan
            items.append({"wave": wave, "dimension": dim, "kind": kind, "item": item,
                          "alpha_if_deleted": deleted[i], "item_rest_r": item_rest[i],
                          "item_mean": sums[i] / n if n else np.nan,
                          "item_sd": np.sqrt(var) if var == var and var >= 0 else np.nan})
    return pd.DataFrame(scales), pd.DataFrame(items)
