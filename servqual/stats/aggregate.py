"""Aggregates: the small, additive tables every statistic is computed from.

Three kinds, each keyed by wave × segment cell, each combining exactly across files,
partitions or machines by adding (docs/scale.md):

``moments``
    n, Σx, Σx² (and Σw, Σw·x, Σw·x², Σw² with sampling weights) of every measure;
    see :mod:`.moments` for the layout.
``histograms``
    counts of each distinct gap value, per item and dimension: rank tests (Wilcoxon,
    Kruskal–Wallis) and medians need the order of the values, and for answers on a 1..k
    scale the distinct values are few, so their counts are small and exact.
``crossproducts``
    n, Σx_a, Σx_b and Σx_a·x_b over respondents who answered every item of a dimension,
    per wave: what Cronbach's alpha, alpha-if-deleted and item-rest correlations need.

How respondents are grouped: each wave's respondents are cross-classified by all segment
columns at once ("cells"), aggregated once per cell, and the tables for each segment column
are sums over cells. When the cross-classification would have too many cells, each segment
column is aggregated on its own instead (same results, more passes over the data).

Answers on an integer scale take the fast path: each item's (E, P) answer pair is coded as
one small integer and counted per cell with ``np.bincount``; E, P and gap moments and the gap
histogram follow exactly from those counts. Other answers take the general path (weighted
``bincount`` of each score column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..instrument import Instrument
from ..responses import WAVE, WEIGHT, Responses
from .coded import Coded, dimension_codes, dimension_counts, dimension_floats, encode, item_counts
from .moments import ALL, KEYS, SUMS, WEIGHTED_SUMS
from .scores import (Block, ImportanceCounts, dimension_scores, membership, overall_blocks,
                     score_blocks)

MAX_CELLS = 20_000  # cross-classified cells beyond which segments are aggregated one by one
HISTOGRAM_KEYS = ["wave", "segment", "value", "level", "id", "measure", "x"]
CROSS_KEYS = ["wave", "kind", "id", "a", "b"]
CROSS_SUMS = ["n", "sum_a", "sum_b", "sum_ab"]


@dataclass
class Aggregates:
    moments: pd.DataFrame
    histograms: pd.DataFrame
    crossproducts: pd.DataFrame
    importance: ImportanceCounts | None = None

    @classmethod
    def concat(cls, parts: list[Aggregates]) -> Aggregates:
        """Aggregates of disjoint sets of respondents (e.g. different waves), combined."""
        def cat(name: str, keys: list[str]) -> pd.DataFrame:
            frames = [getattr(p, name) for p in parts if len(getattr(p, name))]
            if not frames:
                return getattr(parts[0], name)
            out = pd.concat(frames, ignore_index=True)
            sums = [c for c in out.columns if c not in keys]
            return out.groupby(keys, sort=False, dropna=False)[sums].sum().reset_index()

        importance = [p.importance for p in parts if p.importance is not None]
        total = None
        if importance:
            total = ImportanceCounts(**{k: sum(getattr(i, k) for i in importance)
                                        for k in ImportanceCounts().as_dict()})
        return cls(moments=cat("moments", KEYS), histograms=cat("histograms", HISTOGRAM_KEYS),
                   crossproducts=cat("crossproducts", CROSS_KEYS), importance=total)


# --------------------------------------------------------------------------------------------
# Grouping respondents into cells


@dataclass
class Grouping:
    """Respondents grouped into cells of wave × the values of ``columns``."""

    columns: tuple[str, ...]
    code: np.ndarray  # cell of each respondent
    cells: pd.DataFrame  # one row per cell: wave and the value of each column (NaN = missing)

    @property
    def size(self) -> int:
        return len(self.cells)


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (missing → its own code, the last) and the labels, as strings."""
    codes, labels = pd.factorize(series, use_na_sentinel=True)
    codes = np.where(codes < 0, len(labels), codes)
    labels = np.append(np.asarray(labels, dtype=object).astype(str), None)
    return codes.astype(np.int64), labels


def grouping(responses: Responses, columns: tuple[str, ...]) -> Grouping:
    meta = responses.meta
    parts = [_factorize(meta[WAVE])] + [_factorize(meta[c]) for c in columns]
    code = np.zeros(len(meta), dtype=np.int64)
    radix = 1
    for codes, labels in parts:
        code += codes * radix
        radix *= len(labels)
    present = np.bincount(code, minlength=radix) > 0 if len(code) else np.zeros(radix, bool)
    dense = np.cumsum(present) - 1
    ids = np.flatnonzero(present)
    cells = {}
    rest = ids.copy()
    for name, (_, labels) in zip((WAVE,) + columns, parts):
        cells[name] = labels[rest % len(labels)]
        rest //= len(labels)
    return Grouping(columns=columns, code=dense[code], cells=pd.DataFrame(cells))


