"""Net Promoter Score (Reichheld 2003) with its 95 % interval.

Per respondent with a usable answer r to the 0–10 likelihood-to-recommend question
(:func:`servqual.instrument.outcomes.usable`): ``promoter`` = [r ≥ 9], ``detractor`` =
[r ≤ 6]; answers 7–8 are passives (:func:`nps_indicators`, the moments' level ``overall``,
measure ``nps``). Per wave and cell, with n answers, promoter share p and detractor share d:

    NPS = 100 · (p − d)   (points, −100 … 100)

Its 95 % interval is the adjusted Wald interval (Rocks 2016, *The American Statistician* 70:
365–372; the best coverage of the six methods compared there): add 3 to n and ¾ to each of
the promoters and detractors,

    n' = n + 3,  p' = (n·p + ¾) / n',  d' = (n·d + ¾) / n',
    NPS ± 100 · z₀.₉₇₅ · √((p' + d' − (p' − d')²) / n')   centred on 100 · (p' − d'),

cut to −100 … 100. With sampling weights p and d are weighted shares and n the answers
counted (an approximation, as for the box shares of :mod:`.boxes`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import Instrument
from .gaps import CELL
from .probability import normal_ppf

NPS_IDS = ("promoter", "detractor")
NPS_FIELDS = ["n", "nps", "ci95_low", "ci95_high", "promoters", "passives", "detractors"]


def nps_indicators(meta: pd.DataFrame, instrument: Instrument) -> np.ndarray | None:
    """The promoter and detractor indicators of each respondent, the columns of
    :data:`NPS_IDS` (NaN without an answer); None when the instrument has no recommend
    outcome. :func:`.scores.overall_blocks` adds them as the block ``overall``/``nps``."""
    outcome = instrument.outcome("recommend")
    if outcome is None:
        return None
    r = meta[outcome.meta_column].to_numpy(dtype=np.float64)
    answered = ~np.isnan(r)
    with np.errstate(invalid="ignore"):
        return np.column_stack([np.where(answered, r >= 9, np.nan),
                                np.where(answered, r <= 6, np.nan)])


def adjusted_wald(n, promoters, detractors) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % adjusted Wald interval of the NPS in points, from n and the promoter and
    detractor shares (0–1); NaN where n is 0."""
    n, p, d = (np.asarray(a, dtype=float) for a in (n, promoters, detractors))
    z = float(normal_ppf(0.975))
    with np.errstate(invalid="ignore", divide="ignore"):
        m = n + 3
        pa, da = (n * p + 0.75) / m, (n * d + 0.75) / m
        centre, half = pa - da, z * np.sqrt((pa + da - (pa - da) ** 2) / m)
    ok = n > 0
    low = np.where(ok, np.clip(100 * (centre - half), -100, 100), np.nan)
    high = np.where(ok, np.clip(100 * (centre + half), -100, 100), np.nan)
    return low, high


def nps_table(means: pd.DataFrame) -> pd.DataFrame:
    """Per wave and cell: n, NPS, its interval, and the shares (%) of promoters, passives and
    detractors. ``means`` holds ``nps_mean`` and ``nps_n`` per cell and id
    (:func:`.tables.measure_means` of the level ``overall``)."""
    if "nps_mean" not in means or means.empty:
        return pd.DataFrame(columns=CELL + NPS_FIELDS)
    wide = means.pivot_table(index=CELL, columns="id", values=["nps_mean", "nps_n"],
                             aggfunc="first", sort=False)
    out = wide.index.to_frame(index=False)
    p = wide[("nps_mean", "promoter")].to_numpy(dtype=float)
    d = wide[("nps_mean", "detractor")].to_numpy(dtype=float)
    n = wide[("nps_n", "promoter")].to_numpy(dtype=float)
    out["n"] = n
    out["nps"] = 100 * (p - d)
    out["ci95_low"], out["ci95_high"] = adjusted_wald(n, p, d)
    out["promoters"], out["passives"], out["detractors"] = 100 * p, 100 * (1 - p - d), 100 * d
    return out[out["n"] > 0].reset_index(drop=True)


def nps_series(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """The NPS of each wave as a mean the trend and wave-over-wave tests read: per wave and
    cell (``column`` "" for all respondents, else the segment column, with ``value``; cells
    of fewer than ``min_cell`` answers are left out), ``n``, ``nps_mean`` (points) and
    ``nps_sd``.

    The NPS is the mean of a respondent's score s = 100 for a promoter, −100 for a
    detractor and 0 for a passive, so with shares p and d (0–1) of n answers its sample
    standard deviation is

        sd = 100 · √((p + d − (p − d)²) · n / (n − 1)),

    and Welch's t on these moments is Welch's t on the respondents' scores (the tests check
    it against scipy's ``ttest_ind`` on the scores themselves).
    """
    out = table.rename(columns={"segment": "column"})
    out = out[(out["column"] == "") | (out["n"] >= min_cell)]
    n = out["n"].to_numpy(dtype=float)
    p, d = (out[c].to_numpy(dtype=float) / 100 for c in ("promoters", "detractors"))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = 100 * np.sqrt(np.maximum(p + d - (p - d) ** 2, 0) * n / (n - 1))
    return pd.DataFrame({"wave": out["wave"].to_numpy(), "column": out["column"].to_numpy(),
                         "value": out["value"].to_numpy(), "n": n,
                         "nps_mean": out["nps"].to_numpy(dtype=float), "nps_sd": sd})
