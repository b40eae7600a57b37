"""What validating one table gives: its valid respondents, its quarantine, its accounting."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..models import DataQuality
from ..responses import Responses


@dataclass
class Checked:
    """One table validated.

    Attributes
    ----------
    responses
        The valid respondents, reverse-scored, missing answers NaN.
    quarantine
        Every rejected row (:mod:`.quarantine`).
    quality
        The table's row accounting.
    keys
        For the duplicate rule across tables (:mod:`.duplicates`): the key hash of every
        row that passed the row-level checks (valid, or set aside as a duplicate within the
        table), and its position in the table.
    provenance
        Long layout: respondent, source_row and item of each valid input row.
    columns
        Each file's own column names (its quarantine file shows its rows under them).
    detail
        The rows asked about for the duplicate rule across tables
        (:func:`.duplicates.describe`).
    """

    responses: Responses
    quarantine: pd.DataFrame
    quality: DataQuality
    keys: tuple[np.ndarray, np.ndarray] | None = None
    provenance: pd.DataFrame | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)
    detail: pd.DataFrame | None = None

    def quarantine_of(self, file: str) -> pd.DataFrame:
        """The rejected rows of one input file, with that file's columns only."""
        from .quarantine import quarantine_of

        return quarantine_of(self.quarantine, self.columns, file)