def groupings(responses: Responses) -> list[Grouping]:
    """One cross-classified grouping, or one per segment column when that is too fine."""
    columns = tuple(responses.segments)
    crossed = grouping(responses, columns)
    if crossed.size <= MAX_CELLS or len(columns) <= 1:
        return [crossed]
    return [grouping(responses, (c,)) for c in columns]


def _families(group: Grouping) -> list[tuple[str, list[str]]]:
    """(segment, grouping keys) for the whole sample and each segment column of a grouping."""
    return [(ALL, [WAVE])] + [(c, [WAVE, c]) for c in group.columns]


def _marginals(per_cell: pd.DataFrame, group: Grouping, keys: list[str], sums: list[str],
               families: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """Sum per-cell rows (column ``cell``) up to wave × segment value, for each family."""
    joined = per_cell.join(group.cells, on="cell")
    frames = []
    for segment, by in families:
        part = joined if segment == ALL else joined[joined[segment].notna()]
        summed = part.groupby(by + keys, sort=False)[sums].sum().reset_index()
        summed.insert(1, "segment", segment)
        summed.insert(2, "value", summed.pop(segment) if segment != ALL else ALL)
        frames.append(summed)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Per-cell sums


def _cell_sums(values: np.ndarray, group: Grouping, weight: np.ndarray | None
               ) -> dict[str, np.ndarray]:
    """Per cell and column: n, Σx, Σx² (and weighted sums). ``values`` is (n, m) with NaN.

    Columns are made contiguous first: ``np.bincount`` over a contiguous million values takes
    about a millisecond, over a strided column ten times longer.
    """
    columns = np.ascontiguousarray(values.T, dtype=np.float64)
    present = ~np.isnan(columns)
    xz = np.where(present, columns, 0.0)
    x2 = xz * xz
    names = SUMS + (WEIGHTED_SUMS if weight is not None else [])
    out = {name: np.zeros((group.size, len(columns))) for name in names}
    code, size = group.code, group.size
    for j in range(len(columns)):
        out["n"][:, j] = np.bincount(code, weights=present[j], minlength=size)
        out["sum"][:, j] = np.bincount(code, weights=xz[j], minlength=size)
        out["sumsq"][:, j] = np.bincount(code, weights=x2[j], minlength=size)
        if weight is not None:
            w = np.where(present[j], weight, 0.0)
            out["w"][:, j] = np.bincount(code, weights=w, minlength=size)
            out["wsum"][:, j] = np.bincount(code, weights=w * xz[j], minlength=size)
            out["wsumsq"][:, j] = np.bincount(code, weights=w * x2[j], minlength=size)
            out["w2"][:, j] = np.bincount(code, weights=w * w, minlength=size)
    return out


def _long(sums: dict[str, np.ndarray], level, measure, ids) -> pd.DataFrame:
    """Per-cell sums as long rows; ``level`` and ``measure`` are one value or one per column."""
    cells, m = sums["n"].shape

    def per_column(value):
        value = np.asarray(value, dtype=object)
        return np.tile(value, cells) if value.ndim else value

    frame = pd.DataFrame({
        "cell": np.repeat(np.arange(cells), m),
        "level": per_column(level), "id": np.tile(np.asarray(ids, dtype=object), cells),
        "measure": per_column(measure),
    })
    for name, arr in sums.items():
        frame[name] = arr.reshape(-1)
    return frame


def blocks_moments(blocks: list[Block], group: Grouping, weight: np.ndarray | None
                   ) -> pd.DataFrame:
    """Moments of several score blocks at once (one gather of the stacked columns)."""
    values = np.column_stack([b.values.astype(np.float64, copy=False) for b in blocks])
    levels = np.concatenate([[b.level] * len(b.ids) for b in blocks])
    measures = np.concatenate([[b.measure] * len(b.ids) for b in blocks])
    ids = np.concatenate([np.asarray(b.ids, dtype=object) for b in blocks])
    return _long(_cell_sums(values, group, weight), levels, measures, ids)


def value_histogram(block: Block, group: Grouping) -> pd.DataFrame:
    """Per cell and column, the count of each distinct value (for rank tests)."""
    frames = []
    for j, ident in enumerate(block.ids):
        x = block.values[:, j]
        ok = ~np.isnan(x)
        values, codes = _value_codes(x[ok])
        if len(values) == 0:
            continue
        counts = np.bincount(group.code[ok] * len(values) + codes,
                             minlength=group.size * len(values)).reshape(group.size, -1)
        cell, which = np.nonzero(counts)
        frames.append(pd.DataFrame({"cell": cell, "level": block.level, "id": ident,
                                    "measure": block.measure, "x": values[which],
                                    "count": counts[cell, which].astype(float)}))
    if not frames:
        return pd.DataFrame(columns=["cell", "level", "id", "measure", "x", "count"])
    return pd.concat(frames, ignore_index=True)


def _value_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the code of each element, linear time for values on a fine grid.

    Dimension scores of integer answers are fractions with a small denominator (the number
    of items answered), so multiplying by the least common multiple of 1..12 makes them
    integers; anything else takes a sort (np.unique).
    """
    if x.size == 0:
        return np.array([]), np.array([], dtype=np.int64)
    grid = math.lcm(*range(1, 13))
    scaled = x * grid
    rounded = np.rint(scaled)
    if np.all(np.abs(scaled - rounded) < 1e-6) and rounded.max() - rounded.min() < 10_000_000:
        offset = rounded.min()
        index = (rounded - offset).astype(np.int64)
        present = np.bincount(index) > 0
        dense = np.cumsum(present) - 1
        return (np.flatnonzero(present) + offset) / grid, dense[index]
    values, codes = np.unique(x, return_inverse=True)
    return values, codes


def crossproducts(responses: Responses, instrument: Instrument, coded: Coded | None = None,
                  answered: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Per wave and dimension, sums and cross-products of the answers of complete respondents.

    ``kind`` is the battery (expectation, perception); respondents count when they answered
    every item of the dimension in that battery (listwise, as SPSS RELIABILITY does).
    With ``coded`` answers, ``answered`` gives the number of answered items per respondent and
    dimension for each battery (from :func:`.coded.dimension_codes`).
    """
    waves, labels = _factorize(responses.meta[WAVE])
    single_wave = len(labels) <= 2  # one label, plus the slot for a missing wave
    batteries = [("expectation", responses.expectation), ("perception", responses.perception)]
    if coded is not None:
        batteries = [("expectation", coded.expectation), ("perception", coded.perception)]
    frames = []
    for side, (kind, answers) in enumerate(batteries):
        for d, dim in enumerate(instrument.dimension_keys):
            cols = [j for j, item in enumerate(instrument.items) if item.dimension == dim]
            ids = np.asarray([instrument.items[j].id for j in cols], dtype=object)
            if coded is not None:
                complete = answered[side][:, d] == len(cols)
            else:
                complete = ~np.isnan(answers[:, cols]).any(axis=1)
            a, b = np.meshgrid(np.arange(len(cols)), np.arange(len(cols)), indexing="ij")
            for w in np.flatnonzero(np.bincount(waves[complete], minlength=len(labels))):
                selected = complete if single_wave else complete & (waves == w)
                rows = answers[selected][:, cols].astype(np.float64)
                if coded is not None:  # answer = code + low − 1
                    rows += coded.offset
                total = rows.sum(axis=0)
                cross = rows.T @ rows
                frames.append(pd.DataFrame({
                    "wave": labels[w], "kind": kind, "id": dim, "a": ids[a.ravel()],
                    "b": ids[b.ravel()], "n": float(len(rows)), "sum_a": total[a.ravel()],
                    "sum_b": total[b.ravel()], "sum_ab": cross.ravel()}))
    if not frames:
        return pd.DataFrame(columns=CROSS_KEYS + CROSS_SUMS)
    return pd.concat(frames, ignore_index=True)


def item_presence(moments: pd.DataFrame) -> pd.DataFrame:
    """Waves × items: answered pairs in the whole sample (0 where the item was not asked)."""
    rows = moments[(moments["segment"] == ALL) & (moments["level"] == "item")
                   & (moments["measure"] == "gap")]
    return rows.pivot_table(index="wave", columns="id", values="n", aggfunc="sum",
                            fill_value=0)


def questionnaire_common(moments: pd.DataFrame, instrument: Instrument) -> np.ndarray | None:
    """Membership of the items asked in every wave, when the questionnaire changed.

    None when every item has answers in every wave (or there is one wave). A dimension with
    no item common to all waves keeps no common score.
    """
    presence = item_presence(moments).reindex(columns=list(instrument.item_ids), fill_value=0)
    asked = (presence > 0).to_numpy()
    changed = asked.any(axis=0) & ~asked.all(axis=0)  # asked in some waves, not in others
    if len(presence) < 2 or not changed.any():
        return None
    asked_always = asked.all(axis=0)
    member = membership(instrument)
    return member * asked_always[:, None]


def common_item_aggregates(responses: Responses, instrument: Instrument, member: np.ndarray,
                           weight: np.ndarray | None, moment_sums: list[str]
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dimension scores from the items asked in every wave only (level ``dimension_common``):
    what dimension trends use when the questionnaire changed between waves."""
    dims = dimension_scores(responses, instrument, member=member)
    keys = instrument.dimension_keys
    blocks = [Block("dimension_common", m, keys, getattr(dims, m))
              for m in ("expectation", "perception", "gap")]
    moments, histograms = [], []
    for group in groupings(responses):
        families = _families(group) if not moments else _families(group)[1:]
        moments.append(_marginals(blocks_moments(blocks, group, weight), group,
                                  ["level", "id", "measure"], moment_sums, families))
        histograms.append(_marginals(value_histogram(blocks[2], group), group,
                                     ["level", "id", "measure", "x"], ["count"], families))
    return pd.concat(moments, ignore_index=True), pd.concat(histograms, ignore_index=True)


def aggregate(responses: Responses, instrument: Instrument, *, fast: bool | None = None
              ) -> Aggregates:
    """All aggregates of a set of validated responses.

    Answers that are all integers on the scale take the counting path (:mod:`.coded`);
    ``fast=False`` forces the general float path (the tests check both agree).
    """
    weight = responses.meta[WEIGHT].to_numpy(dtype=float) if WEIGHT in responses.meta else None
    coded = None
    if fast is not False and responses.adequate is None:
        coded = encode(responses.expectation, responses.perception, instrument)
    moment_sums = SUMS + (WEIGHTED_SUMS if weight is not None else [])
    if coded is not None:
        dim_codes = dimension_codes(coded, instrument)
        float_blocks, importance = overall_blocks(dimension_floats(dim_codes, coded), responses,
                                                  instrument)
    else:
        scores = score_blocks(responses, instrument)
        float_blocks, importance = scores.blocks, scores.importance
    moments, histograms = [], []
    for group in groupings(responses):
        # A later grouping (one per segment column) would repeat the whole-sample family.
        families = _families(group) if not moments else _families(group)[1:]
        per_cell = [blocks_moments(float_blocks, group, weight)]
        hist_cells = [value_histogram(b, group) for b in float_blocks
                      if b.measure == "gap" and b.level in ("item", "dimension")]
        if coded is not None:
            counted = dimension_counts(dim_codes, coded, instrument, group.code, group.size,
                                       weight)
            if counted is None:  # too many distinct values for counting: use the floats
                dims = dimension_floats(dim_codes, coded)
                blocks = [Block("dimension", m, instrument.dimension_keys, getattr(dims, m))
                          for m in ("expectation", "perception", "gap", "servperf")]
                counted = (blocks_moments(blocks, group, weight),
                           value_histogram(blocks[2], group))
            items = item_counts(coded, instrument, group.code, group.size, weight)
            per_cell += [items[0], counted[0]]
            hist_cells += [items[1], counted[1]]
        moments.append(_marginals(pd.concat(per_cell, ignore_index=True), group,
                                  ["level", "id", "measure"], moment_sums, families))
        histograms.append(_marginals(pd.concat(hist_cells, ignore_index=True), group,
                                     ["level", "id", "measure", "x"], ["count"], families))
    moments_frame = pd.concat(moments, ignore_index=True)
    common = questionnaire_common(moments_frame, instrument)
    if common is not None:
        extra_moments, extra_histograms = common_item_aggregates(responses, instrument, common,
                                                                 weight, moment_sums)
        moments_frame = pd.concat([moments_frame, extra_moments], ignore_index=True)
        histograms.append(extra_histograms)
    moments_frame["n"] = moments_frame["n"].round().astype(np.int64)
    moments_frame = moments_frame[moments_frame["n"] > 0].reset_index(drop=True)
    histogram_frame = pd.concat(histograms, ignore_index=True)
    histogram_frame = histogram_frame[histogram_frame["count"] > 0].reset_index(drop=True)
    return Aggregates(moments=moments_frame[KEYS + moment_sums], histograms=histogram_frame,
                      crossproducts=crossproducts(
                          responses, instrument, coded,
                          None if coded is None else (dim_codes.count_exp, dim_codes.count_perf)),
                      importance=importance)
