"""From aggregates to the tidy tables of the results (one row per wave × cell × id).

Every table keeps all waves and all segment cells; the results object picks the current
wave, the whole sample, or the segments from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..instrument import Instrument
from .accumulators import CrossCounter
from .boxes import BOXES, answer_counts, box_table
from .gaps import CELL, adjust_p, gap_table, paired_t
from ..models import ALL, Aggregates
from .moments import describe
from .drivers import KEY_DRIVER_FIELDS, key_drivers
from .matrix import GROUPS, MEASURE, PROFILE, matrix_table, profile_table
from .nps import nps_table
from .questionnaire import item_presence
from .reliability import reliability
from .segments import between_tests

TOLERANCE_MEASURES = ("adequate", "msa", "mss", "zone_width", "below_adequate", "inside_zone",
                      "above_desired")
OVERALL_SCORES = ("servperf", "servqual_weighted", "servperf_weighted", "overall_satisfaction")


@dataclass
class Tables:
    items: pd.DataFrame
    dimensions: pd.DataFrame
    overall: pd.DataFrame
    reliability: pd.DataFrame
    reliability_items: pd.DataFrame
    tolerance: pd.DataFrame  # items and dimensions, column ``level``
    segment_tests: pd.DataFrame
    # When the questionnaire changed between waves: which items were not asked when, and the
    # dimension gaps from the items asked in every wave (what dimension trends use).
    breaks: pd.DataFrame = field(default_factory=pd.DataFrame)
    dimensions_common: pd.DataFrame = field(default_factory=pd.DataFrame)
    nps: pd.DataFrame = field(default_factory=pd.DataFrame)  # Net Promoter Score (.nps)
    key_drivers: pd.DataFrame = field(default_factory=pd.DataFrame)  # current wave (.drivers)
    matrix: pd.DataFrame = field(default_factory=pd.DataFrame)  # satisfaction × loyalty (.matrix)
    matrix_profile: pd.DataFrame = field(default_factory=pd.DataFrame)  # its gap profiles
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)  # per wave: outcome n, mean


KINDS = CrossCounter.KINDS  # batteries of the reliability tables, in this order


def _ordered(table: pd.DataFrame, key: str, ids, waves: list[str]) -> pd.DataFrame:
    """Rows in wave order, whole sample first then segments, ids in instrument order."""
    return _sorted(table, wave=waves, segment=None, value=None, **{key: list(ids)})


def _sorted(table: pd.DataFrame, **keys) -> pd.DataFrame:
    """Rows sorted by the given columns in turn, each in the order of its list of values (or
    as text, for None): the same order whichever path built the aggregates."""
    if table.empty:
        return table.reset_index(drop=True)
    columns = []
    for column, values in keys.items():
        if values is None:
            columns.append(table[column].astype(str).to_numpy())
        else:
            rank = {v: n for n, v in enumerate(values)}
            columns.append(table[column].map(rank).to_numpy())
    return table.iloc[np.lexsort(columns[::-1])].reset_index(drop=True)


def measure_means(moments: pd.DataFrame, level: str, measures) -> pd.DataFrame:
    """Wide table of ``<measure>_mean``, ``<measure>_sd`` and ``<measure>_n`` per cell and id."""
    sub = moments[(moments["level"] == level) & moments["measure"].isin(measures)]
    if sub.empty:
        return pd.DataFrame(columns=CELL + ["id"])
    stats = pd.concat([sub[CELL + ["id", "measure", "n"]].reset_index(drop=True),
                       describe(sub.reset_index(drop=True))], axis=1)
    wide = stats.pivot_table(index=CELL + ["id"], columns="measure", values=["mean", "sd", "n"],
                             aggfunc="first", sort=False)
    wide.columns = [f"{measure}_{stat}" for stat, measure in wide.columns]
    return wide.reset_index()


def build_tables(aggregates: Aggregates, instrument: Instrument, waves: list[str]) -> Tables:
    config = instrument.analysis
    moments, histograms = aggregates.moments, aggregates.histograms
    family = ["wave", "segment", "value"]

    items = gap_table(moments, "item", histograms, instrument.score).rename(columns={"id": "item"})
    items.insert(items.columns.get_loc("item") + 1, "dimension",
                 items["item"].map(instrument.dimension_of_item))
    dims = gap_table(moments, "dimension", histograms, instrument.score).rename(columns={"id": "dimension"})
    for table in (items, dims):
        groups = [table[c] for c in family]
        table["p_adjusted"] = adjust_p(table["p_value"], groups, config.p_adjust)
        table["wilcoxon_p_adjusted"] = adjust_p(table["wilcoxon_p"], groups, config.p_adjust)

    boxes = box_table(measure_means(moments, "item", BOXES), waves, config.p_adjust)
    if len(boxes.columns) > len(CELL) + 1:  # top-2 / bottom-2 box shares (stats.boxes)
        items = items.merge(boxes.rename(columns={"id": "item"}), on=CELL + ["item"],
                            how="left")
    counts = answer_counts(histograms, instrument.scale_min, instrument.scale_max)
    if len(counts):  # the items' answer distributions (stats.boxes)
        items = items.merge(counts.rename(columns={"id": "item"}), on=CELL + ["item"],
                            how="left")
    if instrument.has_item_importance:  # stated importance ratings of the items
        rated = measure_means(moments, "item", ("importance",))
        if "importance_mean" in rated:
            items = items.merge(rated[CELL + ["id", "importance_mean", "importance_sd",
                                              "importance_n"]].rename(columns={"id": "item"}),
                                on=CELL + ["item"], how="left")
    extra = measure_means(moments, "dimension", ("importance", "servperf"))
    if "importance_mean" in extra:
        extra = extra.rename(columns={"importance_mean": "importance_weight",
                                      "importance_n": "importance_n"})
    keep = [c for c in ("importance_weight", "importance_n", "servperf_mean") if c in extra]
    dims = dims.merge(extra[CELL + ["id"] + keep].rename(columns={"id": "dimension"}),
                      on=CELL + ["dimension"], how="left")

    cross = aggregates.crossproducts
    scales, scale_items = reliability(cross[cross["kind"].isin(KINDS)] if len(cross) else cross,
                                      {i.id: n for n, i in enumerate(instrument.items)},
                                      config.alpha_min)
    if not scales.empty:
        wide_alpha = scales.pivot_table(index=["wave", "dimension"], columns="kind",
                                        values="alpha", aggfunc="first", dropna=False)
        wide_alpha.columns = [f"alpha_{kind}" for kind in wide_alpha.columns]
        wide_alpha = wide_alpha.reset_index().assign(segment=ALL)
        dims = dims.merge(wide_alpha, on=["wave", "segment", "dimension"], how="left")

    tolerance = pd.DataFrame()
    if instrument.has_adequate:
        parts = []
        for level, key in (("item", "item"), ("dimension", "dimension")):
            t = measure_means(moments, level, TOLERANCE_MEASURES).rename(columns={"id": key})
            if not t.empty:
                t["desired_mean"] = t["adequate_mean"] + t["zone_width_mean"]
                t["perceived_mean"] = t["adequate_mean"] + t["msa_mean"]
                t = t.rename(columns={"adequate_n": "n"})
                t.insert(0, "level", level)
                parts.append(t)
        tolerance = pd.concat(parts, ignore_index=True) if parts else tolerance
        if not tolerance.empty:
            dims = dims.merge(
                tolerance[tolerance["level"] == "dimension"][CELL + ["dimension", "msa_mean"]],
                on=CELL + ["dimension"], how="left")

    overall = overall_table(moments, dims)
    breaks, common = questionnaire_breaks(moments, instrument, waves)
    tests = between_tests(gap_table_ids(dims, "dimension"), histograms, "dimension",
                          instrument.score)
    tests = _sorted(tests.rename(columns={"id": "dimension"}), wave=waves,
                    column=instrument.analysis_segments, dimension=instrument.dimension_keys)
    return Tables(
        items=_ordered(items, "item", instrument.item_ids, waves),
        dimensions=_ordered(dims, "dimension", instrument.dimension_keys, waves),
        overall=_sorted(overall, wave=waves, segment=None, value=None),
        reliability=_sorted(scales, wave=waves, dimension=instrument.dimension_keys,
                            kind=list(KINDS)),
        reliability_items=_sorted(scale_items, wave=waves, dimension=instrument.dimension_keys,
                                  kind=list(KINDS), item=instrument.item_ids),
        tolerance=tolerance,
        segment_tests=tests, breaks=breaks,
        dimensions_common=_ordered(common, "dimension", instrument.dimension_keys, waves),
        key_drivers=key_drivers(cross, waves[-1], instrument.dimension_keys,
                                [o.key for o in instrument.outcomes])
        if len(cross) else pd.DataFrame(columns=KEY_DRIVER_FIELDS),
        nps=_sorted(nps_table(measure_means(moments, "overall", ("nps",))), wave=waves,
                    segment=None, value=None),
        outcomes=outcome_table(moments, instrument, waves),
        matrix=_sorted(matrix_table(measure_means(moments, "overall", (MEASURE,))),
                       wave=waves, segment=None, value=None, group=list(GROUPS)),
        matrix_profile=_sorted(profile_table(measure_means(moments, "dimension", PROFILE)),
                               wave=waves, segment=None, value=None, group=list(GROUPS),
                               dimension=list(instrument.dimension_keys)))


def questionnaire_breaks(moments: pd.DataFrame, instrument: Instrument, waves: list[str]
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items not asked in some waves, and dimension gaps over the items asked throughout."""
    presence = item_presence(moments, instrument.score).reindex(
        index=waves, columns=list(instrument.item_ids), fill_value=0)
    rows = []
    for item in instrument.items:
        missing = [w for w in waves if presence.loc[w, item.id] == 0]
        if 0 < len(missing) < len(waves):  # asked in some waves, not in others
            rows.append({"item": item.id, "dimension": item.dimension,
                         "waves_missing": missing,
                         "waves_asked": [w for w in waves if w not in missing]})
    breaks = pd.DataFrame(rows, columns=["item", "dimension", "waves_missing", "waves_asked"])
    common = pd.DataFrame()
    if (moments["level"] == "dimension_common").any():
        common = gap_table(moments, "dimension_common", score=instrument.score).rename(columns={"id": "dimension"})
        asked = {d: [i.id for i in instrument.items_of(d) if i.id not in set(breaks["item"])]
                 for d in instrument.dimension_keys}
        common["items_used"] = common["dimension"].map(asked)
    return breaks, common


