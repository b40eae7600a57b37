"""Rank tests from value histograms (counts of each distinct value).

Likert gaps take few distinct values, so a rank test needs only how often each value occurs:
the ranks of tied values are their average rank, whatever the order of the respondents. The
results equal scipy's on the raw values (tests/test_ranktests.py), but cost nothing once the
histogram exists, and histograms add up across files and partitions.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps


def _average_ranks(counts: np.ndarray) -> np.ndarray:
    """Average rank of each group of tied values, values in ascending order."""
    upper = np.cumsum(counts)
    return upper - (counts - 1) / 2.0


def wilcoxon_pratt(values: np.ndarray, counts: np.ndarray) -> tuple[float, float, float]:
    """Wilcoxon signed-rank test of the values against 0, zeros handled by Pratt's method.

    Parameters
    ----------
    values, counts
        Distinct values and how often each occurs.

    Returns
    -------
    (statistic, z, p)
        The sum of the ranks of the positive values (as scipy reports for the two-sided
        test with ``zero_method="pratt"``: ``min(r+, r−)``), the normal deviate, and the
        two-sided p-value.

    Notes
    -----
    Normal approximation with the tie correction and Pratt's zero adjustment (Cureton 1967),
    without continuity correction, exactly as ``scipy.stats.wilcoxon(d, zero_method="pratt",
    method="asymptotic")``: ranks of |d| over all n values including zeros; zeros get ranks
    but do not count in r+; mean ``n(n+1)/4 − n0(n0+1)/4``; variance
    ``[n(n+1)(2n+1) − n0(n0+1)(2n0+1) − Σ(t³ − t)/2] / 24`` over the non-zero tie groups.
    Large samples make the approximation exact enough; a paired t-test is reported alongside.
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=float)
    keep = counts > 0
    values, counts = values[keep], counts[keep]
    n = counts.sum()
    if n == 0:
        return np.nan, np.nan, np.nan
    magnitude = np.abs(values)
    # Group the values by |value|: +v and −v are ties in rank.
    groups, inverse = np.unique(magnitude, return_inverse=True)
    group_counts = np.bincount(inverse, weights=counts, minlength=len(groups))
    ranks = _average_ranks(group_counts)[inverse]
    r_plus = float((ranks * counts)[values > 0].sum())
    r_minus = float((ranks * counts)[values < 0].sum())
    n0 = float(counts[values == 0].sum())
    mean = n * (n + 1) / 4 - n0 * (n0 + 1) / 4
    nonzero_groups = group_counts[groups > 0]
    var = (n * (n + 1) * (2 * n + 1) - n0 * (n0 + 1) * (2 * n0 + 1)
           - (nonzero_groups ** 3 - nonzero_groups).sum() / 2) / 24
    if var <= 0:
        return min(r_plus, r_minus), np.nan, np.nan
    z = (r_plus - mean) / np.sqrt(var)
    return min(r_plus, r_minus), float(z), float(2 * sps.norm.sf(abs(z)))


def kruskal(groups: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, int]:
    """Kruskal–Wallis H test from each group's histogram (values, counts).

    Returns ``(H, p, df)``; ties corrected as ``scipy.stats.kruskal`` does.
    """
    groups = [(np.asarray(v, float), np.asarray(c, float)) for v, c in groups
              if np.sum(c) > 0]
    if len(groups) < 2:
        return np.nan, np.nan, 0
    values = np.concatenate([v for v, _ in groups])
    counts = np.concatenate([c for _, c in groups])
    owner = np.concatenate([np.full(len(v), i) for i, (v, _) in enumerate(groups)])
    distinct, inverse = np.unique(values, return_inverse=True)
    totals = np.bincount(inverse, weights=counts, minlength=len(distinct))
    ranks = _average_ranks(totals)[inverse]
    rank_sums = np.bincount(owner, weights=ranks * counts, minlength=len(groups))
    sizes = np.bincount(owner, weights=counts, minlength=len(groups))
    n = sizes.sum()
    h = 12.0 / (n * (n + 1)) * np.sum(rank_sums ** 2 / sizes) - 3 * (n + 1)
    ties = 1 - np.sum(totals ** 3 - totals) / (n ** 3 - n)
    if ties <= 0:
        return np.nan, np.nan, len(groups) - 1
    h /= ties
    df = len(groups) - 1
    return float(h), float(sps.chi2.sf(h, df)), df


def median_from_histogram(values: np.ndarray, counts: np.ndarray) -> float:
    """The median (mean of the two middle values for an even count), as numpy computes it."""
    order = np.argsort(values)
    values, counts = np.asarray(values, float)[order], np.asarray(counts, float)[order]
    n = counts.sum()
    if n == 0:
        return np.nan
    cumulative = np.cumsum(counts)
    lower = values[np.searchsorted(cumulative, (n + 1) // 2)]
    upper = values[np.searchsorted(cumulative, n // 2 + 1)]
    return float((lower + upper) / 2)
