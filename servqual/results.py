"""The one results object of a run: computed once, viewed as JSON and as the HTML report.

Tables are tidy DataFrames whose column names are the JSON contract's field names
(contract §4). ``to_json()`` selects and orders those fields; the report reads the same
object, so the two views cannot disagree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import AnalysisConfig
from .instrument import Instrument
from .validate import DataQuality

SCHEMA_VERSION = 1

ITEM_FIELDS = ["item", "dimension", "n", "expectation_mean", "perception_mean", "gap_mean",
               "gap_sd", "gap_ci95_low", "gap_ci95_high", "t", "df", "p_value", "p_adjusted",
               "dz"]
DIMENSION_FIELDS = ["dimension", "n", "expectation_mean", "perception_mean", "gap_mean",
                    "gap_sd", "gap_ci95_low", "gap_ci95_high", "t", "df", "p_value",
                    "p_adjusted", "dz"]
BY_WAVE_FIELDS = ["wave", "dimension", "n", "gap_mean", "perception_mean", "expectation_mean",
                  "gap_sd", "gap_ci95_low", "gap_ci95_high"]
BY_WAVE_ITEM_FIELDS = ["wave", "item", "dimension", "n", "gap_mean", "perception_mean",
                       "expectation_mean"]


@dataclass
class Results:
    """Everything a run found. DataFrame columns follow the JSON field names."""

    instrument: Instrument
    config: AnalysisConfig
    waves: list[str]
    current_wave: str
    quality: DataQuality
    items: pd.DataFrame  # current wave, whole sample: one row per item
    dimensions: pd.DataFrame  # current wave, whole sample: one row per dimension
    by_wave: pd.DataFrame  # every wave, whole sample: one row per wave x dimension
    by_wave_items: pd.DataFrame  # every wave, whole sample: one row per wave x item
    overall: dict[str, float | None]
    moments: pd.DataFrame = field(repr=False)  # sufficient statistics behind all of the above
    inputs: list[str] = field(default_factory=list)
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "instrument": self.instrument.name,
            "waves": list(self.waves),
            "current_wave": self.current_wave,
            "data_quality": self.quality.as_dict(),
            "overall": {k: clean(v) for k, v in self.overall.items()},
            "dimensions": records(self.dimensions, DIMENSION_FIELDS),
            "items": records(self.items, ITEM_FIELDS),
            "by_wave": records(self.by_wave, BY_WAVE_FIELDS),
            "by_wave_items": records(self.by_wave_items, BY_WAVE_ITEM_FIELDS),
            "thresholds": self.config.as_dict(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, allow_nan=False)


def clean(value: Any) -> Any:
    """A JSON-safe scalar: numpy types to Python, NaN and ±inf to None."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def records(frame: pd.DataFrame, fields: list[str]) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts with the given fields (those present), in that order."""
    present = [f for f in fields if f in frame.columns]
    return [{f: clean(v) for f, v in zip(present, row)}
            for row in frame[present].itertuples(index=False, name=None)]
