"""The run: ingest → validate → compute, into one :class:`~servqual.results.Results`.

The CLI and the tests call :func:`analyse`; rendering and writing are separate steps, so a
run that fails has produced nothing on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, UsageError
from .ingest import RawTable, read_table
from .instrument import Instrument
from .results import Results
from .stats import ALL, adjust_p, compute_moments, gap_table, score_blocks
from .validate import Validated, validate
from .waves import sort_waves


def unique_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The input files, each once (the same file named twice would double-count it)."""
    seen: dict[Path, Path] = {}
    for p in paths:
        path = Path(p)
        key = path.resolve() if path.exists() else path
        if key in seen:
            raise UsageError(f"{path} is given more than once")
        seen[key] = path
    if not seen:
        raise UsageError("no survey files given")
    return list(seen.values())


def read_all(paths: list[Path], instrument: Instrument) -> Iterator[RawTable]:
    for path in paths:
        yield read_table(path, instrument)


def ingest_and_validate(paths: Iterable[str | Path], instrument: Instrument) -> Validated:
    return validate(read_all(unique_paths(paths), instrument), instrument)


def analyse(paths: Iterable[str | Path], instrument: Instrument) -> tuple[Results, Validated]:
    """Read, validate and compute everything for a set of survey files."""
    paths = unique_paths(paths)
    validated = validate(read_all(paths, instrument), instrument)
    results = compute(validated, instrument, inputs=[str(p) for p in paths])
    return results, validated


def compute(validated: Validated, instrument: Instrument, inputs: list[str] | None = None
            ) -> Results:
    responses = validated.responses
    if len(responses) == 0:
        raise DataError("no valid responses to analyse: every row was quarantined "
                        f"({_reasons(validated)})")
    config = instrument.analysis
    waves = sort_waves(responses.meta["wave"].astype(str))
    current = waves[-1]
    moments = compute_moments(responses, score_blocks(responses, instrument))

    items = _ordered(gap_table(moments, "item"), instrument.item_ids, waves)
    items = items.rename(columns={"id": "item"})
    items.insert(items.columns.get_loc("item") + 1, "dimension",
                 items["item"].map(instrument.dimension_of_item))
    items["p_adjusted"] = adjust_p(items["p_value"], [items[c] for c in ("wave", "segment", "value")],
                                   config.p_adjust)
    dimensions = _ordered(gap_table(moments, "dimension"), instrument.dimension_keys, waves)
    dimensions = dimensions.rename(columns={"id": "dimension"})
    dimensions["p_adjusted"] = adjust_p(dimensions["p_value"],
                                        [dimensions[c] for c in ("wave", "segment", "value")],
                                        config.p_adjust)

    whole = (items["segment"] == ALL)
    current_items = items[whole & (items["wave"] == current)].reset_index(drop=True)
    dims_whole = dimensions[dimensions["segment"] == ALL].reset_index(drop=True)
    current_dims = dims_whole[dims_whole["wave"] == current].reset_index(drop=True)

    overall = {"servqual_unweighted": _mean_or_none(current_dims["gap_mean"])}
    return Results(
        instrument=instrument, config=config, waves=waves, current_wave=current,
        quality=validated.quality, items=current_items, dimensions=current_dims,
        by_wave=dims_whole, by_wave_items=items[whole].reset_index(drop=True), overall=overall,
        moments=moments, inputs=inputs or [],
    )


def _ordered(table: pd.DataFrame, ids, waves: list[str]) -> pd.DataFrame:
    """Rows in instrument order within wave order (whole sample first, then segments)."""
    id_rank = {k: n for n, k in enumerate(ids)}
    wave_rank = {w: n for n, w in enumerate(waves)}
    order = np.lexsort((table["id"].map(id_rank).to_numpy(),
                        table["value"].astype(str).to_numpy(),
                        table["segment"].astype(str).to_numpy(),
                        table["wave"].map(wave_rank).to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _mean_or_none(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _reasons(validated: Validated) -> str:
    reasons = {k: v for k, v in validated.quality.quarantine_reasons.items() if v}
    return ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "no rows"
