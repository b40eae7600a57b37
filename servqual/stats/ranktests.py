"""Rank tests from value histograms (counts of each distinct value).

Likert gaps take few distinct values, so a rank test needs only how often each value occurs:
the ranks of tied values are their average rank, whatever the order of the respondents. The
results equal scipy's on the raw values (tests/test_ranktests.py), but cost nothing once the
histogram exists, and histograms add up across files and partitions.
"""

from __future__ import annotations

import numpy as np

from .probability import chi2_sf, normal_sf


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
    statistic, z, p = wilcoxon_pratt_groups(np.zeros(len(values), dtype=np.int64), values,
                                            np.asarray(counts, dtype=float), 1)
    return float(statistic[0]), float(z[0]), float(p[0])


def _group_starts(group: np.ndarray) -> np.ndarray:
    """Where each run of equal (sorted) group codes starts."""
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else group


def wilcoxon_pratt_groups(group: np.ndarray, values: np.ndarray, counts: np.ndarray,
                          groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`wilcoxon_pratt` of many histograms at once: row ``i`` says that ``values[i]``
    occurs ``counts[i]`` times in histogram ``group[i]`` (0..groups−1). Arrays of
    (statistic, z, p) per histogram, NaN where it has no value."""
    keep = counts > 0
    group, values, counts = group[keep], values[keep], counts[keep]
    magnitude = np.abs(values)
    order = np.lexsort((magnitude, group))
    group, values, counts, magnitude = group[order], values[order], counts[order], magnitude[order]
    # Ties in rank: the same |value| in the same histogram (+v and −v tie).
    tie = np.r_[True, (group[1:] != group[:-1]) | (magnitude[1:] != magnitude[:-1])] \
        if len(group) else np.zeros(0, bool)
    tie_id = np.cumsum(tie) - 1
    tie_counts = np.bincount(tie_id, weights=counts) if len(group) else np.zeros(0)
    tie_group = group[tie]
    # Average ranks within each histogram: cumulative counts restarted at its first tie.
    upper = np.cumsum(tie_counts)
    first_tie = _group_starts(tie_group)
    before = np.repeat(upper[first_tie] - tie_counts[first_tie], np.diff(np.r_[first_tie,
                                                                          len(tie_group)]))
    ranks = (upper - before - (tie_counts - 1) / 2.0)[tie_id]

    def per_group(weights: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=weights, minlength=groups)

    r_plus = per_group(np.where(values > 0, ranks * counts, 0.0))
    r_minus = per_group(np.where(values < 0, ranks * counts, 0.0))
    n = per_group(counts)
    n0 = per_group(np.where(values == 0, counts, 0.0))
    nonzero = magnitude[tie] > 0
    ties = np.bincount(tie_group, weights=np.where(nonzero, tie_counts ** 3 - tie_counts, 0.0),
                       minlength=groups)
    mean = n * (n + 1) / 4 - n0 * (n0 + 1) / 4
    var = (n * (n + 1) * (2 * n + 1) - n0 * (n0 + 1) * (2 * n0 + 1) - ties / 2) / 24
    statistic = np.where(n > 0, np.minimum(r_plus, r_minus), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where((n > 0) & (var > 0), (r_plus - mean) / np.sqrt(var), np.nan)
    return statistic, z, 2 * normal_sf(np.abs(z))


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
    return float(h), float(chi2_sf(h, df)), df


def median_from_histogram(values: np.ndarray, counts: np.ndarray) -> float:
    """The median (mean of the two middle values for an even count), as numpy computes it."""
    values = np.asarray(values, dtype=float)
    return float(medians_from_histograms(np.zeros(len(values), dtype=np.int64), values,
                                         np.asarray(counts, dtype=float), 1)[0])


def medians_from_histograms(group: np.ndarray, values: np.ndarray, counts: np.ndarray,
                            groups: int) -> np.ndarray:
    """:func:`median_from_histogram` of many histograms at once (rows as in
    :func:`wilcoxon_pratt_groups`); NaN where a histogram has no value."""
    keep = counts > 0
    group, values, counts = group[keep], values[keep], counts[keep]
    order = np.lexsort((values, group))
    group, values, counts = group[order], values[order], counts[order]
    n = np.bincount(group, weights=counts, minlength=groups)
    cumulative = np.cumsum(counts)
    # counts before each histogram's first row: its middle ranks lie after them
    start = np.zeros(groups)
    firsts = _group_starts(group)
    start[group[firsts]] = cumulative[firsts] - counts[firsts]
    out = np.full(groups, np.nan)
    has = n > 0
    lower = values[np.searchsorted(cumulative, start[has] + (n[has] + 1) // 2)]
    upper = values[np.searchsorted(cumulative, start[has] + n[has] // 2 + 1)]
    out[has] = (lower + upper) / 2
    return out
