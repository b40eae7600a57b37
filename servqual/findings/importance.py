"""Importance–performance analysis (Martilla & James 1977): each dimension's quadrant.

Importance is stated or derived, performance is the mean perception; the quadrants split at
the mean of each. A derived importance (a correlation) comes with its 95 % interval, and a
quadrant its interval does not support is marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument.outcomes import OUTCOMES
from ..models import ALL
from ..stats.probability import normal_ppf


QUADRANTS = {(True, False): "concentrate_here", (True, True): "keep_up",
             (False, False): "low_priority", (False, True): "possible_overkill"}


def importance_performance(dimensions: pd.DataFrame, moments: pd.DataFrame, wave: str,
                           has_overall_satisfaction: bool,
                           drivers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per dimension: importance, performance (mean perception) and the IPA quadrant.

    Importance is stated (the mean share of the 100 points) when the instrument has
    importance columns. Otherwise it is derived: with an outcome, the dimension's key-driver
    weight on it (:mod:`..stats.drivers`: the relative weight of its perception, the first of
    satisfaction, recommend, repurchase measured, with its bootstrap interval;
    ``importance_source`` ``key_driver_<outcome>``); without one, the correlation of the
    dimension's perception with the mean perception of all dimensions. Quadrants split at
    the mean importance and mean performance.

    A key-driver weight comes with its bootstrap interval; a correlation r of n respondents
    has the 95 % interval of Fisher's z,
    tanh(atanh(r) ± z₀.₉₇₅ / √(n − 3)) (``importance_ci95_low``, ``importance_ci95_high``;
    scipy.stats.pearsonr's ``confidence_interval()``). ``quadrant_supported`` is False when
    that interval contains the importance cut-off (``importance_mid``): the data do not say
    on which side of it the dimension lies, so its quadrant could be the one above or
    below; True when the interval lies on one side; None for stated importance (no
    interval) or no quadrant.
    """
    out = dimensions[["dimension", "perception_mean"]].rename(
        columns={"perception_mean": "performance"}).copy()
    if "importance_weight" in dimensions and dimensions["importance_weight"].notna().any():
        out["importance"] = dimensions["importance_weight"].to_numpy()
        out["importance_source"] = "stated"
        out["importance_n"] = np.nan
        out["importance_ci95_low"] = out["importance_ci95_high"] = np.nan
    elif (driven := _driver_weights(drivers)) is not None:
        outcome, rows = driven
        for column, key in (("importance", "raw_weight"), ("importance_n", "n"),
                            ("importance_ci95_low", "ci95_low"),
                            ("importance_ci95_high", "ci95_high")):
            out[column] = out["dimension"].map(rows[key]).to_numpy(dtype=float)
        out["importance_source"] = f"key_driver_{outcome}"
    else:
        m = moments[(moments["wave"] == wave) & (moments["segment"] == ALL)
                    & (moments["level"] == "dimension")]
        x, y, xy = (m[m["measure"] == k].set_index("id") for k in ("ipa_x", "ipa_y", "ipa_xy"))
        n = xy["n"]
        sxx = x["sumsq"] - x["sum"] ** 2 / n
        syy = y["sumsq"] - y["sum"] ** 2 / n
        sxy = xy["sum"] - x["sum"] * y["sum"] / n
        with np.errstate(invalid="ignore", divide="ignore"):
            r = sxy / np.sqrt(sxx * syy)
        out["importance"] = out["dimension"].map(r).to_numpy(dtype=float)
        count = out["dimension"].map(n).to_numpy(dtype=float)
        out["importance_n"] = count
        out["importance_ci95_low"], out["importance_ci95_high"] = fisher_interval(
            out["importance"].to_numpy(), count)
        out["importance_source"] = ("derived_overall_satisfaction" if has_overall_satisfaction
                                    else "derived_mean_perception")
    imp_mid, perf_mid = out["importance"].mean(), out["performance"].mean()
    out["importance_mid"], out["performance_mid"] = imp_mid, perf_mid
    out["quadrant"] = [QUADRANTS[(i >= imp_mid, p >= perf_mid)] if np.isfinite(i) else None
                       for i, p in zip(out["importance"], out["performance"])]
    low, high = out["importance_ci95_low"], out["importance_ci95_high"]
    known = low.notna() & high.notna() & out["quadrant"].notna()
    out["quadrant_supported"] = pd.Series(~((low <= imp_mid) & (imp_mid <= high)),
                                          dtype=object).where(known, None)
    return out


def _driver_weights(drivers: pd.DataFrame | None) -> tuple[str, pd.DataFrame] | None:
    """The perception key drivers of the first outcome measured (satisfaction, recommend,
    repurchase), indexed by dimension; None without any."""
    if drivers is None or drivers.empty:
        return None
    rows = drivers[(drivers["basis"] == "perception") & drivers["raw_weight"].notna()]
    for outcome in OUTCOMES:
        chosen = rows[rows["outcome"] == outcome]
        if len(chosen):
            return outcome, chosen.set_index("dimension")
    return None


def item_importance_performance(items: pd.DataFrame) -> pd.DataFrame:
    """Per item with importance ratings: importance (the mean rating), performance (the mean
    perception) and the IPA quadrant, split at the mean of each over the rated items.

    ``importance_ci95_low``/``_high`` is the t interval of the mean rating (mean ± t(0.975,
    n − 1) · sd / √n); ``quadrant_supported`` is False when it contains the importance
    cut-off (the data do not say on which side of it the item lies).
    """
    from ..stats.gaps import paired_t

    columns = ["item", "dimension", "importance", "performance", "importance_source",
               "importance_n", "importance_ci95_low", "importance_ci95_high", "importance_mid",
               "performance_mid", "quadrant", "quadrant_supported"]
    if "importance_mean" not in items:
        return pd.DataFrame(columns=columns)
    rated = items[items["importance_mean"].notna()]
    out = pd.DataFrame({"item": rated["item"], "dimension": rated["dimension"],
                        "importance": rated["importance_mean"],
                        "performance": rated["perception_mean"],
                        "importance_source": "stated_ratings",
                        "importance_n": rated["importance_n"]}).reset_index(drop=True)
    ci = paired_t(out["importance"].to_numpy(float), rated["importance_sd"].to_numpy(float),
                  out["importance_n"].to_numpy(float))
    out["importance_ci95_low"], out["importance_ci95_high"] = ci["gap_ci95_low"], ci["gap_ci95_high"]
    imp_mid, perf_mid = out["importance"].mean(), out["performance"].mean()
    out["importance_mid"], out["performance_mid"] = imp_mid, perf_mid
    out["quadrant"] = [QUADRANTS[(i >= imp_mid, p >= perf_mid)] if np.isfinite(p) else None
                       for i, p in zip(out["importance"], out["performance"])]
    low, high = out["importance_ci95_low"], out["importance_ci95_high"]
    known = low.notna() & high.notna() & out["quadrant"].notna()
    out["quadrant_supported"] = pd.Series(~((low <= imp_mid) & (imp_mid <= high)),
                                          dtype=object).where(known, None)
    return out[columns]


def fisher_interval(r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % confidence interval of correlations ``r`` of ``n`` pairs (Fisher's z):
    tanh(atanh(r) ± 1.959964 / √(n − 3)); NaN for n ≤ 3 or an undefined r, and [r, r] for
    |r| = 1."""
    r, n = np.asarray(r, dtype=float), np.asarray(n, dtype=float)
    crit = float(normal_ppf(0.975))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.arctanh(r)
        half = np.where(n > 3, crit / np.sqrt(n - 3), np.nan)
        low, high = np.tanh(z - half), np.tanh(z + half)
    return low, high
