"""Findings: facts with evidence — targets, complaints, peers, importance, weak points.

Service evaluation practice (domain.md §2) reads a wave in this order: targets not met,
current status, satisfaction trend, weak points (from item analysis, complaint analysis and
benchmarking), then improvement direction. This module establishes the facts; the words of
the recommendations come from :mod:`servqual.strategy`.

A dimension or item is a **weak point** when it falls short (gap < 0) and at least one
piece of evidence says so:

* ``negative_gap`` — the gap is significantly below zero after adjustment for multiple
  comparisons;
* ``falling_trend`` — the gap's trend across waves is ``falling``;
* ``target_missed`` — a target for it (whole sample or a segment) is missed this wave;
* ``complaints`` — complaints mapped to its dimension rose significantly, trend up, or are the
  highest of all dimensions this wave;
* ``below_peers`` — a unit (``benchmark_segment``) is significantly and meaningfully below
  the other units, or the whole is below an external benchmark.

**Priority** (documented in the README): ``score = shortfall × importance × trend × evidence``
with shortfall = −gap, importance = the dimension's importance weight × the number of
dimensions (1 = an equal share; 1 when unknown), trend = 1.5 when falling else 1, and
evidence = 1 + 0.25 per piece of evidence beyond the first. Dimensions are ranked first (a
broad problem), then items, each by score.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .celltext import quoted
from .config import AnalysisConfig, unknown_key_message
from .errors import DataError, InstrumentError
from .files import read_bytes, read_toml
from .ingest.layout import sniff_delimiter
from .instrument import Instrument
from .stats.gaps import adjust_pvalues, paired_t
from .stats.moments import ALL, describe
from .stats.probability import binomial_at_least
from .stats.trends import FALLING, FLAT, RISING, TrendTables, classify, welch_t
from .waves import parse_wave, time_axis

EVIDENCE = ("negative_gap", "falling_trend", "target_missed", "complaints", "below_peers")


# --------------------------------------------------------------------------------------------
# Targets (服务目标)


@dataclass(frozen=True)
class Target:
    level: str  # "dimension", "item" or "overall"
    id: str
    measure: str  # "gap" or "perception"
    value: float
    column: str = ""  # segment column, "" for the whole sample
    segment_value: str = ""
    note: str = ""


def load_targets(path: str | Path, instrument: Instrument) -> list[Target]:
    """Targets from a TOML file of ``[[targets]]`` entries (see surveys/targets.toml)."""
    path = Path(path)
    doc = read_toml(path, "targets")
    for key in doc:
        if key != "targets":
            raise InstrumentError(unknown_key_message(key, ["targets"]), file=path, key=key)
    entries = doc.get("targets", [])
    if not isinstance(entries, list):
        raise InstrumentError("must be a list of [[targets]] tables", file=path, key="targets")
    allowed = ("dimension", "item", "overall", "gap", "perception", "segment", "note")
    out = []
    for n, spec in enumerate(entries):
        where = f"targets[{n}]"

        def fail(message: str, key: str = "") -> None:
            raise InstrumentError(message, file=path, key=f"{where}.{key}" if key else where)

        if not isinstance(spec, dict):
            fail("must be a table")
        for key in spec:
            if key not in allowed:
                fail(unknown_key_message(key, allowed), key)
        subjects = [k for k in ("dimension", "item", "overall") if k in spec]
        if len(subjects) != 1:
            fail("name exactly one of dimension, item or overall = true")
        level = subjects[0]
        ident = spec[level]
        if level == "dimension" and ident not in instrument.dimension_keys:
            fail(unknown_key_message(str(ident), instrument.dimension_keys), level)
        if level == "item" and ident not in instrument.item_ids:
            fail(unknown_key_message(str(ident), instrument.item_ids), level)
        if level == "overall":
            if spec[level] is not True:
                fail("must be true", level)
            ident = "overall"
        measures = [k for k in ("gap", "perception") if k in spec]
        if len(measures) != 1:
            fail("give exactly one target value: gap = … or perception = …")
        value = spec[measures[0]]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("must be a number", measures[0])
        column = segment_value = ""
        if "segment" in spec:
            segment = spec["segment"]
            if not isinstance(segment, dict) or len(segment) != 1:
                fail('must name one segment value, like { region = "East" }', "segment")
            (column, segment_value), = segment.items()
            if column not in instrument.segments:
                fail(unknown_key_message(column, instrument.segments), f"segment.{column}")
            segment_value = str(segment_value)
        note = spec.get("note", "")
        if not isinstance(note, str):
            fail("must be text", "note")
        out.append(Target(level, str(ident), measures[0], float(value), column, segment_value,
                          note))
    return out


def _series(tables, target: Target) -> pd.DataFrame:
    """Per wave, the actual value of a target's measure (and the perception mean)."""
    segment, value = (target.column, target.segment_value) if target.column else (ALL, ALL)
    if target.level == "overall":
        t = tables.overall
        rows = t[(t["segment"] == segment) & (t["value"] == value)]
        actual = rows["servqual_unweighted"] if target.measure == "gap" else rows["servperf"]
        perception = rows["servperf"] if "servperf" in rows else actual
        return pd.DataFrame({"wave": rows["wave"], "actual": actual, "perception": perception})
    t = tables.dimensions if target.level == "dimension" else tables.items
    rows = t[(t["segment"] == segment) & (t["value"] == value) & (t[target.level] == target.id)]
    return pd.DataFrame({"wave": rows["wave"], "actual": rows[f"{target.measure}_mean"],
                         "perception": rows["perception_mean"], "n": rows["n"]})