def gap_table_ids(table: pd.DataFrame, key: str) -> pd.DataFrame:
    return table.rename(columns={key: "id"})


def overall_table(moments: pd.DataFrame, dims: pd.DataFrame) -> pd.DataFrame:
    """Per wave and cell: the overall scores.

    ``servqual_unweighted`` is the mean of the dimension gap means (PZB); the other scores are
    means of per-respondent scores (see :mod:`.scores`), each with n and a 95 % CI.
    """
    unweighted = dims.groupby(CELL, sort=False)["gap_mean"].mean().rename("servqual_unweighted")
    out = unweighted.reset_index()
    sub = moments[(moments["level"] == "overall")]
    for score in OVERALL_SCORES:
        part = sub[sub["id"] == score].reset_index(drop=True)
        if part.empty:
            continue
        d = describe(part)
        mean = d["mean"].to_numpy()
        ci = paired_t(mean, d["sd"].to_numpy(), part["n"].to_numpy(), d["se"].to_numpy())
        frame = part[CELL].copy()
        frame[score] = mean
        frame[f"{score}_n"] = part["n"].to_numpy()
        frame[f"{score}_ci95_low"] = ci["gap_ci95_low"]
        frame[f"{score}_ci95_high"] = ci["gap_ci95_high"]
        out = out.merge(frame, on=CELL, how="left")
    return out


