"""Complaint analysis (客户投诉分析): categories, the complaints file, rates and trends.

Complaint categories map to dimensions; complaints are counted per wave and dimension, as
rates per 1,000 valid respondents, and per dimension the trend and a test of a higher rate
than in the previous wave say whether complaints point at that dimension this wave.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..celltext import quoted
from ..config import AnalysisConfig, unknown_key_message
from ..errors import DataError, InstrumentError
from ..files import read_bytes, read_toml
from ..ingest.layout import sniff_delimiter
from ..instrument import Instrument
from ..stats.probability import binomial_at_least
from ..models import RISING
from ..stats.trends import classify
from ..waves import parse_wave, time_axis


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