def evaluate_targets(targets: list[Target], tables, waves: list[str], config: AnalysisConfig
                     ) -> pd.DataFrame:
    """Met or missed in the current wave, by how much, and whether to revise the target."""
    axis = time_axis(waves)
    position = dict(zip(axis.labels, axis.positions))
    rows = []
    for target in targets:
        series = _series(tables, target).dropna(subset=["actual"])
        if "n" in series:  # suppressed cells are not evaluated (privacy)
            series = series[series["n"] >= config.min_cell]
        current = series[series["wave"] == waves[-1]]
        actual = float(current["actual"].iloc[0]) if len(current) else float("nan")
        distance = actual - target.value
        misses = (series["actual"] - target.value) < -config.target_revise_margin
        recent = misses.to_numpy()[::-1]
        streak = int(np.argmin(recent)) if not recent.all() else len(recent)
        stable = classify(series["wave"].map(position), series["perception"],
                          config).direction == FLAT
        rows.append({
            "level": target.level, "id": target.id, "column": target.column,
            "value": target.segment_value, "measure": target.measure, "target": target.value,
            "actual": actual, "distance": distance,
            "met": bool(distance >= 0) if math.isfinite(distance) else None,
            "missed_by_margin_waves": streak, "perception_stable": stable,
            "revise": bool(streak >= config.target_revise_waves and stable),
            "note": target.note})
    return pd.DataFrame(rows, columns=["level", "id", "column", "value", "measure", "target",
                                       "actual", "distance", "met", "missed_by_margin_waves",
                                       "perception_stable", "revise", "note"])


# --------------------------------------------------------------------------------------------
# Complaints (客户投诉分析)


def load_categories(path: str | Path, instrument: Instrument) -> dict[str, str]:
    """Complaint category → dimension, from ``[categories]`` in a TOML file."""
    path = Path(path)
    doc = read_toml(path, "complaint categories")
    for key in doc:
        if key != "categories":
            raise InstrumentError(unknown_key_message(key, ["categories"]), file=path, key=key)
    table = doc.get("categories")
    if not isinstance(table, dict) or not table:
        raise InstrumentError("must map each category to a dimension", file=path,
                              key="categories")
    for category, dimension in table.items():
        if dimension not in instrument.dimension_keys:
            raise InstrumentError(unknown_key_message(str(dimension), instrument.dimension_keys),
                                  file=path, key=f"categories.{category}")
    return {str(k).strip(): v for k, v in table.items()}


