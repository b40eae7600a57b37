"""Top-2-box and bottom-2-box: the shares of favourable and unfavourable answers per item,
and the distribution of its answers over the scale (:func:`answer_counts`).

The per-respondent indicators are defined in :func:`.scores.box_blocks`; their means are the
shares. Per wave and cell of an item:

* ``top2_share`` (``bottom2_share``) with its 95 % Wilson score interval (Wilson 1927):
  centre ``(p + z²/2n) / (1 + z²/n)``, half-width ``z·√(p(1 − p)/n + z²/4n²) / (1 + z²/n)``,
  z = Φ⁻¹(0.975), n the answers counted (with sampling weights p is the weighted share and n
  the number of answers, an approximation);
* against the wave before (same cell and item): ``top2_change`` and the two-sided p-value of
  the two-proportion z-test with the pooled proportion p̄ = (x₁ + x₂)/(n₁ + n₂):
  ``z = (p₂ − p₁) / √(p̄(1 − p̄)(1/n₁ + 1/n₂))`` (``top2_change_p``), adjusted by ``p_adjust``
  across the items of the wave and cell (``top2_change_p_adjusted``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .gaps import CELL, adjust_p
from .probability import normal_ppf, normal_sf

BOXES = ("top2", "bottom2")


def wilson_interval(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % Wilson score interval of proportions ``p`` of ``n`` (NaN for n = 0)."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    z = float(normal_ppf(0.975))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / scale
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return centre - half, centre + half


def two_proportion_p(p1, n1, p2, n2) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z-test (NaN where undefined)."""
    p1, n1, p2, n2 = (np.asarray(a, dtype=float) for a in (p1, n1, p2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p = 2 * normal_sf(np.abs(z))
    return np.where((n1 > 0) & (n2 > 0) & (pooled > 0) & (pooled < 1), p,
                    np.where((n1 > 0) & (n2 > 0) & (p1 == p2), 1.0, np.nan))


def box_table(means: pd.DataFrame, waves: list[str], method: str) -> pd.DataFrame:
    """Shares, intervals and the change against the wave before, per cell and item.

    ``means`` has CELL, ``id`` and ``<box>_mean``, ``<box>_n`` (:func:`.tables.measure_means`).
    """
    out = means[CELL + ["id"]].copy()
    for box in BOXES:
        if f"{box}_mean" not in means:
            continue
        share, n = means[f"{box}_mean"].to_numpy(float), means[f"{box}_n"].to_numpy(float)
        out[f"{box}_share"] = share
        out[f"{box}_ci95_low"], out[f"{box}_ci95_high"] = wilson_interval(share, n)
    if "top2_share" not in out:
        return out
    order = {w: k for k, w in enumerate(waves)}
    out["_n"] = means["top2_n"].to_numpy(float)
    out["_k"] = out["wave"].map(order)
    before = out[["segment", "value", "id", "_k", "top2_share", "_n"]].assign(_k=out["_k"] + 1)
    joined = out.merge(before, on=["segment", "value", "id", "_k"], how="left",
                       suffixes=("", "_before"))
    out["top2_change"] = (joined["top2_share"] - joined["top2_share_before"]).to_numpy()
    out["top2_change_p"] = two_proportion_p(joined["top2_share_before"], joined["_n_before"],
                                            joined["top2_share"], joined["_n"])
    out["top2_change_p_adjusted"] = adjust_p(out["top2_change_p"],
                                             [out[c] for c in CELL], method)
    return out.drop(columns=["_n", "_k"])


def answer_counts(histograms: pd.DataFrame, scale_min: int, scale_max: int) -> pd.DataFrame:
    """The answer distribution of each item's perception, per cell: ``perception_counts``,
    the number of answers on each point of the scale, ``scale_min`` first.

    Counted from the perception histograms (:mod:`.aggregate`), so the same answers as the
    item's perception mean (in a SERVQUAL analysis those paired with an expectation);
    unweighted (counts of answers, with or without sampling weights). A score between two
    points (an answer label mapped to 2.5, say) is on no point and is not counted.
    """
    sub = histograms[(histograms["level"] == "item") & (histograms["measure"] == "perception")]
    points = np.arange(scale_min, scale_max + 1, dtype=float)
    if sub.empty:
        return pd.DataFrame(columns=CELL + ["id", "perception_counts"])
    position = np.searchsorted(points, sub["x"].to_numpy(float))
    inside = (position < len(points)) & (points[np.minimum(position, len(points) - 1)]
                                         == sub["x"].to_numpy(float))
    found = sub.loc[inside, CELL + ["id", "count"]].assign(point=position[inside])
    wide = found.pivot_table(index=CELL + ["id"], columns="point", values="count",
                             aggfunc="sum", fill_value=0, sort=False)
    wide = wide.reindex(columns=range(len(points)), fill_value=0)
    out = wide.index.to_frame(index=False)
    out["perception_counts"] = np.rint(wide.to_numpy(float)).astype(np.int64).tolist()
    return out
