"""Trends across waves: slope, tests, and a direction a manager can act on.

A series is one measure's mean per wave (a dimension's gap, an item's perception, the
overall score, a segment value's gap …) placed on the real time axis of the waves
(:func:`servqual.waves.time_axis`: a skipped quarter keeps its length).

Direction (service-evaluation practice: 呈上升 / 呈平衡状态 / 呈下降趋势):

* ``insufficient_waves`` — fewer waves than ``trend_min_waves``; the per-wave figures are
  still reported;
* ``rising`` / ``falling`` — the OLS slope is significant (p < ``significance``) **and** the
  change it implies across the window, |slope| × (last − first position), is at least
  ``trend_min_change`` scale points: with thousands of respondents per wave tiny drifts are
  significant, and a manager must not be alarmed by them;
* ``flat`` — otherwise.

Alongside: the slope's 95 % CI (OLS), Mann–Kendall (Kendall's τ of the series against
time) and the Theil–Sen slope, robust checks a reader can compare (:mod:`.probability`;
the tests check them against statsmodels and scipy).

Wave-over-wave: the latest wave against the one before, Welch's t-test on the respondents'
scores (from the sufficient statistics) with Cohen's d; an alert is raised when the latest
wave drops significantly and by at least ``alert_min_change``, even if the trend is flat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..waves import time_axis
from .probability import kendall_tau, least_squares, t_sf, theil_sen_slope

RISING, FLAT, FALLING, INSUFFICIENT = "rising", "flat", "falling", "insufficient_waves"


@dataclass(frozen=True)
class Trend:
    direction: str
    waves: int
    slope_per_wave: float
    slope_ci95_low: float
    slope_ci95_high: float
    p_value: float
    change: float  # slope × the window's length: the change the trend implies
    first: float  # fitted value at the first wave
    last: float  # fitted value at the last wave
    observed_first: float  # the series' value at its first wave
    observed_last: float  # and at its last wave
    kendall_tau: float
    kendall_p: float
    theil_sen_slope: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def classify(positions, values, config: AnalysisConfig) -> Trend:
    """Fit and classify one series (positions on the time axis, one mean per wave)."""
    x = np.asarray(positions, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    nan = float("nan")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    observed = (float(y[0]), float(y[-1])) if n else (nan, nan)
    if n < config.trend_min_waves or n < 3:
        return Trend(INSUFFICIENT, n, nan, nan, nan, nan, nan, nan, nan, *observed, nan, nan,
                     nan)
    span = x.max() - x.min()
    fit = least_squares(x, y)
    slope, p, low, high = fit.slope, fit.p_value, fit.low, fit.high
    if not np.isfinite(p):  # a perfect fit: no residual variance, the slope is certain
        p = 0.0 if slope != 0 else 1.0
        low = high = slope
    tau, tau_p = kendall_tau(x, y)
    change = slope * span
    meaningful = abs(change) >= config.trend_min_change
    direction = FLAT
    if p < config.significance and meaningful:
        direction = RISING if slope > 0 else FALLING
    start = fit.intercept + slope * x.min()
    return Trend(direction, n, slope, low, high, p, float(change), start, start + change,
                 *observed, tau, tau_p, theil_sen_slope(x, y))


def series_trends(table: pd.DataFrame, keys: list[str], value: str, waves: list[str],
                  config: AnalysisConfig) -> pd.DataFrame:
    """Classify every series of ``table`` (one row per key × wave, column ``value``).

    The time axis is built from all the run's waves, so a series missing a wave keeps the
    real spacing of the waves it has.
    """
    axis = time_axis(waves)
    position = dict(zip(axis.labels, axis.positions))
    rows = []
    for key, part in table.groupby(keys, sort=False, dropna=False):
        part = part[part[value].notna()]
        trend = classify(part["wave"].map(position), part[value], config)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "measure": value, **trend.as_dict(),
                     "first_wave": part["wave"].iloc[0] if len(part) else None,
                     "last_wave": part["wave"].iloc[-1] if len(part) else None})
    return pd.DataFrame(rows)


def wave_over_wave(table: pd.DataFrame, keys: list[str], waves: list[str],
                   config: AnalysisConfig, measure: str = "gap") -> pd.DataFrame:
    """Latest wave against the one before, per series: Welch's t, Cohen's d, alert.

    ``table`` has per key and wave ``n``, ``<measure>_mean`` and ``<measure>_sd``.
    """
    if len(waves) < 2:
        return pd.DataFrame(columns=keys + ["previous_wave", "current_wave", "change",
                                            "welch_t", "welch_df", "p_value", "cohens_d",
                                            "alert"])
    previous, current = waves[-2], waves[-1]
    mean, sd = f"{measure}_mean", f"{measure}_sd"
    a = table[table["wave"] == previous].set_index(keys)
    b = table[table["wave"] == current].set_index(keys)
    both = a.join(b, how="inner", suffixes=("_prev", "_curr"))
    n1, n2 = both["n_prev"].to_numpy(float), both["n_curr"].to_numpy(float)
    m1, m2 = both[f"{mean}_prev"].to_numpy(float), both[f"{mean}_curr"].to_numpy(float)
    v1, v2 = both[f"{sd}_prev"].to_numpy(float) ** 2, both[f"{sd}_curr"].to_numpy(float) ** 2
    t, df, p = welch_t(n1, m1, v1, n2, m2, v2)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
        d = (m2 - m1) / pooled
    change = m2 - m1
    alert = (p < config.significance) & (change <= -config.alert_min_change)
    out = both.reset_index()[keys].copy()
    out["previous_wave"], out["current_wave"] = previous, current
    out["previous_mean"], out["current_mean"] = m1, m2
    out["change"], out["welch_t"], out["welch_df"], out["p_value"] = change, t, df, p
    out["cohens_d"], out["alert"] = d, alert
    return out


def welch_t(n1, m1, v1, n2, m2, v2):
    """Welch's two-sample t-test from sizes, means and variances (two-sided).

    Notes
    -----
    t = (m2 − m1) / √(v1/n1 + v2/n2); Welch–Satterthwaite df
    = (v1/n1 + v2/n2)² / [(v1/n1)²/(n1 − 1) + (v2/n2)²/(n2 − 1)].
    """
    n1, m1, v1, n2, m2, v2 = (np.asarray(a, dtype=float) for a in (n1, m1, v1, n2, m2, v2))
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = v1 / n1, v2 / n2
        t = (m2 - m1) / np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        p = 2 * t_sf(np.abs(t), df)
    return t, df, p


@dataclass
class TrendTables:
    """Trends and wave-over-wave changes of every series of a run."""

    dimensions: pd.DataFrame  # per dimension: gap trend, and perception_* columns
    items: pd.DataFrame  # per item: gap trend
    overall: pd.DataFrame  # per overall score (servqual_unweighted, ...)
    segments: pd.DataFrame  # per segment column, value and dimension: gap trend
    wave_over_wave: pd.DataFrame  # level, keys, previous/current means, test, alert


def _whole(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["segment"] == ""]


def dimension_series(tables) -> tuple[pd.DataFrame, set[str]]:
    """The dimension gap tables (every cell) a trend is fitted on, and the dimensions whose
    items changed between waves: when the questionnaire changed, a changed dimension's trend
    uses only the items asked in every wave, so that adding or dropping an item cannot look
    like a trend (the report and the history store's trends alike)."""
    dims = tables.dimensions
    broken = set(tables.breaks["dimension"]) if len(tables.breaks) else set()
    if not broken or not len(tables.dimensions_common):
        return dims, set()
    common = tables.dimensions_common
    return pd.concat([dims[~dims["dimension"].isin(broken)],
                      common[common["dimension"].isin(broken)]], ignore_index=True), broken


def build_trends(tables, waves: list[str], config: AnalysisConfig) -> TrendTables:
    """Classify the gap (and perception) series of dimensions, items, overall and segments.

    ``tables`` is a :class:`servqual.stats.tables.Tables`; suppressed segment cells
    (n < ``min_cell``) take no part.
    """
    dims = _whole(tables.dimensions)
    series, broken = dimension_series(tables)
    series = _whole(series)
    gap = series_trends(series, ["dimension"], "gap_mean", waves, config)
    perception = series_trends(series, ["dimension"], "perception_mean", waves, config)
    perception = perception.drop(columns=["measure"]).add_prefix("perception_").rename(
        columns={"perception_dimension": "dimension"})
    dimension_trends = gap.drop(columns=["measure"]).merge(perception, on="dimension")
    dimension_trends["common_items_only"] = dimension_trends["dimension"].isin(broken)
    order = {d: n for n, d in enumerate(dims["dimension"].unique())}
    dimension_trends = dimension_trends.sort_values(
        "dimension", key=lambda c: c.map(order)).reset_index(drop=True)

    items = series_trends(_whole(tables.items), ["item", "dimension"], "gap_mean", waves,
                          config).drop(columns=["measure"])

    overall_rows = []
    whole = _whole(tables.overall)
    for score in ("servqual_unweighted", "servqual_weighted", "servperf", "servperf_weighted"):
        if score in whole and whole[score].notna().any():
            trend = series_trends(whole.assign(score=score), ["score"], score, waves, config)
            overall_rows.append(trend.drop(columns=["measure"]))
    overall = pd.concat(overall_rows, ignore_index=True) if overall_rows else pd.DataFrame()

    cells = tables.dimensions[(tables.dimensions["segment"] != "")
                              & (tables.dimensions["n"] >= config.min_cell)]
    # A segment value's trend is published only while its current cell is: over the waves
    # where it is not suppressed, and not at all when it is suppressed (or absent) now, so
    # that the trend never names a value the current wave withholds.
    keys = ["segment", "value", "dimension"]
    now = cells.loc[cells["wave"] == waves[-1], keys].drop_duplicates()
    current_cells = cells.merge(now, on=keys, how="inner")
    segments = series_trends(current_cells.rename(columns={"segment": "column"}),
                             ["column", "value", "dimension"], "gap_mean", waves,
                             config).drop(columns=["measure"], errors="ignore")

    wow = [wave_over_wave(dims, ["dimension"], waves, config).assign(level="dimension"),
           wave_over_wave(_whole(tables.items), ["item", "dimension"], waves,
                          config).assign(level="item"),
           wave_over_wave(cells.rename(columns={"segment": "column"}),
                          ["column", "value", "dimension"], waves, config).assign(
               level="segment")]
    wow = pd.concat([w for w in wow if len(w)], ignore_index=True) if any(len(w) for w in wow) \
        else wow[0]
    return TrendTables(dimensions=dimension_trends, items=items, overall=overall,
                       segments=segments, wave_over_wave=wow)
