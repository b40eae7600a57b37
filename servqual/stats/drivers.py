"""Key drivers: how much each dimension accounts for an outcome (relative weights).

Relative weights (Johnson 2000, *Multivariate Behavioral Research* 35: 1–19) split the R² of
an outcome y regressed on correlated predictors (the dimension scores, perception or gap)
into one share per predictor. From the predictors' correlation matrix R = P Λ Pᵀ and their
correlations r with y:

    Λ* = P Λ^½ Pᵀ            (correlations of the predictors with their closest orthogonal
                              counterparts Z, Johnson's eq. 4)
    β  = P Λ^-½ Pᵀ r         (y regressed on Z)
    εⱼ = Σₖ Λ*ⱼₖ² βₖ²        (the raw weight of predictor j; Σⱼ εⱼ = R²)

``rescaled_weight`` is 100 · εⱼ / R² (% of R²).

Everything is computed from additive sums over the respondents with every predictor and the
outcome (complete cases): n, Σw, Σw·x, Σw·xxᵀ (:class:`DriverCounter`), so chunks, engines and
the history store combine them exactly, like every other aggregate. With sampling weights
(the instrument's ``sampling_weight``) w is each respondent's weight, and R is the weighted
correlation matrix, cov_ab = Σw·x_a·x_b / Σw − (Σw·x_a / Σw)(Σw·x_b / Σw) (the weighted
Pearson correlation, as the other statistics weight their means); without, w = 1. n stays
the number of complete cases (reported, and held against :data:`MIN_CASES`).

Intervals are bootstrapped (Tonidandel, LeBreton & Johnson 2009): B replicates, in each
of which every respondent counts a Poisson(1) number of times (the Poisson bootstrap: Hanley &
MacGibbon 2006). The counts are drawn for random groups of respondents rather than for each
one (the random-group bootstrap: Wolter 2007, *Introduction to Variance Estimation*, ch. 2):
a hash of the seed, the wave and the respondent puts each respondent in one of G =
:data:`GROUPS` groups, the sums are kept per group, and replicate b counts group g
c_gb ~ Poisson(1) times, c drawn from a hash of the seed, the replicate and the group
(:func:`poisson_counts`) rather than from a stream of random numbers:

    replicate sums_b = Σ_g c_gb · (Σ_{i in g} [1, w_i, w_i·x_i, w_i·x_i x_iᵀ])

A respondent's group and the groups' counts are then the same whichever chunk, engine or
machine reads it, so the sums add up exactly as the others do, and a run is reproducible
from its seed. With n respondents in a wave, groups hold n / G on average, and a respondent
shares its group with another with probability about (n − 1) / G: with a few hundred
respondents nearly every one is alone in its group and this is the ordinary Poisson
bootstrap; with more, the variance the replicates spread is, for a mean, (1 − 1/G) times the
ordinary bootstrap's in expectation over the grouping, with a relative error of about √(2/G)
(2 % for G = 4,096), well below the Monte Carlo error of B = 200 replicates
(tests/test_drivers.py compares the intervals with an ordinary bootstrap drawn by numpy).
The cost: each respondent's row added to its group's sums, and one (B × G) · (G × sums)
product per wave, in place of B sums over every respondent (3 s per million respondents).

The 95 % interval is the 2.5th to 97.5th percentile of a weight over the replicates. Only the
latest wave of a set of respondents gets replicates (the key drivers describe the current
wave); every wave keeps its sample sums. A wave stored in the history store alongside later
ones in one ingest therefore has weights but no intervals, should it ever be reported as the
current wave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..waves import sort_waves

# Poisson(1) by inverse transform on a 16-bit uniform: entry i is the count whose cumulative
# probability first reaches (i + ½) / 65,536 (counts of 8 and more, probability 1e-5, fall
# below that resolution).
_POISSON_CDF = np.cumsum([np.exp(-1.0) / np.prod(np.arange(1, k + 1, dtype=float))
                          for k in range(12)])
_POISSON_TABLE = np.searchsorted(_POISSON_CDF, (np.arange(1 << 16) + 0.5) / (1 << 16)
                                 ).astype(np.float64)


def relative_weights(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
    """Raw relative weights of predictors 0 … k−1 on the criterion k, and R², from the
    (k+1)×(k+1) correlation matrix of predictors then criterion (or a stack of them: one
    result per matrix). NaN when the predictors' correlation matrix is singular (a predictor
    constant, or one a mix of others)."""
    corr = np.asarray(corr, dtype=float)
    single = corr.ndim == 2
    c = corr[None] if single else corr
    k = c.shape[-1] - 1
    rxx, rxy = c[:, :-1, :-1], c[:, :-1, -1]
    bad = ~np.isfinite(c).all(axis=(1, 2))
    values, vectors = np.linalg.eigh(np.where(bad[:, None, None], np.eye(k), rxx))
    bad |= values.min(axis=1) <= 1e-10 * np.maximum(values.max(axis=1), 1.0)
    values = np.where(bad[:, None], 1.0, values)
    transposed = vectors.transpose(0, 2, 1)
    lam = vectors @ (np.sqrt(values)[:, :, None] * transposed)  # P Λ^½ Pᵀ
    beta = (vectors @ ((1 / np.sqrt(values))[:, :, None] * transposed)
            @ np.where(bad[:, None], 0.0, rxy)[:, :, None])[:, :, 0]  # P Λ^-½ Pᵀ r
    raw = ((lam ** 2) @ (beta ** 2)[:, :, None])[:, :, 0]
    r2 = (beta ** 2).sum(axis=1)
    raw[bad], r2[bad] = np.nan, np.nan
    return (raw[0], float(r2[0])) if single else (raw, r2)


def correlation(n, sums: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """The correlation matrix from n, Σx and the full Σxxᵀ (or stacks of them); NaN where a
    variable has no variance."""
    n = np.asarray(n, dtype=float)[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate without anyone: NaN
        cov = cross / n - sums[..., :, None] * sums[..., None, :] / (n * n)
        sd = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0, None))
        return cov / (sd[..., :, None] * sd[..., None, :])


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-mixed 64-bit hash of each uint64 (wrapping)."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def poisson_counts(keys: np.ndarray, seed: int, replicates: int) -> np.ndarray:
    """How many times each key (a group of respondents) counts in each bootstrap replicate:
    Poisson(1) counts, (keys × replicates) float64, a function of (seed, replicate, key) alone.

    The key is hashed once with the seed; every four replicates share one 64-bit number,
    the key's hash times their own odd constant, mixed by xorshift-multiply-xorshift, whose
    four 16-bit quarters are uniform numbers that pick the counts from
    :data:`_POISSON_TABLE`."""
    keys = np.asarray(keys, dtype=np.uint64)
    words = -(-replicates // 4)
    with np.errstate(over="ignore"):
        base = _mix(keys ^ _mix(np.array([seed], dtype=np.uint64)))
        steps = _mix(np.arange(1, words + 1, dtype=np.uint64)
                     + np.uint64(seed)) | np.uint64(1)
        u = base[:, None] * steps[None, :]
        u ^= u >> np.uint64(29)
        u *= np.uint64(0xBF58476D1CE4E5B9)
        u ^= u >> np.uint64(32)
    quarters = u.view(np.uint16).reshape(len(keys), 4 * words)[:, :replicates]
    return _POISSON_TABLE[quarters]


def group_of(keys: np.ndarray, seed: int, groups: int) -> np.ndarray:
    """Each respondent's bootstrap group, 0 … ``groups`` − 1 (a power of two): the top bits
    of a hash of its key and the seed."""
    bits = np.uint64(64 - (groups.bit_length() - 1))
    salt = _mix(np.array([seed], dtype=np.uint64) ^ np.uint64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        mixed = _mix(np.asarray(keys, dtype=np.uint64) + salt)
    return (mixed >> bits).astype(np.intp)


def design_rows(scores: dict[str, np.ndarray], outcomes: dict[str, np.ndarray],
                bases: tuple[str, ...], centres: dict[str, float],
                weight: np.ndarray | None = None) -> np.ndarray:
    """Each respondent's contribution to the key-driver sums, the definition of
    :class:`DriverCounter`'s (respondents × blocks of 2 + k + k(k+1)/2 columns, one block per
    outcome then basis, in the order of ``outcomes`` and ``bases``):

        z = (dimension scores of the basis − centre, outcome − centre)      (k values)
        v = the respondent's sampling weight (1 without ``weight``)
        row = [1, v, v·z, v·z_a·z_b for a ≤ b]   if z has no NaN (a complete case), else 0

    so that Σ rows = (n, Σv, Σv·z, Σv·zzᵀ) over the complete cases."""
    v = np.ones(len(next(iter(scores.values())))) if weight is None else np.asarray(
        weight, dtype=float)
    blocks = []
    for outcome, answers in outcomes.items():
        y = np.asarray(answers, dtype=float) - centres[outcome]
        for basis in bases:
            z = np.column_stack([scores[basis] - centres[basis], y])
            complete = ~np.isnan(z).any(axis=1)
            z[~complete] = 0.0
            w = np.where(complete, v, 0.0)
            a, b = np.triu_indices(z.shape[1])
            blocks.append(np.column_stack([complete.astype(float), w, w[:, None] * z,
                                           w[:, None] * z[:, a] * z[:, b]]))
    return np.hstack(blocks)


REPLICATES = 200  # bootstrap replicates of every key-driver weight
GROUPS = 4096  # random groups of respondents the replicates count (a power of two)
MIN_CASES = 30  # complete cases below which an outcome's key drivers are not reported
SEED = 20261204  # the bootstrap's seed: the same intervals run after run
BASES = ("perception", "gap")  # what the dimension scores are: perception, or gap P − E


def driver_kind(basis: str, outcome: str) -> str:
    """The ``kind`` of the cross-product rows of one outcome on one basis."""
    return f"driver:{basis}:{outcome}"


class DriverCounter:
    """Per wave, outcome and basis: Σc, Σc·w, Σc·w·x and Σc·w·xxᵀ over the respondents with
    every dimension score and the outcome, for the sample itself (c = 1, replicate 0) and for
    each bootstrap replicate b = 1 … B (c = the count of the respondent's group). x is the
    dimension scores then the outcome, w the sampling weight (1 without). Kept as sums per wave and per group of respondents
    (which add up across chunks, engines and machines); written as rows of the aggregates'
    ``crossproducts`` table (kind ``driver:<basis>:<outcome>``, id the replicate, a ≤ b the
    variables), which add up across stored waves as the reliability sums do."""

    def __init__(self, dimensions: tuple[str, ...], outcomes: list[str], bases: tuple[str, ...],
                 wave_labels: np.ndarray, replicates: int = REPLICATES, seed: int = SEED,
                 centres: dict[str, float] | None = None, groups: int = GROUPS):
        self.dimensions, self.outcomes, self.bases = dimensions, outcomes, bases
        # Fixed centres subtracted from each variable (a basis, an outcome): correlations do
        # not change, and sums of values near zero keep more of their digits.
        self.centres = {name: 0.0 for name in (*bases, *outcomes)} | (centres or {})
        self.labels, self.replicates, self.seed = wave_labels, replicates, seed
        self.groups = groups
        k = len(dimensions) + 1
        self.upper = np.triu_indices(k)  # the pairs a ≤ b of Σxxᵀ kept
        self.width = 2 + k + len(self.upper[0])  # per outcome and basis: n, Σw, Σwx, Σwxxᵀ
        combos = len(outcomes) * len(bases)
        self.sums = np.zeros((len(wave_labels), combos * self.width))  # the sample's
        # the wave whose replicates are summed: the latest (key drivers describe the current
        # wave); every wave has its sample sums (replicate 0)
        named = [str(label) for label in wave_labels if label is not None]
        latest = sort_waves(named)[-1] if named else None
        self.latest = next((w for w, label in enumerate(wave_labels)
                            if label is not None and str(label) == latest), -1)
        self.grouped = np.zeros((groups, combos * self.width))  # the latest wave's, per group

    def add(self, scores: dict[str, np.ndarray], outcomes: dict[str, np.ndarray],
            waves: np.ndarray, keys: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Add a chunk: the dimension scores per basis (respondents × dimensions), each
        outcome's answers (NaN: none), each respondent's wave code and key
        (a 64-bit hash of its wave and id), and sampling weight (None: 1). Each respondent's row of :func:`design_rows` is added to
        its wave's sums or, in the latest wave, to its group's (by the compiled loop
        :func:`servqual.stats.kernels.driver_sums`, tested against :func:`design_rows`)."""
        from . import kernels

        x = np.stack([scores[basis] - self.centres[basis] for basis in self.bases])
        y = np.stack([np.asarray(outcomes[o], dtype=float) - self.centres[o]
                      for o in self.outcomes])
        group = group_of(keys, self.seed, self.groups)
        weight = np.ones(len(keys)) if weight is None else np.asarray(weight, dtype=float)
        kernels.driver_sums(x, y, weight, np.asarray(waves, dtype=np.int64), group,
                            self.latest, self.width, self.sums, self.grouped)

    def merge(self, other: DriverCounter) -> None:
        self.sums += other.sums
        self.grouped += other.grouped

    def sample_sums(self, wave: int) -> np.ndarray:
        """A wave's sums over its respondents (replicate 0)."""
        if wave == self.latest:
            return self.sums[wave] + self.grouped.sum(axis=0)
        return self.sums[wave]

    def replicate_sums(self) -> np.ndarray:
        """The latest wave's sums of each replicate 1 … B: Σ_g c_gb · (group g's sums)."""
        counts = poisson_counts(np.arange(self.groups, dtype=np.uint64), self.seed,
                                self.replicates)
        return counts.T @ self.grouped

    def frame(self) -> pd.DataFrame:
        """The sums as cross-product rows (upper triangle, a ≤ b), waves with none left out."""
        names = np.asarray(list(self.dimensions) + ["outcome"], dtype=object)
        a, b = self.upper
        k = len(names)
        replicates = self.replicate_sums() if self.latest >= 0 else None
        frames = []
        for w in range(len(self.labels)):
            sums = self.sample_sums(w)[None, :]
            if w == self.latest:
                sums = np.vstack([sums, replicates])
            size = len(sums)
            for c, (outcome, basis) in enumerate((o, s) for o in self.outcomes
                                                 for s in self.bases):
                block = sums[:, c * self.width:(c + 1) * self.width]
                n, weights, totals, cross = (block[:, 0], block[:, 1], block[:, 2:2 + k],
                                             block[:, 2 + k:])
                if not n[0]:
                    continue
                reps = np.repeat(np.arange(size), len(a))
                frames.append(pd.DataFrame({
                    "wave": self.labels[w], "kind": driver_kind(basis, outcome),
                    "id": reps.astype(str), "a": np.tile(names[a], size),
                    "b": np.tile(names[b], size), "n": n[reps], "w": weights[reps],
                    "sum_a": totals[:, a].ravel(), "sum_b": totals[:, b].ravel(),
                    "sum_ab": cross.ravel()}))
        if not frames:
            return pd.DataFrame(columns=["wave", "kind", "id", "a", "b", "n", "w", "sum_a",
                                         "sum_b", "sum_ab"])
        return pd.concat(frames, ignore_index=True)


KEY_DRIVER_FIELDS = ["outcome", "dimension", "basis", "raw_weight", "rescaled_weight",
                     "ci95_low", "ci95_high", "r_squared", "n"]


def key_drivers(crossproducts: pd.DataFrame, wave: str, dimensions: tuple[str, ...],
                outcomes: list[str]) -> pd.DataFrame:
    """Per outcome (in ``outcomes``' order) and basis (perception, then gap) in ``wave``:
    each dimension's raw and rescaled relative weight, its bootstrap 95 % interval, R² and n
    (the complete cases), from the sums of :class:`DriverCounter` (weighted by Σw). An outcome and basis with
    fewer than :data:`MIN_CASES` complete cases has no rows (a regression on a handful of
    respondents fits them, whatever drives the outcome)."""
    rows = crossproducts[(crossproducts["wave"] == wave)
                         & crossproducts["kind"].astype(str).str.startswith("driver:")]
    names = list(dimensions) + ["outcome"]
    position = {name: i for i, name in enumerate(names)}
    out = []
    parts = dict(list(rows.groupby("kind", sort=False)))
    for outcome, basis in ((o, b) for o in outcomes for b in BASES):
        part = parts.get(driver_kind(basis, outcome))
        if part is None:
            continue
        rep = part["id"].astype(int).to_numpy()
        i = part["a"].map(position).to_numpy()
        j = part["b"].map(position).to_numpy()
        size = rep.max() + 1
        cross = np.zeros((size, len(names), len(names)))
        cross[rep, i, j] = cross[rep, j, i] = part["sum_ab"].to_numpy()
        sums = np.zeros((size, len(names)))
        sums[rep, i] = part["sum_a"].to_numpy()
        count, weight = np.zeros(size), np.zeros(size)
        count[rep] = part["n"].to_numpy()
        weight[rep] = part["w"].to_numpy()
        n = count[0]
        if n < MIN_CASES:
            continue  # too few complete cases for weights worth reporting
        weights, r2 = relative_weights(correlation(weight, sums, cross))
        boot = weights[1:]
        ok = ~np.isnan(boot).any(axis=1)
        low, high = (np.percentile(boot[ok], q, axis=0) if ok.sum() >= 20 else
                     np.full(len(dimensions), np.nan) for q in (2.5, 97.5))
        for d, dim in enumerate(dimensions):
            out.append({"outcome": outcome, "dimension": dim, "basis": basis,
                        "raw_weight": weights[0][d],
                        "rescaled_weight": 100 * weights[0][d] / r2[0] if r2[0] else np.nan,
                        "ci95_low": low[d], "ci95_high": high[d], "r_squared": r2[0],
                        "n": n})
    return pd.DataFrame(out, columns=KEY_DRIVER_FIELDS)