def _read_csv_text(path: Path) -> pd.DataFrame:
    raw = read_bytes(path, "complaints")
    for encoding in ("utf-8-sig", "gb18030"):  # Chinese Excel saves CSV as GB18030/GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataError("the complaints file is neither UTF-8 nor GB18030 text", file=path)
    first = text.splitlines()[0] if text.strip() else ""
    if not first:
        raise DataError("the complaints file is empty", file=path)
    frame = pd.read_csv(io.StringIO(text), sep=sniff_delimiter(first, path.suffix.lower()),
                        dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _wave_of_date(date: dt.date, waves: list[str]) -> str | None:
    for wave in reversed(waves):  # the latest wave that started on or before the date
        kind, start = parse_wave(wave)
        if start is None:
            return None
        if kind == "quarter" and (start.year, (start.month - 1) // 3) == (
                date.year, (date.month - 1) // 3):
            return wave
        if kind == "month" and (start.year, start.month) == (date.year, date.month):
            return wave
        if kind == "date" and start <= date:
            return wave
    return None


def load_complaints(path: str | Path, categories: dict[str, str], instrument: Instrument,
                    waves: list[str]) -> tuple[pd.DataFrame, int]:
    """Complaints as (wave, dimension, segment columns …) rows; and how many fell outside
    the survey's waves. Unknown categories stop the run (exit 65 naming row and value)."""
    path = Path(path)
    frame = _read_csv_text(path)
    if "category" not in frame.columns:
        raise DataError("needs a 'category' column", file=path, row=1, column="category")
    if "wave" not in frame.columns and "date" not in frame.columns:
        raise DataError("needs a 'wave' or a 'date' column", file=path, row=1, column="wave")
    category = frame["category"].str.strip()
    unknown = ~category.isin(categories)
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(f"unknown complaint category {quoted(category.iloc[first])}; known: "
                        f"{', '.join(sorted(categories))} (map it in the categories file)",
                        file=path, row=first + 2, column="category")
    if "wave" in frame.columns and frame["wave"].str.strip().ne("").all():
        wave = frame["wave"].str.strip()
    else:
        dates = pd.to_datetime(frame["date"].str.strip(), errors="coerce", format="mixed")
        if dates.isna().any():
            first = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise DataError(f"not a date: {quoted(frame['date'].iloc[first])}", file=path,
                            row=first + 2, column="date")
        wave = pd.Series([_wave_of_date(d.date(), waves) for d in dates], index=frame.index)
    inside = wave.isin(waves)
    out = pd.DataFrame({"wave": wave[inside], "dimension": category[inside].map(categories)})
    for column in instrument.segments:
        if column in frame.columns:
            out[column] = frame.loc[inside, column].str.strip()
    return out.reset_index(drop=True), int((~inside).sum())


def complaint_analysis(complaints: pd.DataFrame, respondents: pd.DataFrame,
                       instrument: Instrument, waves: list[str], config: AnalysisConfig
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and rates per 1,000 respondents per wave and dimension, and per dimension the
    trend and whether complaints point at it this wave.

    ``respondents`` has the number of valid respondents per wave (column ``n``), whole sample.
    """
    per_wave = respondents.set_index("wave")["n"]
    grid = pd.MultiIndex.from_product([waves, instrument.dimension_keys],
                                      names=["wave", "dimension"])
    counts = complaints.groupby(["wave", "dimension"]).size().reindex(grid, fill_value=0)
    table = counts.rename("count").reset_index()
    table["respondents"] = table["wave"].map(per_wave).astype(float)
    table["rate_per_1000"] = 1000 * table["count"] / table["respondents"]

    current, previous = waves[-1], (waves[-2] if len(waves) > 1 else None)
    now = table[table["wave"] == current].set_index("dimension")
    complaint_config = config.replace(trend_min_change=config.complaint_min_change)
    axis = time_axis(waves)
    position = dict(zip(axis.labels, axis.positions))
    highest = now["rate_per_1000"].max()
    rows = []
    for dim in instrument.dimension_keys:
        series = table[table["dimension"] == dim]
        trend = classify(series["wave"].map(position), series["rate_per_1000"],
                         complaint_config)
        increase_p = float("nan")
        if previous is not None:
            before = table[(table["wave"] == previous) & (table["dimension"] == dim)].iloc[0]
            c1, c2 = before["count"], now.loc[dim, "count"]
            n1, n2 = before["respondents"], now.loc[dim, "respondents"]
            if c1 + c2 > 0:  # exact conditional test of a higher rate now (Poisson counts)
                increase_p = binomial_at_least(int(c2), int(c1 + c2), n2 / (n1 + n2))
        count = int(now.loc[dim, "count"])
        rising = trend.direction == RISING
        increased = increase_p < config.significance
        top = count > 0 and now.loc[dim, "rate_per_1000"] == highest
        rows.append({"dimension": dim, "wave": current, "count": count,
                     "rate_per_1000": float(now.loc[dim, "rate_per_1000"]),
                     "direction": trend.direction, "slope_per_wave": trend.slope_per_wave,
                     "trend_p": trend.p_value, "increase_p": increase_p,
                     "highest_rate": bool(top),
                     "points_here": bool(count > 0 and (rising or increased or top))})
    return table, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Benchmarking (对标分析)


def benchmark_units(moments: pd.DataFrame, column: str, wave: str, config: AnalysisConfig,
                    dimensions: list[str] | None = None) -> pd.DataFrame:
    """Units (values of a segment column) ranked per dimension against the best unit and the
    average of the others; Welch's t of each unit against the others (Holm-adjusted across
    units). Cells below ``min_cell`` are left out (privacy). Dimensions in the order of
    ``dimensions`` (default: as in ``moments``), units by rank, ties by name."""
    m = moments[(moments["wave"] == wave) & (moments["level"] == "dimension")
                & (moments["measure"] == "gap")]
    sums = [c for c in ("n", "sum", "sumsq", "w", "wsum", "wsumsq", "w2") if c in m.columns]
    whole = m[m["segment"] == ALL].set_index("id")[sums]
    units = m[(m["segment"] == column) & (m["n"] >= config.min_cell)]
    rows = []
    parts = dict(list(units.groupby("id", sort=False)))
    for dim in [d for d in dimensions if d in parts] if dimensions else parts:
        part = parts[dim].reset_index(drop=True)
        rest = pd.DataFrame(whole.loc[[dim] * len(part)].to_numpy() - part[sums].to_numpy(),
                            columns=sums)
        mine, others = describe(part[sums]), describe(rest)
        t, df, p = welch_t(rest["n"], others["mean"], others["var"], part["n"], mine["mean"],
                           mine["var"])
        frame = pd.DataFrame({"dimension": dim, "unit": part["value"], "n": part["n"],
                              "gap_mean": mine["mean"], "average_others": others["mean"],
                              "difference": mine["mean"] - others["mean"], "t": t, "df": df,
                              "p_value": p})
        frame["p_adjusted"] = adjust_pvalues(frame["p_value"].to_numpy(), "holm")
        frame["rank"] = frame["gap_mean"].rank(ascending=False, method="min").astype(int)
        best = frame.loc[frame["gap_mean"].idxmax()]
        frame["units"] = len(frame)
        frame["best_unit"], frame["best_gap"] = best["unit"], best["gap_mean"]
        frame["below_peers"] = (frame["p_adjusted"] < config.significance) & (
            frame["difference"] <= -config.peer_min_difference)
        rows.append(frame.sort_values(["rank", "unit"], kind="stable"))
    if not rows:
        return pd.DataFrame()
    return pd.concat(rows, ignore_index=True).assign(column=column)


def load_peers(path: str | Path, instrument: Instrument) -> tuple[str, dict[str, float]]:
    """An external benchmark: ``name = "…"`` and a ``[gap]`` table of peer gaps by dimension."""
    path = Path(path)
    doc = read_toml(path, "benchmark")
    for key in doc:
        if key not in ("name", "gap"):
            raise InstrumentError(unknown_key_message(key, ["name", "gap"]), file=path, key=key)
    if not isinstance(doc.get("gap"), dict):
        raise InstrumentError("required table is missing", file=path, key="gap")
    for dim, value in doc["gap"].items():
        if dim not in instrument.dimension_keys:
            raise InstrumentError(unknown_key_message(dim, instrument.dimension_keys),
                                  file=path, key=f"gap.{dim}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InstrumentError("must be a number", file=path, key=f"gap.{dim}")
    return str(doc.get("name", path.stem)), {k: float(v) for k, v in doc["gap"].items()}


def compare_with_peers(dimensions: pd.DataFrame, name: str, peers: dict[str, float],
                       config: AnalysisConfig) -> pd.DataFrame:
    """Our current gaps against external peer gaps: t-test of our mean against each value."""
    rows = []
    for _, row in dimensions.iterrows():
        if row["dimension"] not in peers:
            continue
        peer = peers[row["dimension"]]
        test = paired_t(np.array([row["gap_mean"] - peer]), np.array([row["gap_sd"]]),
                        np.array([row["n"]]))
        difference = row["gap_mean"] - peer
        p = float(test["p_value"][0])
        rows.append({"dimension": row["dimension"], "peer": name, "peer_gap": peer,
                     "gap_mean": row["gap_mean"], "difference": difference, "p_value": p,
                     "below_peers": bool(p < config.significance
                                         and difference <= -config.peer_min_difference)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Importance–performance analysis (Martilla & James 1977)


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


# --------------------------------------------------------------------------------------------
# Customer classes: where does a shortfall concentrate?


def concentrated_class(segments: pd.DataFrame, tests: pd.DataFrame, instrument: Instrument,
                       dimension: str, overall_gap: float, config: AnalysisConfig
                       ) -> dict[str, Any] | None:
    """The customer class whose gap on a dimension is clearly the worst, if any.

    Clearly: the classes differ (Kruskal–Wallis p < significance) and the worst class's gap
    is below the whole sample's by at least ``peer_min_difference``.
    """
    classes = instrument.customer_classes
    if classes is None:
        return None
    rows = segments[(segments["column"] == classes.column) & (segments["dimension"] == dimension)
                    & ~segments["suppressed"]]
    test = tests[(tests["column"] == classes.column) & (tests["dimension"] == dimension)]
    if rows.empty or test.empty or not test["kruskal_p"].iloc[0] < config.significance:
        return None
    worst = rows.loc[rows["gap_mean"].idxmin()]
    key = classes.class_of(worst["value"])
    if key is None or worst["gap_mean"] > overall_gap - config.peer_min_difference:
        return None
    return {"class": key, "value": str(worst["value"]), "gap_mean": float(worst["gap_mean"]),
            "overall_gap": float(overall_gap), "kruskal_p": float(test["kruskal_p"].iloc[0])}


# --------------------------------------------------------------------------------------------
# Weak points


@dataclass
class WeakPoint:
    kind: str  # "dimension" or "item"
    id: str
    dimension: str
    gap_mean: float
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    score: float = 0.0
    priority: int = 0
    direction: str = ""
    trend: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    customer_class: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None  # a significant drop in the latest wave


def _importance_factor(dimensions: pd.DataFrame) -> dict[str, float]:
    if "importance_weight" not in dimensions or dimensions["importance_weight"].isna().all():
        return {}
    k = len(dimensions)
    return {d: float(w) * k for d, w in zip(dimensions["dimension"],
                                            dimensions["importance_weight"])
            if np.isfinite(w)}


def _alert(wave_over_wave: pd.DataFrame, kind: str, ident: str) -> dict[str, Any] | None:
    if wave_over_wave.empty or kind not in set(wave_over_wave["level"]):
        return None
    rows = wave_over_wave[(wave_over_wave["level"] == kind) & wave_over_wave["alert"]
                          & (wave_over_wave[kind] == ident)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {k: row[k] for k in ("previous_wave", "current_wave", "previous_mean",
                                "current_mean", "change", "p_value", "cohens_d")}


def weak_points(*, dimensions: pd.DataFrame, items: pd.DataFrame, trends: TrendTables,
                targets: pd.DataFrame, complaints: pd.DataFrame | None,
                benchmark: pd.DataFrame, peers: pd.DataFrame, segments: pd.DataFrame,
                segment_tests: pd.DataFrame, instrument: Instrument, config: AnalysisConfig
                ) -> list[WeakPoint]:
    """Every dimension and item that falls short with evidence, in priority order."""
    alpha = config.significance
    importance = _importance_factor(dimensions)
    dim_trends = trends.dimensions.set_index("dimension")
    item_trends = trends.items.set_index("item")
    found: list[WeakPoint] = []
    for kind, table, key in (("dimension", dimensions, "dimension"), ("item", items, "item")):
        series = dim_trends if kind == "dimension" else item_trends
        for _, row in table.iterrows():
            gap = row["gap_mean"]
            if not (np.isfinite(gap) and gap < 0):
                continue  # no shortfall: never a weak point
            ident = row[key]
            point = WeakPoint(kind=kind, id=ident, dimension=row["dimension"], gap_mean=gap)
            if row["p_adjusted"] < alpha:
                point.evidence["negative_gap"] = {
                    "gap": gap, "ci95_low": row["gap_ci95_low"],
                    "ci95_high": row["gap_ci95_high"], "p_adjusted": row["p_adjusted"]}
            if ident in series.index:
                trend = series.loc[ident]
                point.direction = trend["direction"]
                point.trend = {k: trend[k] for k in (
                    "direction", "slope_per_wave", "p_value", "change", "waves", "first", "last",
                    "observed_first", "observed_last", "first_wave", "last_wave")}
                if trend["direction"] == FALLING:
                    point.evidence["falling_trend"] = dict(point.trend)
            missed = targets[(targets["level"] == kind) & (targets["id"] == ident)
                             & (targets["met"] == False)]  # noqa: E712 (None = not evaluable)
            if len(missed):
                point.targets = missed.to_dict("records")
                worst = missed.loc[missed["distance"].idxmin()]
                point.evidence["target_missed"] = {
                    "measure": worst["measure"], "actual": worst["actual"],
                    "target": worst["target"], "distance": worst["distance"],
                    "column": worst["column"], "value": worst["value"]}
            if kind == "dimension" and complaints is not None and len(complaints):
                c = complaints.set_index("dimension").loc[ident]
                if c["points_here"]:
                    point.evidence["complaints"] = {
                        "count": int(c["count"]), "rate_per_1000": c["rate_per_1000"],
                        "wave": c["wave"], "direction": c["direction"],
                        "increase_p": c["increase_p"], "highest_rate": bool(c["highest_rate"])}
            if kind == "dimension":
                below = benchmark[(benchmark["dimension"] == ident) & benchmark["below_peers"]] \
                    if len(benchmark) else benchmark
                external = peers[(peers["dimension"] == ident) & peers["below_peers"]] \
                    if len(peers) else peers
                if len(below):
                    worst = below.loc[below["difference"].idxmin()]
                    point.evidence["below_peers"] = {
                        "column": worst["column"], "unit": worst["unit"],
                        "gap": worst["gap_mean"], "average": worst["average_others"],
                        "p_adjusted": worst["p_adjusted"], "units_below": int(len(below))}
                elif len(external):
                    e = external.iloc[0]
                    point.evidence["below_peers"] = {
                        "unit": e["peer"], "gap": e["gap_mean"], "average": e["peer_gap"],
                        "p_adjusted": e["p_value"], "external": True}
                point.customer_class = concentrated_class(segments, segment_tests, instrument,
                                                          ident, gap, config)
            if not point.evidence:
                continue
            point.alert = _alert(trends.wave_over_wave, kind, ident)
            falling = 1.5 if "falling_trend" in point.evidence else 1.0
            point.score = (-gap * importance.get(point.dimension, 1.0) * falling
                           * (1 + 0.25 * (len(point.evidence) - 1)))
            found.append(point)
    ordered = sorted(found, key=lambda p: (p.kind != "dimension", -p.score))
    for n, point in enumerate(ordered, 1):
        point.priority = n
    return ordered


# --------------------------------------------------------------------------------------------
# Everything at once


@dataclass
class Findings:
    trends: TrendTables
    targets: pd.DataFrame
    complaints: pd.DataFrame  # per wave and dimension: count, rate (empty without complaints)
    complaint_summary: pd.DataFrame  # per dimension, current wave: trend, evidence
    complaints_outside: int  # complaints dated outside the survey's waves
    benchmark: pd.DataFrame
    peers: pd.DataFrame
    ipa: pd.DataFrame
    weak_points: list[WeakPoint]


def find(*, tables, aggregates, waves: list[str], instrument: Instrument, trends: TrendTables,
         segments: pd.DataFrame, segment_tests: pd.DataFrame, targets: list[Target],
         complaints: tuple[pd.DataFrame, int] | None, peers: tuple[str, dict] | None,
         benchmark_column: str) -> Findings:
    """All findings of a run (the inputs come from :func:`servqual.pipeline.compute`)."""
    config = instrument.analysis
    current = waves[-1]
    whole = tables.dimensions[(tables.dimensions["segment"] == ALL)]
    dims_now = whole[whole["wave"] == current].reset_index(drop=True)
    items = tables.items
    items_now = items[(items["segment"] == ALL) & (items["wave"] == current)].reset_index(
        drop=True)
    target_table = evaluate_targets(targets, tables, waves, config)

    complaint_table = summary = pd.DataFrame()
    outside = 0
    if complaints is not None:
        rows, outside = complaints
        m = aggregates.moments
        respondents = m[(m["segment"] == ALL) & (m["level"] == "overall")
                        & (m["id"] == "respondents")][["wave", "n"]]
        complaint_table, summary = complaint_analysis(rows, respondents, instrument, waves,
                                                      config)
    bench = benchmark_units(aggregates.moments, benchmark_column, current, config,
                            instrument.dimension_keys) \
        if benchmark_column else pd.DataFrame()
    peer_table = compare_with_peers(dims_now, *peers, config) if peers else pd.DataFrame()
    ipa = importance_performance(dims_now, aggregates.moments, current,
                                 bool(instrument.settings.overall_satisfaction))
    points = weak_points(dimensions=dims_now, items=items_now, trends=trends,
                         targets=target_table, complaints=summary, benchmark=bench,
                         peers=peer_table, segments=segments, segment_tests=segment_tests,
                         instrument=instrument, config=config)
    return Findings(trends=trends, targets=target_table, complaints=complaint_table,
                    complaint_summary=summary, complaints_outside=outside, benchmark=bench,
                    peers=peer_table, ipa=ipa, weak_points=points)
