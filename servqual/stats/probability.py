"""Tail probabilities and the small-series tests of trends, without scipy.stats.

``scipy.stats`` takes half a second to import (it builds the documentation of a hundred
distributions), more than the statistics of a small run; statsmodels imports it too. The
run needs a few of its functions only, and those are thin layers over ``scipy.special``,
which is what this module calls:

* the t, normal, χ² and F tail probabilities and the t quantile — the very special
  functions scipy.stats' distributions evaluate (``stdtr``, ``stdtrit``, ``ndtr``,
  ``chdtrc``, ``fdtrc``);
* the binomial upper tail, P(X ≥ k) = I_p(k, n − k + 1) (``betainc``);
* Welch's two-sample t-test from means and standard errors (design-based with weights);
* an ordinary least-squares line with its slope's t-test and 95 % interval;
* Kendall's τ-b with its p-value, and the Theil–Sen slope.

tests/test_probability.py checks every function against scipy.stats and statsmodels on the
same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

# Kendall's τ: the exact null distribution when neither series has ties and the series is
# short (or nearly every pair is concordant, or discordant), as scipy.stats.kendalltau does.
_KENDALL_EXACT_UP_TO = 33


def t_sf(x, df):
    """P(T > x) for Student's t with ``df`` degrees of freedom."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_ppf(q, df):
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    return special.stdtrit(df, q)


def normal_sf(z):
    """P(Z > z) for the standard normal distribution."""
    return special.ndtr(-np.asarray(z, dtype=float))


def normal_ppf(q):
    """The ``q`` quantile of the standard normal distribution."""
    return special.ndtri(q)


def chi2_sf(x, df):
    """P(X > x) for the χ² distribution with ``df`` degrees of freedom."""
    return special.chdtrc(df, x)


def f_sf(x, df1, df2):
    """P(X > x) for the F distribution with (df1, df2) degrees of freedom."""
    return special.fdtrc(df1, df2, x)


def binomial_at_least(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p): the one-sided ('greater') exact binomial test."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return float(special.betainc(k, n - k + 1, p))


def welch_se(n1, m1, se1, n2, m2, se2):
    """Welch's two-sample t-test of m2 − m1 from sizes, means and standard errors (two-sided).

    Returns ``(t, df, p)``. With unweighted means ``se = sd / √n`` and this is Welch's
    t-test; with sampling weights pass the design-based standard errors of the weighted means
    (``gap_se`` of the gap tables, ``se`` of :func:`servqual.stats.moments.describe`), so the
    test carries the variance the weights add.

    Notes
    -----
    With a = se1², b = se2²: t = (m2 − m1) / √(a + b), and the Welch–Satterthwaite degrees of
    freedom (a + b)² / [a² / (n1 − 1) + b² / (n2 − 1)], each group's variance estimate having
    n − 1 degrees of freedom (for a weighted mean, its design degrees of freedom).
    """
    n1, m1, se1, n2, m2, se2 = (np.asarray(x, dtype=float) for x in (n1, m1, se1, n2, m2, se2))
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = se1 * se1, se2 * se2
        t = (m2 - m1) / np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        p = 2 * t_sf(np.abs(t), df)
    return t, df, p


@dataclass(frozen=True)
class Line:
    """An ordinary least-squares line y = intercept + slope · x, and its slope's two-sided
    t-test (n − 2 degrees of freedom) and 95 % confidence interval."""

    intercept: float
    slope: float
    se: float
    p_value: float
    low: float
    high: float


