"""The raw table every reader produces, and the header conventions all readers share."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..instrument import Instrument

# Text that means "no value" in exports (pyarrow's defaults plus Excel's and SPSS's habits). The
# readers keep it as written; an answer, wave or id so written is missing, a segment value
# is not (servqual.validation.cells.without_null_tokens).
NULL_TOKENS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
               "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "None"]


@dataclass(frozen=True)
class Platform:
    """A survey platform recognised from an export's header, and its 'no answer' codes.

    Attributes
    ----------
    name
        ``"qualtrics"`` or ``"wenjuanxing"``.
    missing_codes
        Placeholder values the platform writes in answer columns instead of an answer; they
        lie outside every answer scale and are treated as missing answers.
    """

    name: str
    missing_codes: tuple[float, ...]


QUALTRICS = Platform("qualtrics", (-99.0,))  # "seen but unanswered", when recoded as -99
WENJUANXING = Platform("wenjuanxing", (-2.0, -3.0))  # 问卷星: not shown (-2), skipped (-3)
# Columns every 问卷星 export starts with (submission time, time taken).
_WENJUANXING_COLUMNS = {"提交答卷时间", "所用时间"}


@dataclass
class RawTable:
    """One file's records, values as read.

    Attributes
    ----------
    path
        The file read.
    frame
        One row per record that could be split into fields; columns named by the header (see
        :func:`name_columns`), values as read (numbers or text).
    source_rows
        For each row of ``frame``, its row number as a spreadsheet shows it (1-based, header
        rows count; for SPSS files the case number), so an analyst can find it.
    unparseable
        Records that could not be split into the header's fields: a frame with ``source_row``
        and ``text`` (the raw line). They are quarantined, never dropped.
    encoding
        The text encoding used (``None`` for binary formats).
    kind
        What the file holds: ``"csv"``, ``"xlsx"``, ``"xls"`` or ``"sav"``.
    header_row
        The spreadsheet row that names the columns (1 unless blank rows come first);
        ``None`` when the format has no header row (SPSS).
    header
        The header rows after the one naming the columns (question texts, import ids), as
        text, in the columns of ``frame``: the data must not start there (validation checks
        that the header fits ``header_rows``).
    platform
        The survey platform recognised from the header, if any; its placeholder codes are
        missing answers.
    continued
        The table is a later part of a file read in parts (row groups of a Parquet file):
        the file's header was checked with its first part.
    """

    path: Path
    frame: pd.DataFrame
    source_rows: np.ndarray
    unparseable: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"source_row": pd.Series([], dtype="int64"),
                                              "text": pd.Series([], dtype="object")}))
    encoding: str | None = None
    kind: str = "csv"
    header_row: int | None = 1
    header: pd.DataFrame = field(default_factory=pd.DataFrame)
    platform: Platform | None = None
    continued: bool = False

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.unparseable)

    @property
    def missing_codes(self) -> tuple[float, ...]:
        return self.platform.missing_codes if self.platform else ()


def match_key(name: str) -> str:
    """How a column name is compared with the instrument's: NFKC, case and runs of whitespace
    (line breaks in long question texts included) do not matter."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def label_columns(instrument: Instrument) -> list[str]:
    """Columns read as text whatever they look like: ids keep leading zeros, codes stay codes."""
    s = instrument.settings
    columns = [c for c in (s.respondent_id, s.wave, *s.segments) if c]
    if instrument.long is not None:
        columns.append(instrument.long.item)
    return columns


def header_text(value) -> str:
    """A header cell as text: whole numbers without '.0', blanks as ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def name_columns(header: Sequence[Sequence[object]], names_row: int = 1
                 ) -> tuple[list[str], list[list[str]]]:
    """Column names from the header rows, and the other header rows as text, in order.

    Header row ``names_row`` (1-based; the instrument's, default the first) names the
    columns. A blank cell in it (the continuation of a merged cell, as SurveyMonkey writes a
    matrix question) takes the first non-blank cell of the other header rows, in order. Rows
    shorter than the widest are padded with blanks.
    """
    width = max((len(r) for r in header), default=0)
    rows = [[header_text(v) for v in r] + [""] * (width - len(r)) for r in header]
    at = min(max(names_row, 1), len(rows)) - 1 if rows else 0
    ordered = rows[at:at + 1] + rows[:at] + rows[at + 1:]
    names = [next((r[j] for r in ordered if r[j]), "") for j in range(width)]
    return names, rows[:at] + rows[at + 1:]


def detect_platform(names: Sequence[str], rest: Sequence[Sequence[str]]) -> Platform | None:
    """The survey platform an export comes from, when its header says so unmistakably.

    Qualtrics writes a header row of ``{"ImportId": …}`` cells; 问卷星 (Wenjuanxing) exports
    have the columns 提交答卷时间 and 所用时间.
    """
    if _WENJUANXING_COLUMNS <= set(names):
        return WENJUANXING
    for row in rest:
        if any(is_import_id(cell) for cell in row):
            return QUALTRICS
    return None


def is_import_id(cell: str) -> bool:
    """A Qualtrics ImportId cell: ``{"ImportId":"QID1"}``, or with single quotes as some
    exports (and spreadsheets re-saving them) write it, ``{'ImportId': 'QID1'}``."""
    cell = cell.strip()
    if not (cell.startswith("{") and "ImportId" in cell):
        return False
    try:
        value = json.loads(cell)
    except (ValueError, TypeError):
        import ast

        try:
            value = ast.literal_eval(cell)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return False
    return isinstance(value, dict) and "ImportId" in value


def header_frame(rest: list[list[str]], columns: Sequence[str]) -> pd.DataFrame:
    """The header rows after the first as a text frame over ``columns``."""
    return pd.DataFrame(rest, columns=list(columns), dtype="string") if rest else pd.DataFrame(
        columns=list(columns), dtype="string")
