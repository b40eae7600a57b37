"""Trends across waves: slope, tests, and a direction a manager can act on.

A series is one measure's mean per wave (a dimension's gap, an item's perception, the
overall score, a segment value's gap …) placed on the real time axis of the waves
(:func:`servqual.waves.time_axis`: a skipped quarter keeps its length).

Direction (service-evaluation practice: 呈上升 / 呈平衡状态 / 呈下降趋势):

* ``insufficient_waves`` — fewer waves than ``trend_min_waves``; the per-wave figures are
  still reported;
* ``rising`` / ``falling`` — the slope is significant **and** the change it implies across
  the window, |slope| × (last − first position), is at least ``trend_min_change`` scale
  points: with thousands of respondents per wave tiny drifts are significant, and a manager
  must not be alarmed by them;
* ``flat`` — otherwise.

The slope: when the wave means come with standard errors (the survey tables: sd / √n), a
weighted least-squares line whose slope variance is the larger of the sampling-based and
the residual-based one (:func:`.probability.weighted_least_squares`); otherwise (complaint
rates, a bare series) ordinary least squares with n − 2 df.

Significance: a single series (:func:`classify`) is tested at ``significance``. The series a
report shows are decided together (:func:`decide_trends`): every dimension heads a family of
its gap and perception trends, its items' and its segment cells' trends (the overall scores
form one more family), and the two-level Benjamini–Bogomolov procedure at ``alarm_fdr``
(:mod:`.multiplicity`) decides which are rising or falling; ``p_value`` stays the raw one,
``p_adjusted`` is the decision's.

The slope is per unit of the time axis, the usual spacing of the waves: ``slope_unit`` names
the calendar unit (``quarter``, ``month``, ``day``, or ``wave`` for labels that are not
dates) and ``slope_unit_length`` how many of them the spacing is (1 for quarterly waves: a
slope per quarter). Kendall's τ compares wave means rounded to 10 decimals, so that equal
means are ties (:func:`tie_rounded`).

Alongside: the slope's 95 % CI, Mann–Kendall (Kendall's τ of the series against time) and
the Theil–Sen slope, robust checks a reader can compare (:mod:`.probability`; the tests
check them against statsmodels and scipy).

Wave-over-wave: the latest wave against the one before, Welch's t-test on the respondents'
scores (from the sufficient statistics) with Cohen's d; an alert is raised when the latest
wave drops significantly and by at least ``alert_min_change``, even if the trend is flat —
significantly meaning, in a report, by the same two-level procedure at ``alarm_fdr`` over
the dimensions, items and segment cells (:func:`decide_alerts`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..waves import time_axis
from .decisions import NPS_FAMILY, NPS_LEVELS, decide_alerts, decide_trends
from .nps import nps_series
from .probability import (kendall_tau, least_squares, t_ppf, theil_sen_slope,
                          weighted_least_squares, welch_se)

from ..models import FALLING, FLAT, INSUFFICIENT, RISING


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
    slope_se: float = float("nan")
    variance_basis: str = ""  # ols, sampling or residual (see weighted_least_squares)
    p_adjusted: float = float("nan")  # set when decided in a family (decide_trends)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def classify(positions, values, config: AnalysisConfig, se=None) -> Trend:
    """Fit and classify one series (positions on the time axis, one mean per wave).

    ``se``, the standard error of each wave mean, selects the weighted fit; without it (or
    when any is missing or zero) the fit is ordinary least squares. The direction is that
    of this series tested alone at ``significance``.
    """
    x = np.asarray(positions, dtype=float)
    y = np.asarray(values, dtype=float)
    s = np.full(len(x), np.nan) if se is None else np.asarray(se, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, s = x[ok], y[ok], s[ok]
    n = len(x)
    nan = float("nan")
    order = np.argsort(x, kind="stable")
    x, y, s = x[order], y[order], s[order]
    observed = (float(y[0]), float(y[-1])) if n else (nan, nan)
    if n < config.trend_min_waves or n < 3:
        return Trend(INSUFFICIENT, n, nan, nan, nan, nan, nan, nan, nan, *observed, nan, nan,
                     nan)
    span = x.max() - x.min()
    weighted = bool(np.all(np.isfinite(s) & (s > 0)))
    fit = weighted_least_squares(x, y, s) if weighted else least_squares(x, y)
    basis = fit.basis if weighted else "ols"
    slope, p, low, high = fit.slope, fit.p_value, fit.low, fit.high
    if not np.isfinite(p):  # a perfect fit: no residual variance, the slope is certain
        p = 0.0 if slope != 0 else 1.0
        low = high = slope
    tau, tau_p = kendall_tau(x, tie_rounded(y))
    change = slope * span
    meaningful = abs(change) >= config.trend_min_change
    direction = FLAT
    if p < config.significance and meaningful:
        direction = RISING if slope > 0 else FALLING
    start = fit.intercept + slope * x.min()
    return Trend(direction, n, slope, low, high, p, float(change), start, start + change,
                 *observed, tau, tau_p, theil_sen_slope(x, y), float(fit.se), basis)


def tie_rounded(means: np.ndarray) -> np.ndarray:
    """Wave means rounded to 10 decimals, so that equal means are ties for Kendall's τ: a
    mean of −137/183 computed from two waves' sums differs in its last bits, and τ would
    count the pair as a decrease or an increase."""
    return np.round(np.asarray(means, dtype=float), 10)


def wave_se(table: pd.DataFrame, value: str) -> pd.Series | None:
    """The standard error of each row's ``value`` (a wave mean), when the table has it.

    ``<measure>_se`` if present, else ``<measure>_sd / √n`` (``<measure>_n`` or ``n``), else
    from a 95 % CI ``<measure>_ci95_low/high`` and ``<measure>_n`` (half-width / t(n − 1));
    None when the table carries none of these (the fit is then OLS).
    """
    measure = value.removesuffix("_mean")
    if f"{measure}_se" in table:
        return table[f"{measure}_se"].astype(float)
    n = table[f"{measure}_n"] if f"{measure}_n" in table else table.get("n")
    if n is None:
        return None
    n = n.astype(float)
    if f"{measure}_sd" in table:
        with np.errstate(divide="ignore", invalid="ignore"):
            return table[f"{measure}_sd"].astype(float) / np.sqrt(n)
    if f"{measure}_ci95_low" in table and f"{measure}_ci95_high" in table:
        half = (table[f"{measure}_ci95_high"] - table[f"{measure}_ci95_low"]).astype(float) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return half / t_ppf(0.975, n - 1)
    return None


def series_trends(table: pd.DataFrame, keys: list[str], value: str, waves: list[str],
                  config: AnalysisConfig) -> pd.DataFrame:
    """Classify every series of ``table`` (one row per key × wave, column ``value``).

    The time axis is built from all the run's waves, so a series missing a wave keeps the
    real spacing of the waves it has.
    """
    axis = time_axis(waves)
    position = dict(zip(axis.labels, axis.positions))
    se = wave_se(table, value)
    if se is not None:
        table = table.assign(_se=se)
    rows = []
    for key, part in table.groupby(keys, sort=False, dropna=False):
        part = part[part[value].notna()]
        trend = classify(part["wave"].map(position), part[value], config,
                         part["_se"] if se is not None else None)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "measure": value, **trend.as_dict(),
                     "slope_unit": axis.granularity, "slope_unit_length": axis.step,
                     "first_wave": part["wave"].iloc[0] if len(part) else None,
                     "last_wave": part["wave"].iloc[-1] if len(part) else None})
    return pd.DataFrame(rows)


def wave_over_wave(table: pd.DataFrame, keys: list[str], waves: list[str],
                   config: AnalysisConfig, measure: str = "gap") -> pd.DataFrame:
    """Latest wave against the one before, per series: Welch's t, Cohen's d, alert.

    ``table`` has per key and wave ``n``, ``<measure>_mean`` and ``<measure>_sd``, and with
    sampling weights ``<measure>_se``, the design-based standard error of the weighted mean
    the test then uses (:func:`servqual.stats.probability.welch_se`).
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
    se = f"{measure}_se"
    if f"{se}_prev" in both:  # design-based with sampling weights; sd / √n without
        se1, se2 = both[f"{se}_prev"].to_numpy(float), both[f"{se}_curr"].to_numpy(float)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            se1, se2 = np.sqrt(v1 / n1), np.sqrt(v2 / n2)
    t, df, p = welch_se(n1, m1, se1, n2, m2, se2)
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


