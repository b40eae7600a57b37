"""Benchmarking (对标分析): units against each other, and the whole against external peers.

Internal: the values of a segment column (branches, regions …) ranked per dimension, each
tested against the average of the others. External: the current gaps tested against a peer
benchmark's gaps loaded from a TOML file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import AnalysisConfig, unknown_key_message
from ..errors import InstrumentError
from ..files import read_toml
from ..instrument import LANGUAGES, Instrument
from ..instrument.labels import parse_text
from ..stats.gaps import adjust_pvalues, paired_t
from ..models import ALL, SUMS, WEIGHTED_SUMS
from ..stats.moments import describe
from ..stats.probability import welch_se


def benchmark_units(moments: pd.DataFrame, column: str, wave: str, config: AnalysisConfig,
                    dimensions: list[str] | None = None, measure: str = "gap") -> pd.DataFrame:
    """Units (values of a segment column) ranked per dimension against the best unit and the
    average of the others; Welch's t of each unit against the others (on design-based
    standard errors with sampling weights; Holm-adjusted across units). Cells below
    ``min_cell`` are left out (privacy). Dimensions in the order of ``dimensions`` (default:
    as in ``moments``), units by rank, ties by name. ``measure``: the gap, or a SERVPERF
    analysis' perception (columns ``<measure>_mean`` and ``best_<measure>``)."""
    m = moments[(moments["wave"] == wave) & (moments["level"] == "dimension")
                & (moments["measure"] == measure)]
    mean = f"{measure}_mean"
    sums = [c for c in SUMS + WEIGHTED_SUMS if c in m.columns]
    whole = m[m["segment"] == ALL].set_index("id")[sums]
    units = m[(m["segment"] == column) & (m["n"] >= config.min_cell)]
    rows = []
    parts = dict(list(units.groupby("id", sort=False)))
    for dim in [d for d in dimensions if d in parts] if dimensions else parts:
        part = parts[dim].reset_index(drop=True)
        rest = pd.DataFrame(whole.loc[[dim] * len(part)].to_numpy() - part[sums].to_numpy(),
                            columns=sums)
        mine, others = describe(part[sums]), describe(rest)
        t, df, p = welch_se(rest["n"], others["mean"], others["se"], part["n"], mine["mean"],
                            mine["se"])
        frame = pd.DataFrame({"dimension": dim, "unit": part["value"], "n": part["n"],
                              mean: mine["mean"], "average_others": others["mean"],
                              "difference": mine["mean"] - others["mean"], "t": t, "df": df,
                              "p_value": p})
        frame["p_adjusted"] = adjust_pvalues(frame["p_value"].to_numpy(), "holm")
        frame["rank"] = frame[mean].rank(ascending=False, method="min").astype(int)
        best = frame.loc[frame[mean].idxmax()]
        frame["units"] = len(frame)
        frame["best_unit"], frame[f"best_{measure}"] = best["unit"], best[mean]
        frame["below_peers"] = (frame["p_adjusted"] < config.significance) & (
            frame["difference"] <= -config.peer_min_difference)
        rows.append(frame.sort_values(["rank", "unit"], kind="stable"))
    if not rows:
        return pd.DataFrame()
    return pd.concat(rows, ignore_index=True).assign(column=column)


def load_peers(path: str | Path, instrument: Instrument) -> tuple[dict[str, str],
                                                                  dict[str, float]]:
    """An external benchmark: its ``name`` (a text, or ``{ en = "…", zh-CN = "…" }``) and a
    ``[gap]`` table of peer gaps by dimension."""
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise InstrumentError("must be a finite number", file=path, key=f"gap.{dim}")
    name = parse_text(doc.get("name", path.stem), path, "name")
    given = next(iter(name.values()))  # a name in one language serves the other
    return {lang: name.get(lang, given) for lang in LANGUAGES}, {
        k: float(v) for k, v in doc["gap"].items()}


def compare_with_peers(dimensions: pd.DataFrame, name: dict[str, str], peers: dict[str, float],
                       config: AnalysisConfig) -> pd.DataFrame:
    """Our current gaps against external peer gaps: t-test of our mean against each value."""
    rows = []
    for _, row in dimensions.iterrows():
        if row["dimension"] not in peers:
            continue
        peer = peers[row["dimension"]]
        test = paired_t(np.array([row["gap_mean"] - peer]), np.array([row["gap_sd"]]),
                        np.array([row["n"]]), np.array([row["gap_se"]]))
        difference = row["gap_mean"] - peer
        p = float(test["p_value"][0])
        rows.append({"dimension": row["dimension"], "peer": name.get("en") or
                     next(iter(name.values())), "peer_label": name, "peer_gap": peer,
                     "gap_mean": row["gap_mean"], "difference": difference, "p_value": p,
                     "below_peers": bool(p < config.significance
                                         and difference <= -config.peer_min_difference)})
    return pd.DataFrame(rows)