OUTCOME_FIELDS = ["wave", "outcome", "source", "n", "respondents", "mean", "sd"]


def outcome_table(moments: pd.DataFrame, instrument: Instrument, waves: list[str]
                  ) -> pd.DataFrame:
    """Per wave (all respondents) and outcome: ``n`` usable answers (for a behaviour outcome:
    respondents matched in the CRM extract with a usable value) of ``respondents``, and their
    ``mean`` and ``sd``; ``source`` survey or behaviour."""
    means = measure_means(moments, "overall", ("outcome",))
    counts = measure_means(moments, "overall", ("score",))
    if "outcome_n" not in means or means.empty:
        return pd.DataFrame(columns=OUTCOME_FIELDS)
    means = means[means["segment"] == ALL]
    everyone = counts[(counts["segment"] == ALL) & (counts["id"] == "respondents")]
    out = means.rename(columns={"id": "outcome", "outcome_n": "n", "outcome_mean": "mean",
                                "outcome_sd": "sd"})
    if "sd" not in out:  # no cell with two answers: the pivot kept no sd
        out["sd"] = np.nan
    out["respondents"] = out["wave"].map(dict(zip(everyone["wave"], everyone["score_n"])))
    source = {o.key: o.source for o in instrument.outcomes}
    out["source"] = out["outcome"].map(source)
    out = out[out["outcome"].isin(source)]
    return _sorted(out, wave=waves, outcome=list(source))[OUTCOME_FIELDS]