def least_squares(x: np.ndarray, y: np.ndarray) -> Line:
    """Fit a line to at least three points whose x are not all equal.

    slope = Sxy / Sxx, se = √(SSR / (n − 2) / Sxx), t = slope / se. With no residual at all,
    t is infinite (p = 0), or undefined for a zero slope (p = NaN), as statsmodels reports.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    residual = y - (intercept + slope * x)
    df = n - 2
    se = math.sqrt(float(residual @ residual) / df / sxx)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.float64(slope) / np.float64(se)
    p = float(2 * t_sf(abs(t), df))
    half = float(t_ppf(0.975, df)) * se
    return Line(intercept, slope, se, p, slope - half, slope + half)


@dataclass(frozen=True)
class WeightedLine(Line):
    """A weighted least-squares line, with the basis of its slope's variance:
    ``sampling`` (the wave means' own standard errors) or ``residual`` (the scatter about
    the line exceeds them), and the dispersion ratio φ (weighted residual sum of squares /
    (n − 2))."""

    basis: str = "sampling"
    dispersion: float = float("nan")


def weighted_least_squares(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> WeightedLine:
    """Fit a line to at least three wave means with known standard errors.

    Notes
    -----
    Weights w = 1 / se², x̄ = Σwx / Σw, Sxx = Σw(x − x̄)², slope b = Σw(x − x̄)(y − ȳ) / Sxx.
    The slope's variance is the larger of two estimates, ``max(1, φ) / Sxx``:

    * sampling-based, 1 / Sxx — exact when the wave means differ from the line by sampling
      error alone;
    * residual-based, φ / Sxx with φ = Σw r² / (n − 2) — when real between-wave variation
      (fieldwork, season, a campaign) scatters the means more than their standard errors
      say, the residuals show it.

    This is the multiplicative-dispersion model of meta-regression (Thompson & Sharp 1999,
    Stat Med 18:2693–2708) with the truncation at 1 of Knapp & Hartung (2003, Stat Med
    22:2693–2710), so that an unusually tidy series never makes the slope look more certain
    than its sampling error allows. The reference is the normal distribution: with sampling
    error alone the test is then conservative (the variance used is never below the true
    one, and the slope is independent of the residuals); with real between-wave variation
    the residual variance takes over, estimated on n − 2 df, and the normal tail is a little
    short of the t tail (the benchmark's between-wave scenario measures the effect). The t
    reference with 6 df throughout would cost a third of the power for a slope of 0.05 a
    quarter over eight waves of about 220 respondents once the decisions are adjusted for
    multiplicity, for protection against a variation the sampling error usually explains.
    """
    x, y, se = (np.asarray(a, dtype=float) for a in (x, y, se))
    n = len(x)
    w = 1.0 / (se * se)
    xbar, ybar = float(w @ x / w.sum()), float(w @ y / w.sum())
    dx = x - xbar
    sxx = float(w @ (dx * dx))
    slope = float(w @ (dx * (y - ybar))) / sxx
    intercept = ybar - slope * xbar
    residual = y - (intercept + slope * x)
    dispersion = float(w @ (residual * residual)) / (n - 2)
    basis = "residual" if dispersion > 1 else "sampling"
    error = math.sqrt(max(1.0, dispersion) / sxx)
    p = float(2 * normal_sf(abs(slope) / error))
    half = 1.959963984540054 * error
    return WeightedLine(intercept, slope, error, p, slope - half, slope + half, basis,
                        dispersion)


def theil_sen_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The median of the slopes between all pairs of points with different x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx = x[:, None] - x
    dy = y[:, None] - y
    apart = dx > 0
    return float(np.median(dy[apart] / dx[apart])) if apart.any() else float("nan")


def kendall_tau(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Kendall's τ-b of two series and its two-sided p-value.

    Over all pairs of positions: C concordant, D discordant, Tx and Ty tied in x or in y,
    T₀ = n(n − 1)/2 pairs; τ-b = (C − D) / √((T₀ − Tx)(T₀ − Ty)). The p-value is exact (the
    distribution of C over the n! orderings) without ties in a short series, else from the
    normal approximation with the variance corrected for ties (Kendall 1970, ch. 4).
    NaN when either series is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    sx = np.sign(x[None, :] - x[:, None])[upper]
    sy = np.sign(y[None, :] - y[:, None])[upper]
    total = n * (n - 1) // 2
    concordant = int(np.sum(sx * sy > 0))
    discordant = int(np.sum(sx * sy < 0))
    x_ties, y_ties = int(np.sum(sx == 0)), int(np.sum(sy == 0))
    if x_ties == total or y_ties == total:
        return float("nan"), float("nan")
    score = concordant - discordant
    tau = score / math.sqrt(total - x_ties) / math.sqrt(total - y_ties)
    tau = min(1.0, max(-1.0, tau))
    if not x_ties and not y_ties and (n <= _KENDALL_EXACT_UP_TO
                                      or min(discordant, total - discordant) <= 1):
        return tau, _kendall_exact_p(n, concordant)
    m = n * (n - 1.0)
    vx, tx1, tx2 = _tie_terms(x)
    vy, ty1, ty2 = _tie_terms(y)
    var = ((m * (2 * n + 5) - vx - vy) / 18 + 2 * tx1 * ty1 / m
           + tx2 * ty2 / (9 * m * (n - 2)))
    return tau, float(2 * normal_sf(abs(score) / math.sqrt(var)))


def _tie_terms(values: np.ndarray) -> tuple[float, float, float]:
    """Over the groups of t equal values: Σ t(t − 1)(2t + 5), Σ t(t − 1)/2, Σ t(t − 1)(t − 2)."""
    t = np.unique(values, return_counts=True)[1].astype(float)
    t = t[t > 1]
    return (float(np.sum(t * (t - 1) * (2 * t + 5))), float(np.sum(t * (t - 1) / 2)),
            float(np.sum(t * (t - 1) * (t - 2))))


def _kendall_exact_p(n: int, concordant: int) -> float:
    """Two-sided exact p-value of ``concordant`` pairs among n untied positions.

    Under independence each of the n! orderings is equally likely; the number with c
    discordant pairs is the Mahonian number M(n, c) (inversions of a permutation). The
    distribution is symmetric about n(n − 1)/4, so p = 2 · Σ_{i ≤ c} M(n, i) / n! with c the
    smaller of the concordant and discordant counts (1 at the centre).
    """
    total = n * (n - 1) // 2
    c = min(concordant, total - concordant)
    if n <= 2 or 4 * c == n * (n - 1):
        return 1.0
    counts = [1] + [0] * c  # M(1, i)
    for size in range(2, n + 1):  # adding an element adds 0..size − 1 inversions
        running, out = 0, []
        for i in range(c + 1):
            running += counts[i]
            if i >= size:
                running -= counts[i - size]
            out.append(running)
        counts = out
    return min(1.0, 2 * sum(counts) / math.factorial(n))
