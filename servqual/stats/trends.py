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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import AnalysisConfig
from ..waves import time_axis
from .multiplicity import two_level_bh
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


OVERALL_FAMILY = "(overall) "  # the overall scores: each a head of its own (no members)


def decided_directions(p_adjusted, slope, change, waves_ok, min_change: float, q: float):
    """Rising or falling where the decision (p_adjusted ≤ q) and the practical size agree."""
    decided = (p_adjusted <= q) & (np.abs(change) >= min_change) & waves_ok
    return np.where(decided, np.where(slope > 0, RISING, FALLING), FLAT)


def decide_trends(dimensions: pd.DataFrame, items: pd.DataFrame, segments: pd.DataFrame,
                  overall: pd.DataFrame, config: AnalysisConfig) -> None:
    """Decide every trend direction a report shows together, in place.

    :func:`.multiplicity.two_level_bh` at ``alarm_fdr``: the heads are the dimensions' gap
    trends and the overall scores' trends; each dimension's perception trend, its items'
    and its segment cells' gap trends are its family's members. Adds ``p_adjusted``,
    ``family_p_adjusted`` and ``family_selected`` (``perception_``-prefixed for the
    perception trend); ``direction`` becomes rising or falling only when
    ``p_adjusted ≤ alarm_fdr`` and the change reaches ``trend_min_change``. Two-sided: a
    rise and a fall are both news.
    """
    def family_of(table: pd.DataFrame, column: str) -> pd.Series | None:
        return table[column].astype(str) if column in table else None

    parts = [(dimensions, "", family_of(dimensions, "dimension"), True),
             (overall, "", pd.Series([OVERALL_FAMILY + s for s in overall.get(
                 "score", pd.Series(dtype=str)).astype(str)], index=overall.index,
                 dtype=object), True),
             (dimensions, "perception_", family_of(dimensions, "dimension"), False),
             (items, "", family_of(items, "dimension"), False),
             (segments, "", family_of(segments, "dimension"), False)]
    parts = [(t, prefix, fam, head) for t, prefix, fam, head in parts
             if len(t) and fam is not None and f"{prefix}p_value" in t]
    if not parts:
        return
    p = np.concatenate([t[f"{prefix}p_value"].to_numpy(float) for t, prefix, _, _ in parts])
    family = np.concatenate([fam.to_numpy(object) for _, _, fam, _ in parts])
    heads = np.concatenate([np.full(len(t), head) for t, _, _, head in parts])
    decision = two_level_bh(p, family, heads, config.alarm_fdr)
    start = 0
    for table, prefix, _, _ in parts:
        stop = start + len(table)
        adjusted = decision.p_adjusted[start:stop]
        table[f"{prefix}p_adjusted"] = adjusted
        table[f"{prefix}family_p_adjusted"] = decision.family_p_adjusted[start:stop]
        table[f"{prefix}family_selected"] = decision.family_selected[start:stop]
        direction = table[f"{prefix}direction"]
        table[f"{prefix}direction"] = np.where(
            direction == INSUFFICIENT, INSUFFICIENT,
            decided_directions(adjusted, table[f"{prefix}slope_per_wave"].to_numpy(float),
                               table[f"{prefix}change"].to_numpy(float), True,
                               config.trend_min_change, config.alarm_fdr))
        start = stop


def decide_alerts(wow: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Decide the wave-over-wave alerts, and their mirror the rises, of a report together.

    An alert is news of a drop, so the family is of one-sided hypotheses "no drop": the
    p-value of a drop is half the two-sided ``p_value`` (1 − half for a rise).
    :func:`.multiplicity.two_level_bh` at ``alarm_fdr``, with the dimensions' own tests as
    heads and their items' and segment cells' as members, gives ``p_adjusted`` (and
    ``family_p_adjusted``, ``family_selected``); an alert needs ``p_adjusted ≤ alarm_fdr``
    and a drop of at least ``alert_min_change``. A **rise** is the same rule on the
    hypotheses "no rise" (``rise_p_adjusted``; a rise of at least ``alert_min_change``), so
    the report's ↓ and ↑ beside a change are one decision each way. Returns a copy.
    """
    out = wow.copy()
    columns = ("p_adjusted", "family_p_adjusted", "family_selected", "rise_p_adjusted")
    if not len(out):
        for column in columns:
            out[column] = pd.Series(dtype=bool if column == "family_selected" else float)
        out["rise"] = pd.Series(dtype=bool)
        return out
    half = out["p_value"].to_numpy(float) / 2
    change = out["change"].to_numpy(float)
    family = out["dimension"].astype(str).to_numpy(object)
    heads = (out["level"] == "dimension").to_numpy()
    drop = two_level_bh(np.where(change < 0, half, 1 - half), family, heads, config.alarm_fdr)
    rise = two_level_bh(np.where(change > 0, half, 1 - half), family, heads, config.alarm_fdr)
    out["p_adjusted"] = drop.p_adjusted
    out["family_p_adjusted"] = drop.family_p_adjusted
    out["family_selected"] = drop.family_selected
    out["alert"] = (drop.p_adjusted <= config.alarm_fdr) & (change <= -config.alert_min_change)
    out["rise_p_adjusted"] = rise.p_adjusted
    out["rise"] = (rise.p_adjusted <= config.alarm_fdr) & (change >= config.alert_min_change)
    return out


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
    series, broken = dimension_series(tables)
    series = _whole(series)
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

    cells = tables.dimensions[(tables.dimensions["segment"] != "")
                              & (tables.dimensions["n"] >= config.min_cell)]
    # A segment value's trend is published only while its current cell is: over the waves
    # where it is not suppressed, and not at all when it is suppressed (or absent) now, so
    # that the trend never names a value the current wave withholds.
    keys = ["segment", "value", "dimension"]
    now = cells.loc[cells["wave"] == waves[-1], keys].drop_duplicates()
    current_cells = cells.merge(now, on=keys, how="inner")
    segments = series_trends(current_cells.rename(columns={"segment": "column"}),
                             ["column", "value", "dimension"], judged, waves,
                             config).drop(columns=["measure"], errors="ignore")

    wow = [wave_over_wave(dims, ["dimension"], waves, config, measure).assign(level="dimension"),
           wave_over_wave(_whole(tables.items), ["item", "dimension"], waves,
                          config, measure).assign(level="item"),
           wave_over_wave(cells.rename(columns={"segment": "column"}),
                          ["column", "value", "dimension"], waves, config, measure).assign(
               level="segment")]
    wow = pd.concat([w for w in wow if len(w)], ignore_index=True) if any(len(w) for w in wow) \
        else wow[0]
    decide_trends(dimension_trends, items, segments, overall, config)
    wow = decide_alerts(wow, config)
    return TrendTables(dimensions=dimension_trends, items=items, overall=overall,
                       segments=segments, wave_over_wave=wow)
