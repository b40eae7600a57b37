"""The satisfaction–loyalty matrix: respondents placed by satisfaction × loyalty.

Satisfaction and loyalty differ (domain.md): a satisfied customer may still leave, and a
dissatisfied one may stay because leaving costs too much. With the satisfaction outcome s and
the loyalty outcome l (:attr:`servqual.instrument.Instrument.loyalty_matrix`: repurchase
intention, or likelihood to recommend), each usable on its scale, and their *high* thresholds
h_s, h_l (:attr:`servqual.instrument.outcomes.Outcome.high`: by default the top two answers,
promoters on 0–10), a respondent belongs to exactly one group (:data:`GROUPS`):

    loyal_satisfied      s ≥ h_s and l ≥ h_l
    satisfied_not_loyal  s ≥ h_s and l <  h_l
    loyal_not_satisfied  s <  h_s and l ≥ h_l
    neither              s <  h_s and l <  h_l

and to none when either answer is missing (then the respondent counts nowhere in the matrix).
Per wave and cell, with n respondents placed and x of them in a group:

* ``share`` = x / n with its 95 % Wilson score interval (:func:`.boxes.wilson_interval`);
  with sampling weights the share is weighted and n the respondents counted;
* the group's *gap profile*: the mean dimension gap (perception − expectation,
  :func:`.scores.dimension_scores`) of the group's respondents, per dimension, with its n
  (in a SERVPERF analysis, without expectations, the mean dimension perception).

The indicators and the group-restricted gaps are ordinary per-respondent measures (the level
``overall``, measure ``matrix``; the level ``dimension``, measures ``matrix_<group>``), so
every engine sums them like any other mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import Instrument
from .boxes import wilson_interval
from .gaps import CELL

GROUPS = ("loyal_satisfied", "satisfied_not_loyal", "loyal_not_satisfied", "neither")
MEASURE = "matrix"
PROFILE = tuple(f"matrix_{g}" for g in GROUPS)  # the gap profile's measures, one per group
SHARE_FIELDS = ["group", "n", "count", "share", "ci95_low", "ci95_high"]
PROFILE_FIELDS = ["group", "dimension", "n", "mean"]


def matrix_indicators(meta: pd.DataFrame, instrument: Instrument) -> np.ndarray | None:
    """Each respondent's group as four 0/1 columns in the order of :data:`GROUPS` (NaN when
    either outcome is unanswered); None when the instrument has no matrix."""
    if instrument.loyalty_matrix is None:
        return None
    s_out, l_out = (instrument.outcome(k) for k in instrument.loyalty_matrix)
    s = meta[s_out.meta_column].to_numpy(dtype=np.float64)
    loyal_answer = meta[l_out.meta_column].to_numpy(dtype=np.float64)
    placed = ~(np.isnan(s) | np.isnan(loyal_answer))
    with np.errstate(invalid="ignore"):
        satisfied, loyal = s >= s_out.high, loyal_answer >= l_out.high
    groups = [satisfied & loyal, satisfied & ~loyal, ~satisfied & loyal, ~satisfied & ~loyal]
    return np.column_stack([np.where(placed, g, np.nan) for g in groups])


def profile_scores(indicators: np.ndarray, scores: np.ndarray) -> list[np.ndarray]:
    """Per group, the respondents' dimension scores (gaps, or perceptions in SERVPERF) where
    they belong to it, NaN elsewhere."""
    return [np.where(indicators[:, [k]] == 1, scores, np.nan) for k in range(len(GROUPS))]


def matrix_table(means: pd.DataFrame) -> pd.DataFrame:
    """Per wave, cell and group: respondents placed (n), in the group (count), the share and
    its Wilson interval. ``means`` holds ``matrix_mean`` and ``matrix_n`` per cell and id
    (:func:`.tables.measure_means` of the level ``overall``)."""
    if "matrix_mean" not in means or means.empty:
        return pd.DataFrame(columns=CELL + SHARE_FIELDS)
    out = means[CELL + ["id"]].rename(columns={"id": "group"}).reset_index(drop=True)
    share = means["matrix_mean"].to_numpy(dtype=float)
    n = means["matrix_n"].to_numpy(dtype=float)
    out["n"], out["share"] = n, share
    out["count"] = np.round(n * share)
    out["ci95_low"], out["ci95_high"] = wilson_interval(share, n)
    return out[out["n"] > 0][CELL + SHARE_FIELDS].reset_index(drop=True)


def profile_table(means: pd.DataFrame) -> pd.DataFrame:
    """Per wave, cell, group and dimension: the group's mean score and its n. ``means`` holds
    ``matrix_<group>_mean`` and ``_n`` per cell and dimension id."""
    parts = []
    for group, measure in zip(GROUPS, PROFILE):
        if f"{measure}_mean" not in means:
            continue
        part = means[CELL + ["id"]].rename(columns={"id": "dimension"}).reset_index(drop=True)
        part.insert(len(CELL), "group", group)
        part["n"] = means[f"{measure}_n"].to_numpy(dtype=float)
        part["mean"] = means[f"{measure}_mean"].to_numpy(dtype=float)
        parts.append(part[part["n"] > 0])
    if not parts:
        return pd.DataFrame(columns=CELL + PROFILE_FIELDS)
    return pd.concat(parts, ignore_index=True)
