"""A survey file as ``servqual init`` sees it: its layout (encoding, title and header rows,
platform) and each column's name, header texts and values.

The file is read by the same readers as a run (:func:`servqual.ingest.read_table`) with a
probe instrument, first with one header row; the rows that follow decide how many header
rows there are: a Qualtrics export's ImportId row (3), SurveyMonkey's "Response" row (2),
Qualtrics Legacy's ``V1 … / ResponseID …`` rows (2, named by the second), or leading rows
whose cells are text where the rows below hold numbers. A first row with one filled cell
above a wider header is a title row (``skip_rows``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..celltext import is_number
from ..ingest import RawTable, read_table
from ..ingest.table import header_text, is_import_id
from ..instrument import Instrument, parse_instrument
from ..validation.cells import numeric_column

_LOOK = 6  # leading data rows looked at for more header rows


@dataclass
class Column:
    """One column of the survey: where it is, what names it, what it holds."""

    position: int  # 0-based
    name: str
    header: list[str]  # the other header rows' cells (question texts)
    values: pd.Series

    def __post_init__(self) -> None:
        numbers, text = numeric_column(self.values)
        self.numbers = numbers[~np.isnan(numbers) & ~text]
        texts = self.values[text].astype("string").str.strip()
        self.texts = texts.dropna().tolist()

    @property
    def filled(self) -> int:
        return len(self.numbers) + len(self.texts)

    @property
    def described(self) -> str:
        """The column's name and header texts, as one text."""
        return " ".join([self.name, *[h for h in self.header if h]]).strip()


@dataclass
class Survey:
    path: Path
    kind: str
    encoding: str | None
    platform: str  # "" when not recognised
    header_rows: int
    names_row: int
    skip_rows: int
    columns: list[Column] = field(default_factory=list)
    rows: int = 0


def probe(header_rows: int = 1, names_row: int = 1, skip_rows: int = 0) -> Instrument:
    """An instrument that only says how to read the header (its item is never looked up)."""
    return parse_instrument({
        "instrument": {"name": "probe", "scale_min": 1, "scale_max": 5,
                       "header_rows": header_rows, "names_row": names_row,
                       "skip_rows": skip_rows},
        "dimensions": {"d": {}},
        "items": [{"id": "x", "dimension": "d", "expectation": "\x00e", "perception": "\x00p"}],
    })


def read_survey(path: Path) -> Survey:
    """The survey file read with the header rows its first rows call for."""
    skip = 0
    raw = read_table(path, probe())
    for _ in range(3):  # title rows: one filled cell above a wider header
        names = [str(c) for c in raw.frame.columns]
        if len(names) > 2 and sum(bool(n.strip()) for n in names) == 1 and len(raw.frame):
            skip += 1
            raw = read_table(path, probe(skip_rows=skip))
        else:
            break
    header_rows, names_row, platform = _header_rows(raw)
    if header_rows > 1:
        raw = read_table(path, probe(header_rows, names_row, skip))
    platform = platform or _platform(raw)
    return Survey(path=path, kind=raw.kind, encoding=raw.encoding, platform=platform,
                  header_rows=header_rows, names_row=names_row, skip_rows=skip,
                  columns=_columns(raw), rows=len(raw.frame))


def _cells(frame: pd.DataFrame, rows: int) -> list[list[str]]:
    return [[header_text(v) if not (isinstance(v, float) and math.isnan(v)) and v is not None
             and v is not pd.NA else "" for v in frame.iloc[r].tolist()]
            for r in range(min(rows, len(frame)))]


def _header_rows(raw: RawTable) -> tuple[int, int, str]:
    """How many header rows the file has, which names the columns, and the platform they
    show (""), from the rows that follow the first."""
    names = [str(c) for c in raw.frame.columns]
    head = _cells(raw.frame, _LOOK)
    if len(head) >= 2 and any(is_import_id(c) for c in head[1]):
        return 3, 1, "qualtrics"
    if head and names[:1] == ["V1"] and head[0][:1] == ["ResponseID"]:
        return 2, 2, "qualtrics"  # Qualtrics Legacy: codes in row 1, ResponseID in row 2
    if head and any(c in ("Response", "Open-Ended Response") for c in head[0]):
        return 2, 1, "surveymonkey"
    numeric = [is_number(c) for c in head[-1]] if head else []
    extra = 0
    for row in head[:-1]:  # leading rows of text where the last row looked at has numbers
        columns = [j for j, n in enumerate(numeric) if n]
        if columns and all(row[j] and not is_number(row[j]) for j in columns):
            extra += 1
        else:
            break
    return 1 + extra, 1, ""


def _platform(raw: RawTable) -> str:
    names = {str(c).strip().casefold() for c in raw.frame.columns}
    if raw.platform is not None:
        return raw.platform.name
    if {"submitdate", "lastpage", "startlanguage"} <= names:
        return "limesurvey"
    if {"respondent id", "collector id"} <= names:
        return "surveymonkey"
    first = str(raw.frame.columns[0]).strip().casefold() if len(raw.frame.columns) else ""
    if first in ("timestamp", "时间戳记", "時間戳記"):
        return "google_forms"
    return ""


def _columns(raw: RawTable) -> list[Column]:
    header = raw.header
    out = []
    for j, name in enumerate(raw.frame.columns):
        texts = [str(v) for v in header.iloc[:, j].fillna("").tolist()] if len(header) else []
        texts = [t for t in texts if not is_import_id(t)]  # Qualtrics' ids are no text
        out.append(Column(position=j, name=str(name), header=texts,
                          values=raw.frame.iloc[:, j]))
    return out
