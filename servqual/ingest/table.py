"""The raw table every reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class RawTable:
    """One file's records, values as read.

    Attributes
    ----------
    path
        The file read.
    frame
        One row per record that could be split into fields; columns named as in the file's
        header row (surrounding whitespace removed), values as read (numbers or text).
    source_rows
        For each row of ``frame``, its row number in the file as a spreadsheet shows it
        (1-based; header rows count), so an analyst can find it.
    unparseable
        Records that could not be split into the header's fields: a frame with ``source_row``
        and ``text`` (the raw line). They are quarantined, never dropped.
    encoding
        The text encoding used (``None`` for binary formats).
    """

    path: Path
    frame: pd.DataFrame
    source_rows: np.ndarray
    unparseable: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"source_row": pd.Series([], dtype="int64"),
                                              "text": pd.Series([], dtype="object")}))
    encoding: str | None = None

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.unparseable)
