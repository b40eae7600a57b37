"""Excel workbooks (.xlsx, .xlsm, .xls): pandas with the calamine engine.

The instrument's ``sheet`` names the worksheet; without it, the first sheet holding the
instrument's columns (an instruction sheet often comes first), else the first. Rows are numbered as
Excel numbers them; blank rows above the header are skipped, blank rows at the end of the
used range are not records, a blank row between records is one.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd
from python_calamine import CalamineError

from ..errors import DataError
from ..instrument import Instrument
from .table import (RawTable, detect_platform, header_frame, header_text,
                    match_key, name_columns)


def read_excel_table(path: Path, instrument: Instrument) -> RawTable:
    """Read the instrument's sheet of a workbook (see the module docstring)."""
    settings = instrument.settings
    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            sheet = _sheet(book.sheet_names, settings.sheet, path)
            if not settings.sheet and len(book.sheet_names) > 1:
                sheet = _holding_sheet(book, instrument) or sheet
            grid = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object,
                                 keep_default_na=False, na_values=[""])
    except (CalamineError, ValueError, OSError) as err:
        raise DataError(f"cannot be read as an Excel workbook (damaged or truncated?): {err}",
                        file=path) from err
    blank = grid.isna().all(axis=1).to_numpy()
    if blank.all():
        raise DataError(f"sheet {sheet!r} is empty", file=path)
    top = int(np.argmin(blank))  # blank rows above the header
    if settings.skip_rows:  # title rows, then any blank rows, above the header
        top += settings.skip_rows
        while top < len(blank) and blank[top]:
            top += 1
    end = len(blank) - int(np.argmin(blank[::-1]))  # blank rows at the end are no records
    body_start = top + settings.header_rows
    if body_start > end:
        raise DataError(f"sheet {sheet!r} has {end - top} row(s), fewer than header_rows = "
                        f"{settings.header_rows} header rows", file=path,
                        key="instrument.header_rows")
    names, rest = name_columns(grid.iloc[top:body_start].to_numpy().tolist(),
                               settings.names_row)
    frame = grid.iloc[body_start:end].set_axis(names, axis=1).reset_index(drop=True)
    frame = _as_read(frame)
    return RawTable(path=path, frame=frame,
                    source_rows=np.arange(body_start + 1, end + 1, dtype=np.int64),
                    kind=path.suffix.lower().lstrip("."), header_row=top + 1,
                    header=header_frame(rest, names), platform=detect_platform(names, rest))


def _sheet(names: list[str], wanted: str, path: Path) -> str:
    if not names:
        raise DataError("the workbook has no worksheet", file=path)
    if not wanted:
        return names[0]
    if wanted in names:
        return wanted
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.5)
    hint = f"closest: {close[0]!r}; " if close else ""
    raise DataError(f"the workbook has no sheet {wanted!r} ({hint}sheets: "
                    f"{', '.join(map(repr, names))})", file=path, key="instrument.sheet")


_LOOK_ROWS = 30  # rows of a sheet looked at for the header when choosing the sheet


def _holding_sheet(book: pd.ExcelFile, instrument: Instrument) -> str | None:
    """The first sheet whose top rows hold every column the instrument names (an
    instruction or cover sheet often comes first), or None."""
    wanted = {match_key(c) for c, _ in instrument.required_columns()
              if c not in instrument.column_positions}
    if not wanted:
        return None
    for name in book.sheet_names:
        top = pd.read_excel(book, sheet_name=name, header=None, dtype=object, nrows=_LOOK_ROWS)
        seen = {match_key(header_text(v)) for v in top.to_numpy().ravel()}
        if wanted <= seen:
            return name
    return None


def _as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells typed as Excel holds them: numbers as numbers, text as text, dates as the ISO
    text a reader sees (a wave column of dates gives labels such as 2026-07-01)."""
    frame = frame.infer_objects()
    for column in range(frame.shape[1]):
        series = frame.iloc[:, column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            midnight = (series.dropna() == series.dropna().dt.normalize()).all()
            text = series.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
            frame.isetitem(column, text.astype("string"))
    return frame
