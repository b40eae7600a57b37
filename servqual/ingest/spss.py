"""SPSS data files (.sav, .zsav): pyreadstat.

Values are the numeric codes, not their labels. Values the file declares user-missing (a
"don't know" code such as 99) are read as missing, like SPSS itself treats them. Rows are
numbered as SPSS numbers cases (1 = the first case); there are no header rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyreadstat

from ..errors import DataError
from ..instrument import Instrument
from .table import RawTable


def read_spss_table(path: Path, instrument: Instrument) -> RawTable:
    """Read an SPSS data file (see the module docstring)."""
    try:
        frame, _ = pyreadstat.read_sav(str(path), user_missing=False, apply_value_formats=False)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as err:
        raise DataError(f"cannot be read as an SPSS data file (damaged or truncated?): {err}",
                        file=path) from err
    return RawTable(path=path, frame=frame,
                    source_rows=np.arange(1, len(frame) + 1, dtype=np.int64), kind="sav",
                    header_row=None)