@dataclass
class TrendTables:
    """Trends and wave-over-wave changes of every series of a run."""

    dimensions: pd.DataFrame  # per dimension: gap trend, and perception_* columns
    items: pd.DataFrame  # per item: gap trend
    overall: pd.DataFrame  # per overall score (servqual_unweighted, ...)
    segments: pd.DataFrame  # per segment column, value and dimension: gap trend
    wave_over_wave: pd.DataFrame  # level, keys, previous/current means, test, alert
    nps: pd.DataFrame = field(default_factory=pd.DataFrame)  # NPS trends: column, value
    nps_change: pd.DataFrame = field(default_factory=pd.DataFrame)  # NPS wave over wave
    heads: pd.DataFrame = field(default_factory=pd.DataFrame)  # the trend decision's heads


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


def build_trends(tables, waves: list[str], config: AnalysisConfig, measure: str = "gap"
                 ) -> TrendTables:
    """Classify the series of the analysis' score (``measure``: the gap, or the perception
    of a SERVPERF analysis) of dimensions, items, overall and segments, and the dimensions'
    perception series (``perception_`` columns).

    ``tables`` is a :class:`servqual.stats.tables.Tables`; suppressed segment cells
    (n < ``min_cell``) take no part.
    """
    judged = f"{measure}_mean"
    dims = _whole(tables.dimensions)
    # A dimension whose items changed is judged over the items asked in every wave, in its
    # trend, its segments' trends and the change since the last wave alike: an item dropped
    # from the latest wave must not read as a rise (nor an item added as a fall).
    fitted, broken = dimension_series(tables)
    series = _whole(fitted)
    gap = series_trends(series, ["dimension"], judged, waves, config)
    perception = series_trends(series, ["dimension"], "perception_mean", waves, config)
    perception = perception.drop(columns=["measure"]).add_prefix("perception_").rename(
        columns={"perception_dimension": "dimension"})
    dimension_trends = gap.drop(columns=["measure"]).merge(perception, on="dimension")
    dimension_trends["common_items_only"] = dimension_trends["dimension"].isin(broken)
    order = {d: n for n, d in enumerate(dims["dimension"].unique())}
    dimension_trends = dimension_trends.sort_values(
        "dimension", key=lambda c: c.map(order)).reset_index(drop=True)

    items = series_trends(_whole(tables.items), ["item", "dimension"], judged, waves,
                          config).drop(columns=["measure"])

    overall_rows = []
    whole = _whole(tables.overall)
    for score in ("servqual_unweighted", "servqual_weighted", "servperf", "servperf_weighted"):
        if score in whole and whole[score].notna().any():
            trend = series_trends(whole.assign(score=score), ["score"], score, waves, config)
            overall_rows.append(trend.drop(columns=["measure"]))
    overall = pd.concat(overall_rows, ignore_index=True) if overall_rows else pd.DataFrame()

    cells = fitted[(fitted["segment"] != "") & (fitted["n"] >= config.min_cell)]
    # A segment value's trend is published only while its current cell is: over the waves
    # where it is not suppressed, and not at all when it is suppressed (or absent) now, so
    # that the trend never names a value the current wave withholds.
    keys = ["segment", "value", "dimension"]
    now = cells.loc[cells["wave"] == waves[-1], keys].drop_duplicates()
    current_cells = cells.merge(now, on=keys, how="inner")
    segments = series_trends(current_cells.rename(columns={"segment": "column"}),
                             ["column", "value", "dimension"], judged, waves,
                             config).drop(columns=["measure"], errors="ignore")

    wow = [wave_over_wave(series, ["dimension"], waves, config, measure).assign(level="dimension"),
           wave_over_wave(_whole(tables.items), ["item", "dimension"], waves,
                          config, measure).assign(level="item"),
           wave_over_wave(cells.rename(columns={"segment": "column"}),
                          ["column", "value", "dimension"], waves, config, measure).assign(
               level="segment")]
    wow = pd.concat([w for w in wow if len(w)], ignore_index=True) if any(len(w) for w in wow) \
        else wow[0]
    wow["common_items_only"] = wow["level"].isin(["dimension", "segment"]).to_numpy() & \
        wow["dimension"].isin(broken).to_numpy() if len(wow) else []
    # The Net Promoter Score (.nps), in points: its own family in the same decisions.
    nps = nps_series(tables.nps, config.min_cell) if len(tables.nps) else None
    nps_trends = nps_change = pd.DataFrame()
    if nps is not None:
        nps_config = dataclasses.replace(config, trend_min_change=config.nps_min_change)
        nps_trends = series_trends(nps, ["column", "value"], "nps_mean", waves,
                                   nps_config).drop(columns=["measure"])
        nps_change = wave_over_wave(nps, ["column", "value"], waves, nps_config, "nps")
        whole = (nps_change["column"] == "").to_numpy()
        nps_change = nps_change.assign(level=np.where(whole, "nps", "nps_segment"),
                                       dimension=NPS_FAMILY, common_items_only=False)
        wow = pd.concat([w for w in (wow, nps_change) if len(w)], ignore_index=True) \
            if len(nps_change) else wow
    heads = decide_trends(dimension_trends, items, segments, overall, config, nps_trends)
    wow = decide_alerts(wow, config)
    is_nps = wow["level"].isin(NPS_LEVELS).to_numpy() if len(wow) else \
        np.zeros(0, dtype=bool)
    if is_nps.any():
        nps_change = wow[is_nps].drop(columns=["dimension"]).reset_index(drop=True)
        wow = wow[~is_nps].reset_index(drop=True)
    return TrendTables(dimensions=dimension_trends, items=items, overall=overall,
                       segments=segments, wave_over_wave=wow, nps=nps_trends,
                       nps_change=nps_change, heads=heads)
