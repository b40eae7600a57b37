"""Importance–performance analysis (Martilla & James 1977): each dimension's quadrant.

Importance is stated or derived, performance is the mean perception; the quadrants split at
the mean of each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models import ALL


QUADRANTS = {(True, False): "concentrate_here", (True, True): "keep_up",
             (False, False): "low_priority", (False, True): "possible_overkill"}


def importance_performance(dimensions: pd.DataFrame, moments: pd.DataFrame, wave: str,
                           has_overall_satisfaction: bool) -> pd.DataFrame:
    """Per dimension: importance, performance (mean perception) and the IPA quadrant.

    Importance is stated (the mean share of the 100 points) when the instrument has
    importance columns; otherwise derived: the correlation of the dimension's perception
    with the overall-satisfaction rating (or, without one, with the mean perception of all
    dimensions). Quadrants split at the mean importance and mean performance.
    """
    out = dimensions[["dimension", "perception_mean"]].rename(
        columns={"perception_mean": "performance"}).copy()
    if "importance_weight" in dimensions and dimensions["importance_weight"].notna().any():
        out["importance"] = dimensions["importance_weight"].to_numpy()
        out["importance_source"] = "stated"
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
        out["importance_source"] = ("derived_overall_satisfaction" if has_overall_satisfaction
                                    else "derived_mean_perception")
    imp_mid, perf_mid = out["importance"].mean(), out["performance"].mean()
    out["importance_mid"], out["performance_mid"] = imp_mid, perf_mid
    out["quadrant"] = [QUADRANTS[(i >= imp_mid, p >= perf_mid)] if np.isfinite(i) else None
                       for i, p in zip(out["importance"], out["performance"])]
    return out
